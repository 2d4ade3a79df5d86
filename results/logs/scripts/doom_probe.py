"""Host stepping speed of ViZDoom MyWayHome in envpool for a thread count.

    python3 -u doom_probe.py NUM_THREADS [NUM_ENVS]
"""
import sys, time
import numpy as np
import envpool
nt = int(sys.argv[1]); n = int(sys.argv[2]) if len(sys.argv) > 2 else 64
t = time.time()
pool = envpool.make("MyWayHome-v1", env_type="gymnasium", num_envs=n, batch_size=n,
                    seed=0, num_threads=nt, use_combined_action=True)
pool.reset()
print(f"threads={nt} envs={n} make+reset {time.time()-t:.1f}s", flush=True)
dt = pool.spec.action_array_spec["action"].dtype
rng = np.random.default_rng(0)
steps = 0; t = time.time()
while time.time() - t < 20:
  pool.step(rng.integers(0, pool.action_space.n, n).astype(dt)); steps += 1
el = time.time() - t
print(f"threads={nt} envs={n}: {steps} batch steps in {el:.1f}s = {steps*n/el:.0f} env steps/s = {4*steps*n/el:.0f} frames/s", flush=True)
