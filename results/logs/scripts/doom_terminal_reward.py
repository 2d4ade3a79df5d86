"""Is the vest's reward lost when the pickup ends the episode in the same step?

Random navigation actions in envpool's MyWayHome (the task's pool settings:
160x120, its 5 actions), stepped on the host. Counts the episodes that end
before the time limit (the vest: nothing else ends an episode of this map
early), how many of them envpool paid its reward (0.5, the vest's armour)
in, and on which step: the ending one or an earlier one.

    python results/logs/scripts/doom_terminal_reward.py NUM_ENVS STEPS
"""
import collections
import sys

import benchmark  # noqa: F401  (sets OPENBLAS_NUM_THREADS before numpy)
import envpool
import numpy as np

from tasks import envpool_envs
from tasks.doom import NAVIGATION_ACTIONS

n, steps = int(sys.argv[1]), int(sys.argv[2])
path = envpool_envs.scenario_file(envpool, "MyWayHome-v1",
                                  {"screen_resolution": "RES_160X120"})
pool = envpool_envs.make_pool(envpool, "probe", "MyWayHome-v1", n, 0, 2,
                              {"use_combined_action": True, "cfg_path": path})
dtype = pool.spec.action_array_spec["action"].dtype
table = np.asarray(NAVIGATION_ACTIONS)
rng = np.random.default_rng(0)
paid_at = np.full(n, -1)  # The step of the reward in each env's episode.
outcome = collections.Counter()
for t in range(steps):
  _, reward, terminated, truncated, _ = pool.step(
      table[rng.integers(0, len(table), n)].astype(dtype))
  paid_at[reward != 0] = t
  for e in np.flatnonzero(terminated | truncated):
    if terminated[e] and not truncated[e]:
      outcome["vest, " + ("no reward" if paid_at[e] < 0 else
                          f"reward {t - paid_at[e]} step(s) before the end")
              ] += 1
    else:
      outcome["time limit" + (", rewarded" if paid_at[e] >= 0 else "")] += 1
    paid_at[e] = -1
print(f"{n} envs x {steps} steps, episodes by outcome: {dict(outcome)}",
      flush=True)
