"""The completion engine: one completion run as a pure, jittable function.

`make_completion(task)` does the Python-side set-up once and returns
`run(key, original, withheld, procedure, stop_performance, data)`, which

1. re-initialises the withheld part with the model's own initialisers and a
   fresh key (or zeros), keeping the original's values elsewhere;
2. trains with the procedure's optimiser inside `lax` loops: an outer
   `lax.scan` over the evaluation schedule, an inner loop of updates between
   two evaluation points;
3. evaluates on the device at every point of the schedule and stops training
   once `stop_performance` is reached (the highest alpha of the grid), or on
   divergence.

Training from scratch is the special case "withhold everything under T2"
(`train_from_scratch`), so originals and completions share every line of the
training code. `make_batched_completion` maps `run` over seeds (vmapped, or
in chunks one after another).
"""

from __future__ import annotations

import zlib
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from benchmark import procedures
from tasks import spec


class Curve(NamedTuple):
  """An evaluation curve on the schedule `eval_updates`.

  Attributes:
    performance: `[num_evals]`; NaN where not evaluated because the run had
      already stopped (target reached) or diverged.
    diverged: scalar bool, True if the loss or the performance became
      non-finite.
    warm_start_cost: scalar, what the adversary's trajectory-access warm
      start consumed before the curve's first point, in the task's cost unit
      (the frames its demonstrations took the original agent); 0 without
      trajectory access. Reported beside the curve, never added to it.
  """

  performance: jax.Array
  diverged: jax.Array
  warm_start_cost: jax.Array


def budget_schedule(recipe: spec.Recipe,
                    budget_fraction: float = 1.0) -> tuple[int, ...]:
  """The recipe's evaluation points up to `budget_fraction` of its budget.

  Raises:
    spec.InputError: a fraction outside (0, 1].
  """
  if not 0.0 < budget_fraction <= 1.0:
    raise spec.InputError(
        f"budget fraction must be in (0, 1], got {budget_fraction}")
  budget = int(round(recipe.num_updates * budget_fraction))
  points = [u for u in recipe.eval_updates if u < budget] + [budget]
  return tuple(points)


def starting_variables(task: spec.Task, init_key: jax.Array, original: Any,
                       withheld: Any, procedure) -> Any:
  """The original with its withheld part re-initialised.

  Withheld entries take the model's own initial values for `init_key` (or
  zeros when `procedure.reinit_zeros`), selected per scalar by the mask.
  """
  fresh = task.init(init_key)
  fresh = jax.tree.map(
      lambda f: jnp.where(procedure.reinit_zeros, jnp.zeros_like(f), f),
      fresh)
  return jax.tree.map(jnp.where, withheld, fresh, original)


def procedure_learner(task: spec.Task, withheld: Any,
                      procedure) -> spec.Learner:
  """The task's learner under a procedure: what trains, at which rates."""
  trainable = procedures.trainable_mask(withheld, procedure)
  tx = procedures.optimizer(task.recipe, procedure, trainable["params"])
  return task.make_learner(tx, trainable)


def zeros_like_init(task: spec.Task, key: jax.Array) -> Any:
  """Zeros with the shapes of `task.init(key)`, without running it."""
  shapes = jax.eval_shape(task.init, key)
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def check_trajectory_access(task: spec.Task, trajectory_episodes: int) -> None:
  """Raises `spec.InputError` unless the task can give `trajectory_episodes`
  episodes of its original agent (0: no trajectory access, always fine)."""
  if trajectory_episodes < 0:
    raise spec.InputError("trajectory episodes must be 0 (no access) or "
                          f"more, got {trajectory_episodes}")
  if trajectory_episodes and task.warm_start is None:
    raise spec.InputError(
        f"{task.name} offers no trajectory access: only tasks with an agent "
        "acting in an environment (RL) have trajectories to give")


def make_completion(task: spec.Task,
                    eval_updates: tuple[int, ...] | None = None,
                    trajectory_episodes: int = 0) -> Callable:
  """Builds the pure completion run of a task.

  Args:
    task: the task; its recipe gives the optimiser and schedule.
    eval_updates: evaluation points (default: the recipe's full schedule).
    trajectory_episodes: the trajectory-access adversary (DESIGN.md): it
      receives this many episodes of the original agent and warm-starts
      what it trains on them (`task.warm_start`) before retraining. 0: no
      access.

  Returns:
    `run(key, original, withheld, procedure, stop_performance, data)
    -> (Curve, final_variables)` where `withheld` is a boolean mask with the
    variables' structure, `procedure` a `ProcedureSettings` and
    `stop_performance` the raw performance at which training may stop
    (`inf` never stops).

  Raises:
    spec.InputError: trajectory access the task cannot give.
  """
  check_trajectory_access(task, trajectory_episodes)
  if eval_updates is None:
    eval_updates = task.recipe.eval_updates
  segment_lengths = jnp.asarray(np.diff(eval_updates), jnp.int32)

  def run(key, original, withheld, procedure, stop_performance, data):
    init_key, learn_key, eval_key = jax.random.split(key, 3)
    start = starting_variables(task, init_key, original, withheld, procedure)
    learner = procedure_learner(task, withheld, procedure)
    if trajectory_episodes:
      # Its own stream, so that the keys of runs without access stay as
      # they were.
      start, warm_start_cost = task.warm_start(
          start, original, procedures.trainable_mask(withheld, procedure),
          jax.random.fold_in(key, 3), data, trajectory_episodes)
    else:
      warm_start_cost = jnp.zeros(())

    def evaluate(state):
      return task.evaluate(learner.variables(state), data, eval_key)

    def update(_, carry):
      state, finite = carry
      state, loss = learner.step(state, data)
      return state, finite & jnp.isfinite(loss)

    def segment(carry, length):
      state, active, diverged = carry
      # A stopped run makes zero updates; under vmap the loop runs until every
      # member of the batch has stopped.
      state, finite = jax.lax.fori_loop(
          0, jnp.where(active, length, 0), update, (state, jnp.array(True)))
      performance = evaluate(state)
      diverging = active & ~(finite & jnp.isfinite(performance))
      reached = active & ~diverging & (performance >= stop_performance)
      recorded = jnp.where(active & ~diverging, performance, jnp.nan)
      return (state, active & ~diverging & ~reached,
              diverged | diverging), recorded

    state = learner.init(start, learn_key)
    first = evaluate(state)
    active = jnp.isfinite(first) & (first < stop_performance)
    (state, _, diverged), rest = jax.lax.scan(
        segment, (state, active, ~jnp.isfinite(first)), segment_lengths)
    curve = Curve(jnp.concatenate([first[None], rest]), diverged,
                  jnp.asarray(warm_start_cost, jnp.float32))
    return curve, learner.variables(state)

  return run


def over_runs(vmap_size: int | None) -> Callable:
  """`map_runs(one, args)`: `one` mapped over the leading axis of `args`.

  `vmap_size=None` vmaps every run together. Otherwise `lax.map` runs chunks
  of `vmap_size` vmapped runs one after another inside the same program:
  convolutions vmapped over parameters become grouped convolutions, which
  are slower than running the runs in turn on XLA:CPU and on GPUs
  (BUILD_NOTES), and runs in turn each stop early on their own.

  Raises:
    spec.InputError: `vmap_size` below 1.
  """
  if vmap_size is None:
    return lambda one, args: jax.vmap(one)(args)
  if vmap_size < 1:
    raise spec.InputError(f"vmap size must be at least 1, got {vmap_size}")
  if vmap_size == 1:
    return jax.lax.map
  return lambda one, args: jax.lax.map(one, args, batch_size=vmap_size)


def resolve_vmap_size(task: spec.Task, vmap_size: int | None) -> int | None:
  """The user's `vmap_size`, else the task's default (None: all runs)."""
  return task.default_vmap_size if vmap_size is None else vmap_size


def make_batched_completion(task: spec.Task,
                            eval_updates: tuple[int, ...] | None = None,
                            vmap_size: int | None = None,
                            trajectory_episodes: int = 0):
  """`run` over a leading run axis, jitted: one compiled program per shape.

  Masks and procedures are data with a leading run axis like the keys, so
  one program runs any mix of seeds, splits and procedures of a task (a
  sweep batches several (split, procedure) jobs this way).

  Args:
    task: the task.
    eval_updates: evaluation points (default: the recipe's full schedule).
    vmap_size: runs vmapped together; None vmaps all runs, smaller values
      run chunks in turn (see `over_runs`).
    trajectory_episodes: see `make_completion`.

  Returns:
    `runs(keys, originals, withheld, procedure, stop_performances, data)
    -> Curve`, every argument but `data` and the output with a leading run
    axis (`stack_runs` repeats one mask or procedure for every run).
  """
  run = make_completion(task, eval_updates, trajectory_episodes)
  map_runs = over_runs(vmap_size)

  def runs(keys, originals, withheld, procedure, stop_performances, data):
    def one(args):
      key, original, mask, settings, stop = args
      return run(key, original, mask, settings, stop, data)[0]
    return map_runs(one, (keys, originals, withheld, procedure,
                          stop_performances))

  return jax.jit(runs)


def stack_runs(trees: list[Any]) -> Any:
  """Pytrees with equal structure stacked along a new leading run axis."""
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def everything_withheld(variables: Any) -> Any:
  return jax.tree.map(lambda v: jnp.ones(jnp.shape(v), bool), variables)


def make_scratch_training(task: spec.Task, vmap_size: int | None = None):
  """Trains originals from scratch, several seeds in one program.

  Args:
    task: the task.
    vmap_size: seeds vmapped together (see `over_runs`; None: all).

  Returns:
    `train(keys) -> (Curve, variables)` with a leading seed axis: the run of
    procedure T2 with every variable withheld and no early stop.
  """
  run = make_completion(task)
  procedure = procedures.settings("T2", task.recipe)
  map_runs = over_runs(vmap_size)

  def train(keys, data):
    def one(key):
      placeholder = zeros_like_init(task, key)
      return run(key, placeholder, everything_withheld(placeholder),
                 procedure, jnp.inf, data)
    return map_runs(one, keys)

  batched = jax.jit(train)
  return lambda keys: batched(keys, task.data)


def derive_key(*parts: Any) -> jax.Array:
  """A PRNG key folded from readable parts, e.g. (task, hash, split, T, seed).

  The same parts give the same key on every machine; any changed part gives
  an unrelated stream.
  """
  key = jax.random.key(0)
  for part in parts:
    key = jax.random.fold_in(key, zlib.crc32(str(part).encode()) & 0x7FFFFFFF)
  return key
