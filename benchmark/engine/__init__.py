"""The engine: one completion run as a pure, jittable function
(`completion`), many runs in one program (`batching`), over devices
(`sharding`), within memory (`memory`), from scratch (`scratch`), host-fed
(`streaming`), compiled once (`compilation`) and timed (`timing`); keys by
name (`prng`). Knows no files and no records."""
