"""P0 of the Doom recipe: the share of the 64 evaluation episodes (fresh
pools) in which the uniform random policy reaches the vest, measured by the
task as it is built, twice (fresh pools: the same figure both times). 16
training environments instead of 128, so that the 2-core machine can build
it; the evaluation pool is the recipe's.

    python results/logs/scripts/doom_p0.py; pkill -9 -f vizdoom
"""
import time
import benchmark  # noqa: F401  (sets OPENBLAS_NUM_THREADS before numpy)
from tasks import registry
t = time.time()
task = registry.get_task("doom-mywayhome/impala:num_envs=16,num_threads=64")
print(f"P0 {task.p0:.4f} ({task.p0 * 64:.0f} of 64 episodes reach the vest), eval_pool {task.data_info['eval_pool']}; build {time.time() - t:.0f} s", flush=True)
t = time.time()
task2 = registry.get_task("doom-mywayhome/impala:num_envs=16,num_threads=64")
print(f"again in a new task: P0 {task2.p0:.4f}; {time.time() - t:.0f} s", flush=True)
