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
training code. `run` is vmapped over seeds by `make_batched_completion`.
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
  """

  performance: jax.Array
  diverged: jax.Array


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


def make_completion(task: spec.Task,
                    eval_updates: tuple[int, ...] | None = None) -> Callable:
  """Builds the pure completion run of a task.

  Args:
    task: the task; its recipe gives the optimiser and schedule.
    eval_updates: evaluation points (default: the recipe's full schedule).

  Returns:
    `run(key, original, withheld, procedure, stop_performance, data)
    -> (Curve, final_variables)` where `withheld` is a boolean mask with the
    variables' structure, `procedure` a `ProcedureSettings` and
    `stop_performance` the raw performance at which training may stop
    (`inf` never stops).
  """
  recipe = task.recipe
  eval_updates = recipe.eval_updates if eval_updates is None else eval_updates
  segment_lengths = jnp.asarray(np.diff(eval_updates), jnp.int32)

  def run(key, original, withheld, procedure, stop_performance, data):
    init_key, learn_key, eval_key = jax.random.split(key, 3)
    fresh = task.init(init_key)
    fresh = jax.tree.map(
        lambda f: jnp.where(procedure.reinit_zeros, jnp.zeros_like(f), f),
        fresh)
    start = jax.tree.map(jnp.where, withheld, fresh, original)
    trainable = procedures.trainable_mask(withheld, procedure)
    tx = procedures.optimizer(recipe, procedure, trainable["params"])
    learner = task.make_learner(tx, trainable)

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
    curve = Curve(jnp.concatenate([first[None], rest]), diverged)
    return curve, learner.variables(state)

  return run


def make_batched_completion(task: spec.Task,
                            eval_updates: tuple[int, ...] | None = None):
  """`run` vmapped over seeds and jitted: one compiled program per shape.

  Returns:
    `runs(keys, originals, withheld, procedure, stop_performances, data)
    -> Curve` with a leading seed axis on keys, originals, stops and the
    output. The mask and procedure are shared by the batch, but they are
    traced arguments, so every split and procedure reuses the program.
  """
  run = make_completion(task, eval_updates)

  def curves_only(*args):
    return run(*args)[0]

  return jax.jit(jax.vmap(curves_only, in_axes=(0, 0, None, None, 0, None)))


def everything_withheld(variables: Any) -> Any:
  return jax.tree.map(lambda v: jnp.ones(jnp.shape(v), bool), variables)


def make_scratch_training(task: spec.Task):
  """Trains originals from scratch, several seeds at once.

  Returns:
    `train(keys) -> (Curve, variables)` with a leading seed axis: the run of
    procedure T2 with every variable withheld and no early stop.
  """
  run = make_completion(task)
  procedure = procedures.settings("T2", task.recipe)

  def train_one(key, data):
    shapes = jax.eval_shape(task.init, key)
    placeholder = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    return run(key, placeholder, everything_withheld(placeholder), procedure,
               jnp.inf, data)

  batched = jax.jit(jax.vmap(train_one, in_axes=(0, None)))
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
