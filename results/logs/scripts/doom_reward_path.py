"""Do My Way Home's rewards reach a compiled program through the task's
host-callback step and action lookup? A jitted scan of random navigation
actions in `--envs` environments for `--steps` steps; prints the rewards
seen and the episodes finished.

Usage: python results/logs/scripts/doom_reward_path.py --envs=32 --steps=1100
"""
import argparse

import benchmark  # noqa: F401  (sets OPENBLAS_NUM_THREADS before numpy)
import envpool
import jax
import numpy as np

from agents import impala
from tasks import envpool_envs
from tasks.doom import NAVIGATION_ACTIONS

parser = argparse.ArgumentParser()
parser.add_argument("--envs", type=int, default=32)
parser.add_argument("--steps", type=int, default=1100)
args = parser.parse_args()
n = args.envs
path = envpool_envs.scenario_file(envpool, "MyWayHome-v1",
                                  {"screen_resolution": "RES_160X120"})
pool = envpool_envs.make_pool(envpool, "probe", "MyWayHome-v1", n, 0, 2,
                              {"use_combined_action": True, "cfg_path": path})
handle, step = envpool_envs.device_step(pool)
num_actions, step = envpool_envs.restrict_actions(step, 18, NAVIGATION_ACTIONS)


def one_step(carry, _):
  pool_handle, key = carry
  key, action_key = jax.random.split(key)
  actions = jax.random.randint(action_key, (n,), 0, num_actions)
  pool_handle, _, reward, done = impala.step_pool(step, pool_handle, actions)
  return (pool_handle, key), (reward, done)


run = jax.jit(lambda h: jax.lax.scan(one_step, (h, jax.random.key(0)),
                                     length=args.steps)[1])
rewards, dones = map(np.asarray, run(handle))
print(f"{n} environments x {args.steps} steps: {(rewards > 0).sum()} rewards "
      f"(values {np.unique(rewards).tolist()}) in {dones.sum()} finished "
      "episodes")
