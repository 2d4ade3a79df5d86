"""The completion engine for streamed (host-fed) tasks.

`completion.py` runs a whole completion run as one compiled program, the data
set passed in as an argument and read on the device. A data set that cannot
live on the accelerator (ImageNet: 1.28 million JPEGs) is produced by the
task on the host instead (`spec.Task.streamed`), so here the loop over
updates runs in Python:

* the withheld part is re-initialised exactly as in `completion.make_completion`
  (the model's own initialisers with a fresh key, or zeros), and the
  trainable mask, optimiser and learner are the same functions;
* each update is one call of a jitted step with the state donated (updated in
  place) whose mask and procedure are traced arguments, so every split and
  procedure of a task reuses one compiled program, as in `completion.py`;
* batches come from `data.train_batches(key)` and reach the device through a
  two-deep `jax.device_put` queue (`contract.streams.prefetch_to_device`), and
  steps are dispatched asynchronously: while the device computes update `i`,
  the host's `tf.data` threads prepare later batches and batch `i + 1` is
  being copied;
* divergence is accumulated on the device between two evaluations and the
  host reads it only at evaluation points (the only host syncs), where the
  task's host-level `evaluate` runs, with the same early stop and NaN
  semantics as `completion.py`.

Seeds run one after another: the data pipeline is per run, and one
ResNet-50 run at batch 1,024 fills an accelerator on its own.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmark.engine import completion, scratch, sharding
from benchmark.science import procedures
from contract import spec, streams


def _require_streamed(task: spec.Task):
  if not task.streamed:
    raise ValueError(f"{task.name} is not a streamed task; use "
                     "benchmark.engine.completion for tasks whose data live "
                     "on the device")


def make_streamed_run(task: spec.Task,
                      eval_updates: tuple[int, ...] | None = None,
                      prefetch: int = streams.DEFAULT_PREFETCH) -> Callable:
  """Builds one completion run of a streamed task.

  Args:
    task: a task with `streamed=True`.
    eval_updates: evaluation points (default: the recipe's full schedule).
    prefetch: batches in flight to the device.

  Returns:
    `run(key, original, withheld, procedure, stop_performance, data)
    -> (Curve, final_variables)`, the contract of `completion.make_completion`
    (curve as numpy arrays).
  """
  _require_streamed(task)
  if eval_updates is None:
    eval_updates = task.recipe.eval_updates
  segment_lengths = [int(n) for n in np.diff(eval_updates)]

  def update(state, finite, batch, withheld, procedure):
    learner = completion.procedure_learner(task, withheld, procedure)
    state, loss = learner.step(state, batch)
    return state, finite & jnp.isfinite(loss)

  update = sharding.task_jit(task, update, donate_argnums=(0, 1))

  def run(key, original, withheld, procedure, stop_performance, data):
    init_key, learn_key, eval_key = jax.random.split(key, 3)
    # Masks and settings go to the device once, not with every update.
    withheld, procedure = jax.device_put((withheld, procedure))
    # Eager, like the sweep's template: no compilation of its own.
    start = completion.starting_variables(task, init_key, original, withheld,
                                          procedure)
    learner = completion.procedure_learner(task, withheld, procedure)
    # The state is donated to the update: it must not share the buffer of
    # the key that the data pipeline keeps using.
    state = learner.init(start, jnp.copy(learn_key))
    stop = float(stop_performance)
    batches = None  # Started at the first update: a run may need none.

    def evaluate(state) -> float:
      return float(task.evaluate(learner.variables(state), data, eval_key))

    first = evaluate(state)
    performance = [first]
    active = math.isfinite(first) and first < stop
    diverged = not math.isfinite(first)
    for length in segment_lengths:
      if not active:
        performance.append(math.nan)
        continue
      if batches is None:
        batches = streams.prefetch_to_device(data.train_batches(learn_key),
                                             prefetch)
      finite = jnp.array(True)
      for _ in range(length):
        state, finite = update(state, finite, next(batches), withheld,
                               procedure)
      value = evaluate(state)
      diverging = not (bool(finite) and math.isfinite(value))
      reached = not diverging and value >= stop
      performance.append(math.nan if diverging else value)
      diverged = diverged or diverging
      active = not diverging and not reached
    curve = completion.Curve(np.asarray(performance, np.float32),
                             np.asarray(diverged), np.float32(0))
    return curve, learner.variables(state)

  return run


def _stack_curves(curves: list[completion.Curve]) -> completion.Curve:
  return completion.Curve(*(np.stack(field) for field in zip(*curves)))


def _run(tree: Any, i: int) -> Any:
  return jax.tree.map(lambda leaf: leaf[i], tree)


def make_streamed_completion(task: spec.Task,
                             eval_updates: tuple[int, ...] | None = None,
                             prefetch: int = streams.DEFAULT_PREFETCH):
  """Completion runs of a streamed task over a leading seed axis.

  The streamed counterpart of `batching.make_batched_completion`, with the
  same call and result; runs go one after another.

  Returns:
    `runs(keys, originals, withheld, procedure, stop_performances, data)
    -> Curve`, every argument but `data` and the output with a leading run
    axis (numpy arrays).
  """
  run = make_streamed_run(task, eval_updates, prefetch)

  def runs(keys, originals, withheld, procedure, stop_performances, data):
    return _stack_curves([
        run(key, _run(originals, i), _run(withheld, i), _run(procedure, i),
            stop_performances[i], data)[0] for i, key in enumerate(keys)])

  return runs


def make_streamed_scratch_training(task: spec.Task,
                                   prefetch: int = streams.DEFAULT_PREFETCH):
  """Trains originals of a streamed task from scratch, seed after seed.

  The streamed counterpart of `scratch.make_scratch_training`: the run of
  procedure T2 with every variable withheld and no early stop.

  Returns:
    `train(keys) -> (Curve, variables)` with a leading seed axis.
  """
  run = make_streamed_run(task, prefetch=prefetch)
  procedure = procedures.settings("T2", task.recipe)

  def train(keys):
    curves, finals = [], []
    for key in keys:
      placeholder = completion.zeros_like_init(task, key)
      curve, variables = run(key, placeholder,
                             scratch.everything_withheld(placeholder),
                             procedure, math.inf, task.data)
      curves.append(curve)
      finals.append(variables)
    return _stack_curves(curves), jax.tree.map(
        lambda *leaves: jnp.stack(leaves), *finals)

  return train
