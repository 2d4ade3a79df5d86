"""The streamed (host-fed) engine against the all-on-device one.

The reference is `completion.make_completion` itself: the digits task is
turned into a streamed task whose host pipeline yields exactly the batches
that the device-fed learner draws (`supervised.batch_indices` with the run's
key), so both engines must give the same curves, early stop, divergence and
final variables included."""

import dataclasses
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from agents import supervised
from benchmark.engine import batching, completion, scratch, streaming
from benchmark.science import procedures, splitter
from contract import spec, streams
from tasks import digits


class DigitsStream:
  """`spec.StreamedData` over the digits arrays, in the device-fed order."""

  def __init__(self, dataset: supervised.Dataset, batch_size: int):
    self.dataset = jax.device_get(dataset)
    self.batch_size = batch_size

  def train_batches(self, key):
    images, labels = self.dataset.train_images, self.dataset.train_labels
    for step in itertools.count():
      idx = np.asarray(supervised.batch_indices(key, step, len(images),
                                                self.batch_size))
      yield images[idx], labels[idx]

  def eval_batches(self):
    d = self.dataset
    return zip(d.eval_images, d.eval_labels, d.eval_valid)


def streamed(task: spec.Task) -> spec.Task:
  apply = supervised.flax_apply(digits.MLP((64, 64)))
  return dataclasses.replace(
      task, streamed=True,
      data=DigitsStream(task.data, task.recipe.batch_size),
      make_learner=lambda tx, trainable: supervised.make_batch_learner(
          apply, tx, trainable),
      evaluate=supervised.make_streamed_accuracy(apply))


def both_engines(task, original, scheme, procedure, stop, eval_updates):
  mask = splitter.make_mask(original, scheme)
  key = jax.random.key(7)
  device_run = jax.jit(completion.make_completion(task, eval_updates))
  curve, final = device_run(key, original, mask, procedure, stop, task.data)
  host_task = streamed(task)
  host_run = streaming.make_streamed_run(host_task, eval_updates)
  host_curve, host_final = host_run(key, original, mask, procedure, stop,
                                    host_task.data)
  return (curve, final), (host_curve, host_final)


def assert_same_curves(a, b):
  np.testing.assert_allclose(np.asarray(a.performance),
                             np.asarray(b.performance), atol=1e-6)
  np.testing.assert_array_equal(np.asarray(a.diverged),
                                np.asarray(b.diverged))


@pytest.mark.parametrize("procedure_name", ["T1", "T2"])
def test_same_curve_and_variables_as_the_device_engine(
    digits_task, digits_originals, procedure_name):
  original = digits_originals[0].variables
  budget = completion.budget_schedule(digits_task.recipe, 0.2)
  procedure = procedures.settings(procedure_name, digits_task.recipe)
  (curve, final), (host_curve, host_final) = both_engines(
      digits_task, original, splitter.Scheme("h", ("params/hidden1/**",)),
      procedure, jnp.inf, budget)
  assert_same_curves(curve, host_curve)
  assert np.isfinite(host_curve.performance).all()
  for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(host_final)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  if procedure_name == "T1":  # Frozen entries are bit for bit the original.
    for a, b in zip(jax.tree.leaves(original["params"]["head"]),
                    jax.tree.leaves(host_final["params"]["head"])):
      assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def test_early_stop_masks_the_same_points(digits_task, digits_originals):
  original = digits_originals[0].variables
  procedure = procedures.settings("T2", digits_task.recipe)
  (curve, _), (host_curve, _) = both_engines(
      digits_task, original, splitter.Scheme("h", ("params/head/**",)),
      procedure, 0.5, digits_task.recipe.eval_updates)
  assert_same_curves(curve, host_curve)
  performance = np.asarray(host_curve.performance)
  reached = int(np.argmax(performance >= 0.5))
  assert 0 < reached < len(performance) - 1
  assert np.isnan(performance[reached + 1:]).all()


def test_divergence_is_recorded_as_nan(digits_task, digits_originals):
  exploding = dataclasses.replace(
      digits_task, recipe=dataclasses.replace(
          digits_task.recipe, optimizer=lambda lr: optax.sgd(1e12),
          schedule=optax.constant_schedule(1e12)))
  procedure = procedures.settings("T2", exploding.recipe)
  (curve, _), (host_curve, _) = both_engines(
      exploding, digits_originals[0].variables,
      splitter.Scheme("h", ("params/head/**",)), procedure, jnp.inf,
      (0, 5, 10))
  assert_same_curves(curve, host_curve)
  assert bool(host_curve.diverged)
  assert math.isfinite(host_curve.performance[0])
  assert np.isnan(host_curve.performance[1:]).all()


def test_batched_and_scratch_contracts(digits_task):
  task = dataclasses.replace(digits_task, recipe=dataclasses.replace(
      digits_task.recipe, num_updates=10, eval_updates=(0, 3, 10)))
  host_task = streamed(task)
  original = task.init(jax.random.key(0))
  mask = splitter.make_mask(original, splitter.Scheme("h", ("params/head/*",)))
  keys = jnp.stack([jax.random.key(1), jax.random.key(2)])
  originals = jax.tree.map(lambda x: jnp.stack([x, 2 * x]), original)
  procedure = procedures.settings("T1", task.recipe)
  stops = jnp.asarray([jnp.inf, 0.0])
  curves = streaming.make_streamed_completion(host_task)(
      keys, originals, batching.stack_runs([mask, mask]),
      batching.stack_runs([procedure, procedure]), stops, host_task.data)
  assert curves.performance.shape == (2, 3) and curves.diverged.shape == (2,)
  # Seed i: key i, original i, stop i (stop 0.0: reached before any update).
  run = streaming.make_streamed_run(host_task)
  for i, doubled in enumerate((False, True)):
    one = jax.tree.map(lambda x, d=doubled: 2 * x if d else x, original)
    curve, _ = run(keys[i], one, mask, procedure, stops[i], host_task.data)
    assert_same_curves(curve, jax.tree.map(lambda x, i=i: x[i], curves))
  assert np.isnan(curves.performance[1, 1:]).all()

  # Scratch training is T2 with everything withheld, as on the device.
  curves, variables = streaming.make_streamed_scratch_training(host_task)(keys)
  assert curves.performance.shape == (2, 3)
  assert all(v.shape[0] == 2 for v in jax.tree.leaves(variables))
  placeholder = jax.tree.map(jnp.zeros_like, original)
  expected, expected_vars = jax.jit(completion.make_completion(task))(
      keys[1], placeholder, scratch.everything_withheld(placeholder),
      procedures.settings("T2", task.recipe), jnp.inf, task.data)
  assert_same_curves(expected, jax.tree.map(lambda x: x[1], curves))
  for a, b in zip(jax.tree.leaves(expected_vars), jax.tree.leaves(variables)):
    np.testing.assert_allclose(a, b[1], rtol=1e-5, atol=1e-6)


def test_a_device_fed_task_is_refused(digits_task):
  with pytest.raises(ValueError, match="not a streamed task"):
    streaming.make_streamed_completion(digits_task)


def test_prefetch_keeps_order_and_moves_to_the_device():
  batches = [np.full(3, i) for i in range(5)]
  out = list(streams.prefetch_to_device(iter(batches), size=2))
  assert [int(b[0]) for b in out] == [0, 1, 2, 3, 4]
  assert all(isinstance(b, jax.Array) for b in out)
  with pytest.raises(ValueError, match="at least 1"):
    list(streams.prefetch_to_device(batches, size=0))
