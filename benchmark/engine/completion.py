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

`make_stages` cuts a run at its evaluation points, for originals trained
across processes (`benchmark.sweeps.originals`, resumable training). Many
runs in one program are `benchmark.engine.batching`'s; training from scratch
(`benchmark.engine.scratch`) is the special case "withhold everything under
T2", so originals and completions share every line of the training code.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from benchmark.science import procedures
from contract import spec


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


class RunState(NamedTuple):
  """A completion run between two program calls (at an evaluation point, or
  within a segment before a pause): what continues it.

  Attributes:
    learner: the learner's state (variables, optimiser state, environments).
    active: scalar bool, still training (neither stopped nor diverged).
    diverged: scalar bool, see `Curve`.
  """

  learner: Any
  active: jax.Array
  diverged: jax.Array


class Stages(NamedTuple):
  """A completion run cut at its evaluation points (`make_stages`).

  Attributes:
    start: `(key, original, withheld, procedure, stop_performance, data) ->
      (RunState, first_performance, warm_start_cost)`: set-up and the
      evaluation at cost 0.
    advance: `(state, segment_lengths, key, withheld, procedure,
      stop_performance, data) -> (RunState, performances)`: one training
      segment and evaluation per entry of `segment_lengths`.
    train: `(state, num_updates, key, withheld, procedure, data) ->
      RunState`: updates without an evaluation, the first part of a segment
      that `advance` finishes (a non-finite loss stops the run as diverged).
    variables: `(state, withheld, procedure) -> variables`.
    reattach: `(state, withheld, procedure) -> state`, for a state restored
      in another process (`spec.Learner.reattach`).
    evaluate: `(state, key, withheld, procedure, data) -> performance`, the
      evaluation `advance` makes at the end of a segment (for engines that
      schedule evaluations themselves, `batching.make_refilling_runs`).
  """

  start: Callable
  advance: Callable
  train: Callable
  variables: Callable
  reattach: Callable
  evaluate: Callable


def after_evaluation(state: RunState, performance: jax.Array,
                     stop_performance: jax.Array
                     ) -> tuple[RunState, jax.Array]:
  """`(state, recorded)` once an active run has been evaluated at the end of
  a segment: a non-finite performance marks it diverged, reaching
  `stop_performance` stops it, and `recorded` (what its curve reads there)
  is NaN unless it was active and finite."""
  diverging = state.active & ~jnp.isfinite(performance)
  reached = state.active & ~diverging & (performance >= stop_performance)
  recorded = jnp.where(state.active & ~diverging, performance, jnp.nan)
  return RunState(state.learner, state.active & ~diverging & ~reached,
                  state.diverged | diverging), recorded


def make_stages(task: spec.Task, trajectory_episodes: int = 0) -> Stages:
  """The completion run of `make_completion` as separable stages.

  `advance` may be called on any cut of the schedule's segment lengths: one
  call over all of them is `make_completion`'s run, several calls over
  consecutive slices give the same run with program boundaries (and checkpoints,
  `benchmark.sweeps.originals`) between them. Every stage rebuilds the learner
  and the keys from the run's arguments, so a state restored in a new process
  continues from those alone.

  Raises:
    spec.InputError: trajectory access the task cannot give.
  """
  check_trajectory_access(task, trajectory_episodes)

  def parts(key, withheld, procedure, data):
    init_key, learn_key, eval_key = jax.random.split(key, 3)
    learner = procedure_learner(task, withheld, procedure)

    def evaluate(learner_state):
      return task.evaluate(learner.variables(learner_state), data, eval_key)

    return learner, evaluate, init_key, learn_key, eval_key

  def start(key, original, withheld, procedure, stop_performance, data):
    learner, _, init_key, learn_key, eval_key = parts(key, withheld,
                                                      procedure, data)
    variables = starting_variables(task, init_key, original, withheld,
                                   procedure)
    # The curve's first point is the starting model before any warm start
    # (PROTOCOL.md): a split that removes nothing the policy needs costs 0
    # with or without trajectories.
    first = task.evaluate(variables, data, eval_key)
    if trajectory_episodes:
      # Its own stream, so that the keys of runs without access stay as
      # they were. A run that starts at its target needs no warm start.
      warmed, cost = task.warm_start(
          variables, original, procedures.trainable_mask(withheld, procedure),
          jax.random.fold_in(key, 3), data, trajectory_episodes)
      needed = jnp.isfinite(first) & (first < stop_performance)
      variables = jax.tree.map(lambda w, v: jnp.where(needed, w, v), warmed,
                               variables)
      warm_start_cost = jnp.where(needed, cost, 0.0)
    else:
      warm_start_cost = jnp.zeros(())
    learner_state = learner.init(variables, learn_key)
    state = RunState(learner_state,
                     jnp.isfinite(first) & (first < stop_performance),
                     ~jnp.isfinite(first))
    return state, first, jnp.asarray(warm_start_cost, jnp.float32)

  def train_with(learner, state, num_updates, data):
    def update(_, carry):
      learner_state, finite = carry
      learner_state, loss = learner.step(learner_state, data)
      return learner_state, finite & jnp.isfinite(loss)

    # A stopped run makes zero updates; under vmap the loop runs until every
    # member of the batch has stopped.
    learner_state, finite = jax.lax.fori_loop(
        0, jnp.where(state.active, num_updates, 0), update,
        (state.learner, jnp.array(True)))
    diverging = state.active & ~finite
    return RunState(learner_state, state.active & ~diverging,
                    state.diverged | diverging)

  def train(state, num_updates, key, withheld, procedure, data):
    learner = parts(key, withheld, procedure, data)[0]
    return train_with(learner, state, num_updates, data)

  def advance(state, segment_lengths, key, withheld, procedure,
              stop_performance, data):
    learner, evaluate, *_ = parts(key, withheld, procedure, data)

    def segment(state, length):
      state = train_with(learner, state, length, data)
      # A stopped run's curve reads NaN from here on, so it is not evaluated
      # again: runs in turn (`lax.map`, the envpool tasks) skip the
      # evaluation's episodes; under vmap the cond becomes a select and
      # every member of the batch is evaluated as before.
      skipped = jax.eval_shape(evaluate, state.learner)
      performance = jax.lax.cond(
          state.active, evaluate,
          lambda _: jnp.full(skipped.shape, jnp.nan, skipped.dtype),
          state.learner)
      return after_evaluation(state, performance, stop_performance)

    return jax.lax.scan(segment, state, segment_lengths)

  def evaluate(state, key, withheld, procedure, data):
    return parts(key, withheld, procedure, data)[1](state.learner)

  def variables(state, withheld, procedure):
    return procedure_learner(task, withheld, procedure).variables(
        state.learner)

  def reattach(state, withheld, procedure):
    learner = procedure_learner(task, withheld, procedure)
    if learner.reattach is None:
      return state
    return state._replace(learner=learner.reattach(state.learner))

  return Stages(start, advance, train, variables, reattach, evaluate)


def make_completion(task: spec.Task,
                    eval_updates: tuple[int, ...] | None = None,
                    trajectory_episodes: int = 0) -> Callable:
  """Builds the pure completion run of a task.

  Args:
    task: the task; its recipe gives the optimiser and schedule.
    eval_updates: evaluation points (default: the recipe's full schedule).
    trajectory_episodes: the trajectory-access adversary (PROTOCOL.md): it
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
  stages = make_stages(task, trajectory_episodes)
  segment_lengths = schedule_segments(
      task.recipe.eval_updates if eval_updates is None else eval_updates)

  def run(key, original, withheld, procedure, stop_performance, data):
    state, first, warm_start_cost = stages.start(
        key, original, withheld, procedure, stop_performance, data)
    state, rest = stages.advance(state, segment_lengths, key, withheld,
                                 procedure, stop_performance, data)
    curve = Curve(jnp.concatenate([first[None], rest]), state.diverged,
                  warm_start_cost)
    return curve, stages.variables(state, withheld, procedure)

  return run


def schedule_segments(eval_updates: tuple[int, ...]) -> jax.Array:
  """The number of updates between consecutive evaluation points."""
  return jnp.asarray(np.diff(eval_updates), jnp.int32)
