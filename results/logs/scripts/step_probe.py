"""Where a vmapped supervised sweep spends an update: the task's own step,
timed with parts of it swapped out.

    python results/logs/scripts/step_probe.py --task=fashion_mnist/mlp --runs=64

Builds `--runs` runs of the task's learner (every parameter trainable, the
recipe's optimiser), vmapped, and times `--updates` updates in one
`fori_loop` (best of 3, after a warm-up) for:
- `as_is` (printed "as is"): the task's step;
- `sgd`: the same with plain SGD instead of the recipe's optimiser (what
  the optimiser's state costs);
- `optimizer`: the recipe's optimiser alone on every run's parameters, and
  the memory bandwidth that makes.
Prints milliseconds per update and examples per second. With
`--trace_dir`, one more call of `as is` runs under `jax.profiler.trace`
(read it with xprof's `hlo_stats` tool).
"""

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, os.getcwd())
from tasks import registry  # pylint: disable=g-import-not-at-top


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--task", default="fashion_mnist/mlp")
  parser.add_argument("--runs", type=int, default=64)
  parser.add_argument("--updates", type=int, default=200)
  parser.add_argument("--data_dir", default=None)
  parser.add_argument("--implementation", default="")
  parser.add_argument("--trace_dir", default=None)
  parser.add_argument("--variants", default="as_is,sgd")
  args = parser.parse_args()
  implementation = dict(item.split("=") for item in
                        args.implementation.split(",") if item)
  task = registry.get_task(args.task, data_dir=args.data_dir,
                           implementation=implementation)
  recipe = task.recipe
  keys = jax.random.split(jax.random.key(0), args.runs)
  variables = jax.vmap(task.init)(keys)
  trainable = jax.tree.map(lambda x: jnp.ones(x.shape[1:], bool), variables)
  data = jax.device_put(task.data)
  print(jax.devices(), os.environ.get("XLA_FLAGS", ""), args.task,
        flush=True)

  def timed(name, tx, trace_dir=None):
    learner = task.make_learner(tx, trainable)
    states = jax.vmap(learner.init)(variables, keys)

    @jax.jit
    def run(states, data):
      return jax.lax.fori_loop(
          0, args.updates,
          lambda _, s: jax.vmap(learner.step, (0, None))(s, data)[0], states)

    best = best_seconds(run, states, data)
    if trace_dir:
      with jax.profiler.trace(trace_dir):
        jax.block_until_ready(run(states, data))
    per_update = best / args.updates
    print(f"{name}: {1e3 * per_update:.3f} ms per update, "
          f"{args.runs * recipe.batch_size / per_update:,.0f} examples/s",
          flush=True)

  variants = args.variants.split(",")
  if "as_is" in variants:
    timed("as is", recipe.optimizer(recipe.schedule), args.trace_dir)
  if "sgd" in variants:
    timed("sgd", optax.sgd(recipe.schedule))
  if "optimizer" in variants:
    optimizer_only(recipe.optimizer(recipe.schedule), variables["params"],
                   args.updates)


def best_seconds(run, *args):
  """The best of 3 timed calls of `run(*args)`, after a warm-up call."""
  jax.block_until_ready(run(*args))
  best = float("inf")
  for _ in range(3):
    started = time.perf_counter()
    jax.block_until_ready(run(*args))
    best = min(best, time.perf_counter() - started)
  return best


def optimizer_only(tx, params, updates):
  """The recipe's optimiser alone on every run's parameters (their own
  values as gradients): its memory traffic, at least 28 bytes a float32
  parameter (parameters, both moments read and written, gradients read)."""
  opt_state = jax.vmap(tx.init)(params)

  @jax.jit
  def run(params, opt_state):
    def body(_, carry):
      params, opt_state = carry
      deltas, opt_state = jax.vmap(tx.update)(params, opt_state, params)
      return optax.apply_updates(params, deltas), opt_state
    return jax.lax.fori_loop(0, updates, body, (params, opt_state))

  per_update = best_seconds(run, params, opt_state) / updates
  size = sum(x.size for x in jax.tree.leaves(params))
  print(f"optimizer only: {1e3 * per_update:.3f} ms per update, "
        f"{size:,} parameters, {28 * size / per_update / 1e9:,.0f} GB/s "
        "at 28 bytes a parameter", flush=True)


if __name__ == "__main__":
  main()
