"""Many completion runs in one compiled program.

`make_batched_completion` maps `completion.make_completion`'s run over seeds
(vmapped, or in chunks one after another), fits the vmap width to the
device's memory (`benchmark.engine.memory`) and spreads the runs over the
devices of a mesh (`benchmark.engine.sharding`). `make_refilling_runs` keeps
early stopping's saving in such a program by handing a stopped run's slot to
the next waiting run.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmark.engine import completion, memory, sharding
from contract import spec


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
  `completion.make_completion` with its own keys, so its curve is the same up
  to the rounding differences of batching.

  Args:
    task: a task whose runs can be vmapped (`task.shardable`).
    eval_updates: evaluation points (default: the recipe's full schedule).
    slots: runs trained at once (None: all, which leaves nothing to refill).
    trajectory_episodes: see `completion.make_completion`.
    group_width: slots evaluated or started together (None: an eighth of
      the slots, at least 1).

  Returns:
    `runs(keys, originals, withheld, procedure, stop_performances, data)
    -> completion.Curve`, like `make_batched_completion`'s, not jitted.

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
  stages = completion.make_stages(task, trajectory_episodes)
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
      # reads NaN there, as in `completion.make_completion`).
      due = state.active & (left == 0)
      scores = on_some(evaluate_slot, due, width,
                       jnp.full(num_slots, jnp.nan, performance.dtype),
                       state, slot_run)
      # Only the due slots count as evaluated; the others keep running.
      evaluated, recorded = completion.after_evaluation(
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
    return completion.Curve(performance, diverged, warm_start_cost)

  return runs


def resolve_vmap_size(task: spec.Task, vmap_size: int | None) -> int | None:
  """The user's `vmap_size`, else the task's default (None: all runs)."""
  return task.default_vmap_size if vmap_size is None else vmap_size


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
    trajectory_episodes: see `completion.make_completion`.
    mesh: devices to spread the runs over (`sharding.run_mesh`; None: one
      device).
      Tasks whose environments live on the host (`task.shardable` False)
      use one device whatever the mesh.
    memory_limit_bytes: device memory one program may plan for; given, the
      vmap size is cut down until a device's share of the runs fits
      (`memory.fit_vmap_size`, once per argument shape), so a sweep too large
      for the device runs in chunks instead of running out of memory.
    log: where the chosen vmap size is reported.
    refill: train `vmap_size` runs at a time in slots that a stopped run
      leaves to the next waiting one (`make_refilling_runs`) instead of
      chunks that each run until their last run stops.

  Returns:
    `runs(keys, originals, withheld, procedure, stop_performances, data)
    -> completion.Curve`, every argument but `data` and the output with a
    leading run axis (`stack_runs` repeats one mask or procedure for every run).
  """
  sharded = mesh is not None and task.shardable
  if refill:
    make_refilling_runs(task, slots=vmap_size)  # Validates the settings.
  else:
    run = completion.make_completion(task, eval_updates, trajectory_episodes)

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

  jit = functools.partial(sharding.task_jit, task)

  def program_for(size):
    return (sharding.shard_runs(runs_for(size), 5, mesh, jit) if sharded
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
      size, program = memory.fit_vmap_size(runs_for, device_args, vmap_size,
                                    memory_limit_bytes, log, jit)
      # The probe was one device's program: on a mesh, build the real one.
      programs[signature] = program_for(size) if sharded else program
    return programs[signature](*args)

  return fitted


def stack_runs(trees: list[Any]) -> Any:
  """Pytrees with equal structure stacked along a new leading run axis."""
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)
