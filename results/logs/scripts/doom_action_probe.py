"""Random-policy success on ViZDoom My Way Home for subsets of envpool's 18
combined actions (the `doom-mywayhome/impala` action-set choice).

envpool orders its combined actions as strafe (none, right, left) x forward
(off, on) x turn (none, right, left), so index = 6*strafe + 3*forward + turn.
Usage: python results/logs/scripts/doom_action_probe.py --episodes=128
"""
import argparse
import time

import envpool
import numpy as np

SETS = {
    "all18": list(range(18)),
    "turn+forward(3)": [1, 2, 3],
    "turn,forward,forward+turn(5)": [1, 2, 3, 4, 5],
}

parser = argparse.ArgumentParser()
parser.add_argument("--episodes", type=int, default=128)
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()
rng = np.random.default_rng(0)
for name, actions in SETS.items():
  start = time.time()
  pool = envpool.make("MyWayHome-v1", env_type="gymnasium",
                      num_envs=args.episodes, num_threads=args.threads,
                      use_combined_action=True, seed=1)
  pool.reset()
  returns = np.zeros(args.episodes)
  done = np.zeros(args.episodes, bool)
  steps = 0
  while not done.all():
    a = np.asarray(actions)[rng.integers(len(actions), size=args.episodes)]
    _, r, term, trunc, _ = pool.step(a)
    returns += np.where(done, 0.0, r)
    done |= term | trunc
    steps += 1
  pool.close()
  found = returns > 0.25  # envpool pays 0.5 at the vest, 0 otherwise.
  print(f"{name:32s} mean return {returns.mean():+.4f}  vest found "
        f"{found.mean():.3f} ({found.sum()}/{args.episodes})  "
        f"{steps} steps, {time.time() - start:.0f} s", flush=True)
