"""The contract between the floors: what a task is (`spec`) and how streamed
data reaches the device (`streams`).

`tasks/` implements it, `agents/` learn through it and `benchmark/` measures
through it; it imports none of them, so every arrow points here.
"""
