"""ViZDoom (My Way Home at 160x120) env steps/s of one envpool pool of
`--envs` environments for several thread counts, random navigation actions.

Usage: python results/logs/scripts/vizdoom_threads.py --envs=32 \
  --threads=1,2,8,32 --seconds=15
"""
import argparse
import time

import benchmark  # noqa: F401  (sets OPENBLAS_NUM_THREADS before numpy)
import envpool
import numpy as np

from tasks import envpool_envs

parser = argparse.ArgumentParser()
parser.add_argument("--envs", type=int, default=32)
parser.add_argument("--threads", default="1,2,8,32")
parser.add_argument("--seconds", type=float, default=15)
args = parser.parse_args()
path = envpool_envs.scenario_file(envpool, "MyWayHome-v1",
                                  {"screen_resolution": "RES_160X120"})
n = args.envs
for threads in [int(t) for t in args.threads.split(",")]:
  pool = envpool.make("MyWayHome-v1", env_type="gymnasium", num_envs=n,
                      batch_size=n, num_threads=threads, seed=0,
                      use_combined_action=True, cfg_path=path)
  pool.reset()
  rng = np.random.default_rng(0)
  act = lambda: rng.integers(1, 6, n).astype(np.float64)
  for _ in range(20):  # Warm up.
    pool.step(act())
  started, steps = time.time(), 0
  while time.time() - started < args.seconds:
    pool.step(act())
    steps += n
  print(f"{n} environments, {threads} threads: "
        f"{steps / (time.time() - started):.0f} env steps/s", flush=True)
  pool.close()
