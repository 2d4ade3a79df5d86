"""Does a Doom training checkpoint's policy differ from the uniform one?

Restores a progress checkpoint of `doom-mywayhome/impala` (from
`benchmark.train --resumable`), plays one episode in each of `--episodes`
fresh My Way Home environments with the agent's stochastic policy on the
CPU, and prints the vests reached (and paid by envpool), the policy's
mean entropy against its maximum, the mean value (and its mean over the 10
steps before each vest: has the critic learned where the reward is?), how
often each action was taken, and the torso's features (mean norm, share
of non-zero units): a collapsed torso gives logits that hardly depend on the frame.

Usage (ViZDoom needs `import benchmark` first, see benchmark/__init__.py):
  python results/logs/scripts/doom_policy_entropy.py \
    --progress=workdir/doom5/originals/doom-mywayhome-impala/in-progress \
    --task=doom-mywayhome/impala --episodes=64
"""
import argparse
import os
import time

import benchmark  # noqa: F401  (sets OPENBLAS_NUM_THREADS before numpy)
import envpool
import jax
import jax.numpy as jnp
import numpy as np

from benchmark import completion, storage
from tasks import actor_critic, envpool_envs, registry

parser = argparse.ArgumentParser()
source = parser.add_mutually_exclusive_group(required=True)
source.add_argument("--progress", help="a progress folder (in-progress)")
source.add_argument("--original", help="a finished original's folder "
                    "(seed-K, with checkpoint/ and manifest.json)")
parser.add_argument("--task", default="doom-mywayhome/impala")
parser.add_argument("--episodes", type=int, default=64)
args = parser.parse_args()

task = registry.get_task(args.task)
config = registry.get_config(args.task)[2]
if args.progress:
  progress = storage.read_json(os.path.join(args.progress, "progress.json"))
  keys = jnp.stack([completion.derive_key(task.name, "original", 0)])
  staged = completion.make_staged_scratch_training(task, 1)
  like = jax.eval_shape(staged.start, keys)[0]
  states = staged.reattach(storage.restore_checkpoint(
      os.path.join(args.progress, progress["checkpoint"]), like), keys)
  variables = jax.tree.map(lambda a: a[0], staged.variables(states, keys))
  label = f"{progress['segments_done']} segments, checkpoint " \
      f"{progress['checkpoint']}"
else:
  # Restored directly: the task here (num_threads=0) is not the recipe the
  # manifest records, so `originals.load_original` would refuse it; the
  # content hash checks the restored variables instead.
  manifest = storage.read_json(os.path.join(args.original, "manifest.json"))
  variables = storage.restore_checkpoint(
      os.path.join(args.original, "checkpoint"), task.init(jax.random.key(0)))
  assert storage.content_hash(variables) == manifest["content_sha256"]
  label = f"original {args.original} (P* {manifest['performance'][-1]})"
actions = np.asarray(task.data_info["actions"])
# The task's own network settings, so a checkpoint is read as it was trained.
model = actor_critic.ActorCritic(
    len(actions), "impala", tuple(config.hidden), True,
    **envpool_envs.network_settings(task.name, config))
n = args.episodes
pool = envpool.make(
    config.env_id, env_type="gymnasium", num_envs=n, batch_size=n, seed=123,
    num_threads=2, **config.train_env,
    cfg_path=envpool_envs.scenario_file(envpool, config.env_id,
                                        dict(config.scenario)))
observation, _ = pool.reset()


@jax.jit
def policy(o):
  """`(logits, values, torso features)` in one pass."""
  (logits, value), state = model.apply(
      variables, o, capture_intermediates=lambda module, _: isinstance(
          module, actor_critic.Torso))
  return logits, value, state["intermediates"]["torso"]["__call__"][0]


rng = np.random.default_rng(0)
entropies, values, counts = [], [], np.zeros(len(actions))
# Each environment's values in its counted episode, to compare the critic's
# values just before a vest with the rest: a critic that has learned where
# the reward is values those frames near 0.5 (gamma 0.99).
traces, before_vest = [[] for _ in range(n)], []
feature_norms, nonzero = [], []
returns, active, finished, reached = np.zeros(n), np.ones(n, bool), [], []
started = time.time()
while active.any():
  logits, value, features = policy(jnp.asarray(observation))
  features = np.asarray(features)
  feature_norms.append(float(np.linalg.norm(features, axis=1).mean()))
  nonzero.append(float((features > 0).mean()))
  log_p = jax.nn.log_softmax(np.asarray(logits, np.float64))
  p = np.exp(log_p)
  entropies.append(float(-(p * log_p).sum(1).mean()))
  values.append(float(np.mean(value)))
  for i in np.nonzero(active)[0]:
    traces[i].append(float(value[i]))
  choice = np.array([rng.choice(len(actions), p=row) for row in p])
  counts += np.bincount(choice, minlength=len(actions))
  observation, reward, terminated, truncated, _ = pool.step(
      actions[choice].astype(np.float64))
  returns += reward
  for i in np.nonzero((terminated | truncated) & active)[0]:
    # An early end is the vest; envpool's reward misses most of them
    # (tasks/doom). Logs before 2026-12-02 counted rewarded vests only.
    reached.append(bool(terminated[i] and not truncated[i]))
    finished.append(returns[i])
    if reached[-1]:
      before_vest.append(np.mean(traces[i][-10:]))
    active[i] = False
print(f"{label}: vest reached in {sum(reached)} of {n} "
      f"episodes, envpool's reward paid in {sum(r > 0 for r in finished)} "
      f"(mean return {np.mean(finished):.4f}); mean policy entropy "
      f"{np.mean(entropies):.6f}"
      f" of at most {np.log(len(actions)):.6f} nats; mean value "
      f"{np.mean(values):.5f}; action shares "
      f"{np.round(counts / counts.sum(), 3).tolist()}; torso features: "
      f"mean norm {np.mean(feature_norms):.3f}, non-zero "
      f"{np.mean(nonzero):.3f}; mean value over the last 10 steps before "
      f"a vest {np.mean(before_vest) if before_vest else float('nan'):.5f}"
      f" (all steps of counted episodes "
      f"{np.mean(np.concatenate(traces)):.5f}); "
      f"{time.time() - started:.0f} s")
