"""Supervised learning as pure functions: one optimiser update per `step`.

The same step trains originals and completion runs (PROTOCOL.md calibration:
T2 with every parameter withheld *is* training from scratch). The data order is
a keyed permutation per epoch (`batch_indices`), drawn for every epoch when a
run starts and carried in its state, so a whole run is one `lax` loop with no
host round trip, and it can be vmapped over seeds.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from contract import spec, streams

# `apply(variables, images, train) -> (logits, updated_collections)`, where
# `updated_collections` holds the non-parameter collections a training forward
# pass changes (batch-norm statistics), or {} if none.
ApplyFn = Callable[[spec.Variables, jax.Array, bool], tuple[jax.Array, dict]]


class Dataset(NamedTuple):
  """Arrays on the device; evaluation examples come padded into batches.

  Attributes:
    train_images: `[n, ...]`.
    train_labels: `[n]` int32.
    eval_images: `[num_batches, batch, ...]`, zero-padded.
    eval_labels: `[num_batches, batch]` int32.
    eval_valid: `[num_batches, batch]` bool, False on padding.
  """

  train_images: jax.Array
  train_labels: jax.Array
  eval_images: jax.Array
  eval_labels: jax.Array
  eval_valid: jax.Array


class LearnerState(NamedTuple):
  variables: spec.Variables
  opt_state: optax.OptState
  step: jax.Array
  key: jax.Array
  # `[epochs, examples]`: every epoch's order of the training examples
  # (`epoch_orders`); None where batches come from the host.
  orders: jax.Array | None = None


def batch_indices(key: jax.Array, step: jax.Array, num_examples: int,
                  batch_size: int) -> jax.Array:
  """Indices of the examples of update `step`: a fresh permutation per epoch.

  The last incomplete batch of an epoch is dropped, so every batch is full.
  """
  steps_per_epoch = num_examples // batch_size
  epoch, position = jnp.divmod(step, steps_per_epoch)
  order = _epoch_order(key, epoch, num_examples)
  return jax.lax.dynamic_slice_in_dim(order, position * batch_size, batch_size)


def _epoch_order(key: jax.Array, epoch: jax.Array,
                 num_examples: int) -> jax.Array:
  """Epoch `epoch`'s order of the training examples: the one definition
  behind `batch_indices` and `epoch_orders`."""
  return jax.random.permutation(jax.random.fold_in(key, epoch), num_examples)


def epoch_orders(key: jax.Array, num_epochs: int,
                 num_examples: int) -> jax.Array:
  """`[num_epochs, num_examples]`: row `e` is epoch `e`'s order of
  `batch_indices`, drawn at once.

  Why: a permutation is a sort of the whole training set; drawn at every
  update (`batch_indices`), it cost a vmapped MLP sweep most of its time
  (BUILD_NOTES, 2026-12-02).
  """
  return jax.vmap(lambda epoch: _epoch_order(key, epoch, num_examples))(
      jnp.arange(num_epochs))


def cross_entropy(logits: jax.Array, labels: jax.Array,
                  label_smoothing: float = 0.0) -> jax.Array:
  """Mean softmax cross-entropy against integer labels, optionally smoothed
  (`label_smoothing` of the target mass spread evenly over the classes)."""
  if not label_smoothing:
    return optax.softmax_cross_entropy_with_integer_labels(logits,
                                                           labels).mean()
  targets = optax.smooth_labels(
      jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype),
      label_smoothing)
  return optax.softmax_cross_entropy(logits, targets).mean()


# `augment(key, images) -> images`: data augmentation on the device.
AugmentFn = Callable[[jax.Array, jax.Array], jax.Array]


def make_learner(apply: ApplyFn, batch_size: int, num_updates: int,
                 data: Dataset, tx: optax.GradientTransformation,
                 trainable: spec.Mask,
                 augment: AugmentFn | None = None) -> spec.Learner:
  """Builds the supervised learner for one optimiser and trainable mask.

  The batches are those of `batch_indices`. A run draws the orders of the
  epochs of `num_updates` updates when it starts (`epoch_orders`); a run
  that goes on past them (only `benchmark.perf`'s timings do) reuses them
  in turn.

  Args:
    apply: the model's forward pass, see `ApplyFn`.
    batch_size: examples per update.
    num_updates: the most updates a run makes (the recipe's budget).
    data: the task's data set; only its shapes are read here, the arrays come
      in through `step`'s argument so they are not baked into compiled code.
    tx: the optimiser (a procedure wraps the recipe's optimiser).
    trainable: boolean arrays with the variables' structure. Entries that are
      False keep their values bit for bit, including non-gradient collections
      such as batch-norm statistics.
    augment: optional augmentation of each training batch, keyed per update.

  Returns:
    A `spec.Learner` whose `step(state, data)` makes one update.
  """
  num_examples = data.train_images.shape[0]  # At least one batch.
  steps_per_epoch = num_examples // batch_size
  num_epochs = max(1, -(-num_updates // steps_per_epoch))

  def init(variables, key):
    return LearnerState(variables, tx.init(variables["params"]),
                        jnp.zeros((), jnp.int32), key,
                        epoch_orders(key, num_epochs, num_examples))

  def step(state: LearnerState, data: Dataset):
    epoch, position = jnp.divmod(state.step, steps_per_epoch)
    idx = jax.lax.dynamic_slice_in_dim(
        state.orders[epoch % num_epochs], position * batch_size, batch_size)
    images, labels = data.train_images[idx], data.train_labels[idx]
    if augment is not None:
      # Two fold-ins: never the key of an epoch's permutation.
      images = augment(jax.random.fold_in(
          jax.random.fold_in(state.key, state.step), 1), images)
    return train_on_batch(apply, tx, trainable, state, images, labels)

  return spec.Learner(init=init, step=step, variables=lambda s: s.variables)


def train_on_batch(apply: ApplyFn, tx: optax.GradientTransformation,
                   trainable: spec.Mask, state: LearnerState,
                   images: jax.Array, labels: jax.Array,
                   label_smoothing: float = 0.0):
  """One optimiser update on one batch: the step every learner shares.

  Entries of `trainable` that are False keep their values bit for bit
  (`jnp.where`, since `x + 0.0` would turn -0.0 into +0.0 and batch-norm
  statistics do not go through the optimiser).

  Returns:
    `(new_state, loss)`.
  """
  variables = state.variables

  def loss_fn(params):
    logits, updated = apply({**variables, "params": params}, images, True)
    return cross_entropy(logits, labels, label_smoothing), updated

  (loss, updated), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      variables["params"])
  updates, opt_state = tx.update(grads, state.opt_state, variables["params"])
  proposed = {**variables, **updated,
              "params": optax.apply_updates(variables["params"], updates)}
  new_variables = jax.tree.map(jnp.where, trainable, proposed, variables)
  return LearnerState(new_variables, opt_state, state.step + 1,
                      state.key, state.orders), loss


def make_batch_learner(apply: ApplyFn, tx: optax.GradientTransformation,
                       trainable: spec.Mask,
                       label_smoothing: float = 0.0) -> spec.Learner:
  """The supervised learner of a streamed task: batches come from the host.

  The same update as `make_learner` (`train_on_batch`), but `step(state,
  batch)` takes one training batch `(images, labels)` (already shuffled and
  augmented by the task's input pipeline) instead of the whole data set.

  Args:
    apply: the model's forward pass, see `ApplyFn`.
    tx: the optimiser (a procedure wraps the recipe's optimiser).
    trainable: boolean arrays with the variables' structure; see
      `make_learner`.
    label_smoothing: share of the target mass spread over the classes.

  Returns:
    A `spec.Learner` whose `step(state, (images, labels))` makes one update.
  """

  def init(variables, key):
    return LearnerState(variables, tx.init(variables["params"]),
                        jnp.zeros((), jnp.int32), key)

  def step(state: LearnerState, batch):
    images, labels = batch
    return train_on_batch(apply, tx, trainable, state, images, labels,
                          label_smoothing)

  return spec.Learner(init=init, step=step, variables=lambda s: s.variables)


def accuracy_standard_error(num_examples: int) -> Callable[[float], float]:
  """`accuracy -> standard error` of an accuracy measured on `num_examples`
  (binomial: `sqrt(a (1 - a) / n)`)."""

  def standard_error(value: float) -> float:
    value = min(max(float(value), 0.0), 1.0)
    return (value * (1.0 - value) / num_examples) ** 0.5

  return standard_error


def accuracy(apply: ApplyFn, variables: spec.Variables,
             data: Dataset) -> jax.Array:
  """Top-1 accuracy on the evaluation set, batch by batch on the device."""

  def correct_in_batch(batch):
    images, labels, valid = batch
    logits, _ = apply(variables, images, False)
    return jnp.sum((jnp.argmax(logits, -1) == labels) & valid)

  correct = jax.lax.map(correct_in_batch,
                        (data.eval_images, data.eval_labels, data.eval_valid))
  return jnp.sum(correct) / jnp.sum(data.eval_valid)


def make_streamed_accuracy(apply: ApplyFn) -> Callable[..., float]:
  """Top-1 accuracy of a streamed task: host-fed batches, one compiled step.

  Returns:
    `evaluate(variables, data, key) -> float` (see `spec.Task.streamed`),
    where `data.eval_batches()` yields `(images, labels, valid)` numpy batches
    of one fixed shape, `valid` False on padding. The counts stay on the
    device until the pass ends, so the host never waits inside the loop.
  """

  @jax.jit
  def counts(variables, batch):
    images, labels, valid = batch
    logits, _ = apply(variables, images, False)
    return (jnp.sum((jnp.argmax(logits, -1) == labels) & valid),
            jnp.sum(valid))

  def evaluate(variables, data, key) -> float:
    del key  # Classification accuracy is deterministic.
    correct = total = jnp.zeros((), jnp.int32)
    for batch in streams.prefetch_to_device(data.eval_batches()):
      c, n = counts(variables, batch)
      correct, total = correct + c, total + n
    if int(total) == 0:
      raise spec.InputError("the evaluation set is empty")
    # float32, as `accuracy` computes it, so early stops compare alike.
    return float(correct / total)

  return evaluate


def flax_apply(model: Any) -> ApplyFn:
  """Adapts a Flax module with a `train` argument to `ApplyFn`."""

  def apply(variables, images, train):
    mutable = [c for c in variables if c != "params"] if train else False
    if mutable:
      return model.apply(variables, images, train=True, mutable=mutable)
    return model.apply(variables, images, train=train), {}

  return apply
