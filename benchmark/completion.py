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
in chunks one after another) and spreads them over the devices of a mesh,
of one process or several (`shard_runs`); `make_refilling_runs` keeps
early stopping's saving in such a program by handing a stopped run's slot
to the next waiting run. `make_stages` cuts a run at its
evaluation points, for originals trained across processes
(`benchmark.originals`, resumable training).
"""

from __future__ import annotations

import functools
import zlib
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import PartitionSpec as P

from benchmark import procedures, storage
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
      schedule evaluations themselves, `make_refilling_runs`).
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
  consecutive slices give the same run with program boundaries (and
  checkpoints, `benchmark.originals`) between them. Every stage rebuilds the
  learner and the keys from the run's arguments, so a state restored in a
  new process continues from those alone.

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


def on_some(fn: Callable, due: jax.Array, width: int, base: Any,
            *slot_args: Any) -> Any:
  """`fn` vmapped over the slots where `due`, `width` slots at a time.

  `slot_args` and `base` have a leading slot axis; the result is `base` with
  `fn(*args_of_slot)` put in every due slot. Slots are gathered into groups
  of `width` (the last padded and its padding dropped), so a few due slots
  cost `width` calls of `fn`, not one per slot.
  """
  num_slots = len(due)

  def round_(carry):
    due, out = carry
    index = jnp.nonzero(due, size=width, fill_value=num_slots)[0]
    gathered = jax.tree.map(lambda x: x[jnp.minimum(index, num_slots - 1)],
                            slot_args)
    values = jax.vmap(fn)(*gathered)
    out = jax.tree.map(lambda o, v: o.at[index].set(v, mode="drop"), out,
                       values)
    return due.at[index].set(False, mode="drop"), out

  return jax.lax.while_loop(lambda carry: jnp.any(carry[0]), round_,
                            (due, base))[1]


def make_refilling_runs(task: spec.Task,
                        eval_updates: tuple[int, ...] | None = None,
                        slots: int | None = None,
                        trajectory_episodes: int = 0,
                        group_width: int | None = None) -> Callable:
  """Runs over a leading run axis in `slots` vmapped slots, each slot taking
  the next waiting run as soon as its run stops: early stopping keeps its
  saving in a batched program.

  A vmapped program otherwise trains until its last run stops, so a run
  that reaches its target early keeps its slot idle. Here the program is an
  event loop: every active slot trains until the nearest evaluation point
  of any slot (one vmapped loop, the same number of updates for all), the
  slots at their point are evaluated, stopped or finished runs leave, and
  waiting runs start in the free slots. Evaluations and starts are made for
  the slots that need them only, `group_width` at a time (`on_some`), since
  runs that started at different times reach their points at different
  updates. Each run makes exactly the updates and evaluations of
  `make_completion` with its own keys, so its curve is the same up to the
  rounding differences of batching.

  Args:
    task: a task whose runs can be vmapped (`task.shardable`).
    eval_updates: evaluation points (default: the recipe's full schedule).
    slots: runs trained at once (None: all, which leaves nothing to refill).
    trajectory_episodes: see `make_completion`.
    group_width: slots evaluated or started together (None: an eighth of
      the slots, at least 1).

  Returns:
    `runs(keys, originals, withheld, procedure, stop_performances, data)
    -> Curve`, like `make_batched_completion`'s, not jitted.

  Raises:
    spec.InputError: a task whose runs cannot be vmapped, or a slot count
      or group width below 1.
  """
  if not task.shardable:
    raise spec.InputError(
        f"{task.name}: refilling slots needs runs that can be vmapped; its "
        "environments live on the host (run its runs in turn)")
  for name, value in (("slots", slots), ("group width", group_width)):
    if value is not None and value < 1:
      raise spec.InputError(f"{name} must be at least 1, got {value}")
  stages = make_stages(task, trajectory_episodes)
  lengths = np.diff(task.recipe.eval_updates if eval_updates is None
                    else eval_updates).astype(np.int32)
  num_segments = len(lengths)
  # One entry past the last segment, read by runs that just finished.
  segment_length = jnp.asarray(np.append(lengths, 0), jnp.int32)

  def runs(keys, originals, withheld, procedure, stop_performances, data):
    num_runs = len(keys)
    num_slots = num_runs if slots is None else min(slots, num_runs)
    width = min(num_slots, group_width or max(1, num_slots // 8))

    def of_run(run):
      return (keys[run], jax.tree.map(lambda x: x[run], withheld),
              jax.tree.map(lambda x: x[run], procedure))

    def start_run(run):
      key, mask, settings = of_run(run)
      return stages.start(key, jax.tree.map(lambda x: x[run], originals),
                          mask, settings, stop_performances[run], data)

    def train_slot(state, run, num_updates):
      key, mask, settings = of_run(run)
      return stages.train(state, num_updates, key, mask, settings, data)

    def evaluate_slot(state, run):
      key, mask, settings = of_run(run)
      return stages.evaluate(state, key, mask, settings, data)

    def in_schedule(state, segment):
      return state._replace(active=state.active & (segment < num_segments))

    slot_run = jnp.arange(num_slots, dtype=jnp.int32)
    state, first, warm = jax.vmap(start_run)(slot_run)
    segment = jnp.zeros(num_slots, jnp.int32)
    state = in_schedule(state, segment)
    performance = jnp.full((num_runs, num_segments + 1), jnp.nan,
                           first.dtype).at[:num_slots, 0].set(first)
    warm_start_cost = jnp.zeros(num_runs, warm.dtype).at[:num_slots].set(warm)
    diverged = jnp.zeros(num_runs, bool)
    left = jnp.full(num_slots, segment_length[0])

    def pending(carry):
      state, _, _, _, next_run, *_ = carry
      return jnp.any(state.active) | (next_run < num_runs)

    def event(carry):
      (state, slot_run, segment, left, next_run, performance, diverged,
       warm_start_cost) = carry
      # Train every active slot to the nearest evaluation point.
      was_active = state.active
      steps = jnp.min(jnp.where(was_active, left, jnp.iinfo(jnp.int32).max))
      steps = jnp.where(jnp.any(was_active), steps, 0)
      state = jax.vmap(train_slot, in_axes=(0, 0, None))(state, slot_run,
                                                        steps)
      left = jnp.where(was_active, left - steps, left)
      # Evaluate the slots at their point (a run that diverged on the way
      # reads NaN there, as in `make_completion`).
      due = state.active & (left == 0)
      scores = on_some(evaluate_slot, due, width,
                       jnp.full(num_slots, jnp.nan, performance.dtype),
                       state, slot_run)
      # Only the due slots count as evaluated; the others keep running.
      evaluated, recorded = after_evaluation(
          state._replace(active=due), scores, stop_performances[slot_run])
      state = evaluated._replace(
          active=jnp.where(due, evaluated.active, state.active))
      performance = performance.at[jnp.where(due, slot_run, num_runs),
                                   segment + 1].set(recorded, mode="drop")
      segment = segment + due
      state = in_schedule(state, segment)
      left = jnp.where(due, segment_length[segment], left)
      diverged = diverged.at[slot_run].set(state.diverged)
      # Waiting runs take the free slots, in order.
      free = ~state.active
      candidate = next_run + jnp.cumsum(free, dtype=jnp.int32) - 1
      refill = free & (candidate < num_runs)
      slot_run = jnp.where(refill, candidate, slot_run)
      next_run = next_run + jnp.sum(refill, dtype=jnp.int32)
      state, first, warm = on_some(
          start_run, refill, width,
          (state, jnp.full(num_slots, jnp.nan, performance.dtype),
           jnp.zeros(num_slots, warm_start_cost.dtype)), slot_run)
      started = jnp.where(refill, slot_run, num_runs)
      performance = performance.at[started, 0].set(first, mode="drop")
      warm_start_cost = warm_start_cost.at[started].set(warm, mode="drop")
      segment = jnp.where(refill, 0, segment)
      state = in_schedule(state, segment)
      left = jnp.where(refill, segment_length[0], left)
      return (state, slot_run, segment, left, next_run, performance,
              diverged, warm_start_cost)

    carry = jax.lax.while_loop(
        pending, event,
        (state, slot_run, segment, left, jnp.int32(num_slots), performance,
         diverged, warm_start_cost))
    state, slot_run, _, _, _, performance, diverged, warm_start_cost = carry
    diverged = diverged.at[slot_run].set(state.diverged)
    return Curve(performance, diverged, warm_start_cost)

  return runs


def resolve_vmap_size(task: spec.Task, vmap_size: int | None) -> int | None:
  """The user's `vmap_size`, else the task's default (None: all runs)."""
  return task.default_vmap_size if vmap_size is None else vmap_size


RUN_AXIS = "runs"


def run_mesh(num_devices: int | None = None) -> jax.sharding.Mesh:
  """A one-axis `Mesh` (`RUN_AXIS`) over the first `num_devices` devices of
  every process (None: all of them).

  Raises:
    spec.InputError: more devices asked for than there are, or fewer than 1.
  """
  devices = jax.devices()
  if num_devices is None:
    num_devices = len(devices)
  if not 1 <= num_devices <= len(devices):
    raise spec.InputError(
        f"asked for {num_devices} device(s); there are {len(devices)} "
        f"({devices[0].platform})")
  return jax.sharding.Mesh(np.asarray(devices[:num_devices]), (RUN_AXIS,))


def _global_array(value: Any, sharding: jax.sharding.Sharding) -> jax.Array:
  """`value` (the same on every process) as one array over `sharding`'s
  devices, each process placing only its own devices' parts."""
  host = np.asarray(value)
  return jax.make_array_from_callback(host.shape, sharding,
                                      lambda index: host[index])


def task_jit(task: spec.Task, fun: Callable, **jit_kwargs) -> Callable:
  """`jax.jit(fun)` compiled with the task's XLA options for this backend
  (`spec.Task.compiler_options`)."""
  return jax.jit(fun, compiler_options=task.compiler_options.get(
      jax.default_backend()), **jit_kwargs)


def shard_runs(runs: Callable, num_run_args: int,
               mesh: jax.sharding.Mesh, jit: Callable = jax.jit) -> Callable:
  """`runs` spread over the devices of `mesh`, of one process or of several
  (`jax.distributed`), jitted.

  The first `num_run_args` arguments of `runs` have a leading run axis; it
  is cut into equal shares, one per device, by `jax.shard_map`, and every
  device runs its share with `runs` (no communication: runs are
  independent). Later arguments (the data) are replicated. A run count
  that the devices do not divide is padded with copies of the last run,
  whose results are dropped. Every process passes the same arguments and
  gets every run's results (gathered with `process_allgather`). `jit`
  compiles (`task_jit` for a task's options).
  """
  if mesh.size == 1 and jax.process_count() == 1:
    return jit(runs)
  over_runs_sharding = jax.sharding.NamedSharding(mesh, P(RUN_AXIS))
  replicated = jax.sharding.NamedSharding(mesh, P())
  programs = {}

  def program(treedef, is_key):
    # Typed keys travel as their key data, which host arrays can hold.
    def with_keys(*raw):
      leaves = [jax.random.wrap_key_data(leaf) if key else leaf
                for leaf, key in zip(jax.tree.leaves(raw), is_key)]
      return runs(*jax.tree.unflatten(treedef, leaves))

    def sharded(*raw):
      return jax.shard_map(
          with_keys, mesh=mesh, out_specs=P(RUN_AXIS),
          in_specs=(P(RUN_AXIS),) * num_run_args
          + (P(),) * (len(raw) - num_run_args),
          check_vma=False)(*raw)

    return jit(sharded)

  def call(*args):
    leaves, treedef = jax.tree.flatten(args)
    is_key = tuple(storage.is_prng_key(leaf) for leaf in leaves)
    if (treedef, is_key) not in programs:
      programs[treedef, is_key] = program(treedef, is_key)
    raw = [jax.random.key_data(leaf) if key else leaf
           for leaf, key in zip(leaves, is_key)]
    unflattened = jax.tree.unflatten(treedef, raw)
    run_args, data = unflattened[:num_run_args], unflattened[num_run_args:]
    num_runs = len(jax.tree.leaves(run_args)[0])
    padding = -num_runs % mesh.size

    def spread(x):
      x = np.asarray(x)
      if padding:
        x = np.concatenate([x, np.repeat(x[-1:], padding, 0)])
      return _global_array(x, over_runs_sharding)

    out = programs[treedef, is_key](
        *jax.tree.map(spread, run_args),
        *jax.tree.map(lambda x: _global_array(x, replicated), data))
    if jax.process_count() > 1:
      out = multihost_utils.process_allgather(out, tiled=True)
    return jax.tree.map(lambda x: x[:num_runs], out)

  return call


def device_memory_limit() -> int | None:
  """Bytes the first local device may allocate (`bytes_limit` of its memory
  stats), None where the backend does not say (XLA:CPU)."""
  stats = jax.local_devices()[0].memory_stats() or {}
  return stats.get("bytes_limit")


def program_bytes(compiled: jax.stages.Compiled) -> int:
  """Device memory a compiled program needs at its peak, as XLA plans it:
  arguments, outputs and temporaries, less outputs that reuse arguments."""
  stats = compiled.memory_analysis()
  return (stats.argument_size_in_bytes + stats.output_size_in_bytes +
          stats.temp_size_in_bytes - stats.alias_size_in_bytes)


def fit_vmap_size(runs_for: Callable[[int | None], Callable], args: tuple,
                  vmap_size: int | None, limit_bytes: int,
                  log: Callable[[str], None] = lambda _: None,
                  jit: Callable = jax.jit
                  ) -> tuple[int | None, jax.stages.Compiled]:
  """`(size, program)`: the largest vmap size, at most `vmap_size`, whose
  program fits, and that program compiled.

  `runs_for(v)` is the unjitted program of one device with vmap size `v`
  (None: all runs) and `args` its arguments (arrays or shape structs), the
  first with a leading run axis. Each candidate is compiled ahead of time
  and XLA's own memory plan (`program_bytes`) is checked against
  `limit_bytes`; a candidate that does not fit is shrunk in proportion
  (memory grows about linearly with the runs vmapped together) and at
  least by one, so a few compilations settle it. Candidates divide the run
  count: equal chunks, no second program for a remainder.

  Raises:
    spec.InputError: not even one run at a time fits.
  """
  num_runs = len(jax.tree.leaves(args[0])[0])

  def divisor_at_most(cap):  # Equal chunks: no remainder program beside.
    return max(d for d in range(1, max(1, cap) + 1) if num_runs % d == 0)

  size = divisor_at_most(num_runs if vmap_size is None else vmap_size)
  while True:
    vmapped = None if size == num_runs else size
    program = jit(runs_for(vmapped)).lower(*args).compile()
    need = program_bytes(program)
    if need <= limit_bytes:
      log(f"device memory: {size} of {num_runs} run(s) vmapped together "
          f"need {need / 2**20:,.1f} MiB of {limit_bytes / 2**20:,.1f} MiB")
      return vmapped, program
    if size == 1:
      raise spec.InputError(
          f"one run needs {need / 2**20:,.1f} MiB of device memory; "
          f"{limit_bytes / 2**20:,.1f} MiB is available")
    size = divisor_at_most(min(size - 1, size * limit_bytes // need))


def make_batched_completion(task: spec.Task,
                            eval_updates: tuple[int, ...] | None = None,
                            vmap_size: int | None = None,
                            trajectory_episodes: int = 0,
                            mesh: jax.sharding.Mesh | None = None,
                            memory_limit_bytes: int | None = None,
                            log: Callable[[str], None] = lambda _: None,
                            refill: bool = False):
  """`run` over a leading run axis, jitted: one compiled program per shape.

  Masks and procedures are data with a leading run axis like the keys, so
  one program runs any mix of seeds, splits and procedures of a task (a
  sweep batches several (split, procedure) jobs this way).

  Args:
    task: the task.
    eval_updates: evaluation points (default: the recipe's full schedule).
    vmap_size: runs vmapped together on a device; None vmaps all its runs,
      smaller values run chunks in turn (see `over_runs`).
    trajectory_episodes: see `make_completion`.
    mesh: devices to spread the runs over (`run_mesh`; None: one device).
      Tasks whose environments live on the host (`task.shardable` False)
      use one device whatever the mesh.
    memory_limit_bytes: device memory one program may plan for; given, the
      vmap size is cut down until a device's share of the runs fits
      (`fit_vmap_size`, once per argument shape), so a sweep too large for
      the device runs in chunks instead of running out of memory.
    log: where the chosen vmap size is reported.
    refill: train `vmap_size` runs at a time in slots that a stopped run
      leaves to the next waiting one (`make_refilling_runs`) instead of
      chunks that each run until their last run stops.

  Returns:
    `runs(keys, originals, withheld, procedure, stop_performances, data)
    -> Curve`, every argument but `data` and the output with a leading run
    axis (`stack_runs` repeats one mask or procedure for every run).
  """
  sharded = mesh is not None and task.shardable
  if refill:
    make_refilling_runs(task, slots=vmap_size)  # Validates the settings.
  else:
    run = make_completion(task, eval_updates, trajectory_episodes)

  def runs_for(size):
    if refill:
      return make_refilling_runs(task, eval_updates, size,
                                 trajectory_episodes)
    map_runs = over_runs(size)

    def runs(keys, originals, withheld, procedure, stop_performances, data):
      def one(args):
        key, original, mask, settings, stop = args
        return run(key, original, mask, settings, stop, data)[0]
      return map_runs(one, (keys, originals, withheld, procedure,
                            stop_performances))

    return runs

  jit = functools.partial(task_jit, task)

  def program_for(size):
    return (shard_runs(runs_for(size), 5, mesh, jit) if sharded
            else jit(runs_for(size)))

  if memory_limit_bytes is None:
    return program_for(vmap_size)
  programs = {}

  def fitted(*args):
    signature = (jax.tree.structure(args), tuple(
        (np.shape(x), str(jnp.result_type(x))) for x in jax.tree.leaves(args)))
    if signature not in programs:
      share = -(-len(args[0]) // (mesh.size if sharded else 1))
      device_args = (
          *jax.tree.map(lambda x: jax.ShapeDtypeStruct(
              (share, *x.shape[1:]), x.dtype), args[:5]),
          # Python numbers in the data (gymnax's environment parameters)
          # stay as they are: the probe then compiles what the call runs.
          *jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype)
                        if hasattr(x, "shape") else x, args[5:]))
      size, program = fit_vmap_size(runs_for, device_args, vmap_size,
                                    memory_limit_bytes, log, jit)
      # The probe was one device's program: on a mesh, build the real one.
      programs[signature] = program_for(size) if sharded else program
    return programs[signature](*args)

  return fitted


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

  batched = task_jit(task, train)
  return lambda keys: batched(keys, task.data)


class StagedTraining(NamedTuple):
  """Originals trained one evaluation segment per program call
  (`make_staged_scratch_training`), each callable with a leading seed axis.

  Attributes:
    start: `keys -> (states, first_performances)`.
    advance: `(states, keys, segment_lengths) -> (states, performances)`,
      `performances` of shape `[seeds, len(segment_lengths)]`.
    train: `(states, keys, num_updates) -> states`, updates without an
      evaluation: the first part of a segment, before a pause.
    variables: `(states, keys) -> variables`.
    reattach: `(states, keys) -> states`, after a restore in another process.
  """

  start: Callable
  advance: Callable
  train: Callable
  variables: Callable
  reattach: Callable


def make_staged_scratch_training(task: spec.Task,
                                 vmap_size: int | None = None
                                 ) -> StagedTraining:
  """`make_scratch_training` cut at the evaluation points, for training that
  is checkpointed between segments and resumed in a later process.

  Each stage is jitted once; `advance` with segment lengths of one shape
  reuses its program for every segment.
  """
  stages = make_stages(task)
  procedure = procedures.settings("T2", task.recipe)
  map_runs = over_runs(vmap_size)

  def fixed(key):
    placeholder = zeros_like_init(task, key)
    return placeholder, everything_withheld(placeholder)

  def start(keys, data):
    def one(key):
      placeholder, withheld = fixed(key)
      state, first, _ = stages.start(key, placeholder, withheld, procedure,
                                     jnp.inf, data)
      return state, first
    return map_runs(one, keys)

  def advance(states, keys, segment_lengths, data):
    def one(args):
      state, key = args
      return stages.advance(state, segment_lengths, key, fixed(key)[1],
                            procedure, jnp.inf, data)
    return map_runs(one, (states, keys))

  def train(states, keys, num_updates, data):
    def one(args):
      state, key = args
      return stages.train(state, num_updates, key, fixed(key)[1], procedure,
                          data)
    return map_runs(one, (states, keys))

  def per_seed(stage):
    return task_jit(task, jax.vmap(lambda state, key: stage(
        state, fixed(key)[1], procedure)))

  start_jit, advance_jit, train_jit = (task_jit(task, f)
                                      for f in (start, advance, train))
  return StagedTraining(
      start=lambda keys: start_jit(keys, task.data),
      advance=lambda states, keys, lengths: advance_jit(states, keys, lengths,
                                                        task.data),
      # A traced count: one program serves every partial segment.
      train=lambda states, keys, n: train_jit(states, keys,
                                              jnp.asarray(n, jnp.int32),
                                              task.data),
      variables=per_seed(stages.variables),
      reattach=per_seed(stages.reattach))


def derive_key(*parts: Any) -> jax.Array:
  """A PRNG key folded from readable parts, e.g. (task, hash, split, T, seed).

  The same parts give the same key on every machine; any changed part gives
  an unrelated stream.
  """
  key = jax.random.key(0)
  for part in parts:
    key = jax.random.fold_in(key, zlib.crc32(str(part).encode()) & 0x7FFFFFFF)
  return key
