"""Building blocks shared by the supervised tasks: schedules, data, assembly."""

from __future__ import annotations

import math
import os
import sys
import zipfile
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents import supervised
from contract import spec


def cache_dir(*parts: str) -> str:
  """A folder under mcbench's cache for decoded or prepared data:
  `$MCBENCH_CACHE_DIR` (default `~/.cache/mcbench`) joined with `parts`."""
  root = os.environ.get("MCBENCH_CACHE_DIR",
                        os.path.expanduser("~/.cache/mcbench"))
  return os.path.join(root, *parts)


def cached_arrays(path: str, compute: Callable[[], dict[str, np.ndarray]],
                  message: str | None = None) -> dict[str, np.ndarray]:
  """The arrays saved in the `.npz` file `path`, or `compute()`'s, saved
  there for the next process (atomically, so a process killed mid-write
  leaves no file that reads back wrong; where it cannot be written, the
  arrays are returned all the same). `message` is printed to stderr before
  computing; an unreadable file is computed again."""
  try:
    with np.load(path) as arrays:
      return dict(arrays)
  except (OSError, ValueError, zipfile.BadZipFile):
    pass  # Missing (the usual case) or damaged.
  if message:
    print(message, file=sys.stderr)
  arrays = compute()
  tmp = f"{path}.{os.getpid()}.tmp.npz"
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
  except OSError as e:  # A cache is a saving, not a requirement.
    print(f"not cached ({e})", file=sys.stderr)
  return arrays


def check_switches(task: str, switches: list[str],
                   known: tuple[str, ...] = ("smoke",)) -> None:
  """Raises `spec.InputError` naming the first switch `task` does not know."""
  unknown = [s for s in switches if s not in known]
  if unknown:
    raise spec.InputError(f"{task} has no switch {unknown[0]!r}; known: "
                          f"{', '.join(known)}")


def eval_schedule(num_updates: int, num_geometric: int = 12,
                  num_linear: int = 20,
                  geometric_end_fraction: float = 0.1) -> tuple[int, ...]:
  """Evaluation points: 0, a geometric run up to a tenth of the budget, then
  evenly spaced to the end.

  Dense near the start so that `t(alpha)` is resolved where completion is
  fast (PROTOCOL.md), linear afterwards so the scratch curve is resolved too.

  Example: `eval_schedule(500)` starts `(0, 1, 2, 3, 4, 6, 8, ...)` and ends
  `(..., 475, 500)`.
  """
  geometric_end = max(1, int(num_updates * geometric_end_fraction))
  geometric = np.geomspace(1, geometric_end, num_geometric)
  linear = np.linspace(geometric_end, num_updates, num_linear + 1)
  points = np.unique(np.concatenate([[0], np.round(geometric),
                                     np.round(linear)]).astype(int))
  return tuple(int(p) for p in points if p <= num_updates)


def warmup_cosine(peak: float, warmup: int, total: int) -> optax.Schedule:
  """Linear warm-up from 0 to `peak`, then cosine decay to 0 at `total`."""
  return optax.warmup_cosine_decay_schedule(0.0, peak, warmup, total, 0.0)


def sgd_nesterov_kernel_decay(weight_decay: float, momentum: float = 0.9):
  """The ResNet optimiser: SGD with Nesterov momentum, weight decay on
  convolution and dense kernels only (not on biases or batch-norm vectors).

  Returns:
    `learning_rate -> GradientTransformation`, a `Recipe.optimizer`. The
    kernel mask is static (by name), so a procedure's traced freezing wraps
    it unchanged.
  """
  def kernels_only(params):
    return jax.tree_util.tree_map_with_path(
        lambda path, _: getattr(path[-1], "key", None) == "kernel", params)

  def optimizer(learning_rate: optax.ScalarOrSchedule):
    return optax.chain(
        optax.masked(optax.add_decayed_weights(weight_decay), kernels_only),
        optax.sgd(learning_rate, momentum=momentum, nesterov=True))

  return optimizer


def adam_warmup_cosine(config: Any) -> spec.Recipe:
  """Adam with a linear warm-up and cosine decay, evaluated on `eval_schedule`.

  Reads `peak_learning_rate, warmup_updates, num_updates, batch_size,
  eval_geometric, eval_linear` from the task's config.
  """
  return spec.Recipe(
      optimizer=optax.adam,
      schedule=warmup_cosine(config.peak_learning_rate, config.warmup_updates,
                             config.num_updates),
      peak_learning_rate=config.peak_learning_rate,
      batch_size=config.batch_size,
      num_updates=config.num_updates,
      eval_updates=eval_schedule(config.num_updates, config.eval_geometric,
                                 config.eval_linear))


def random_crop_and_flip(padding: int = 4) -> supervised.AugmentFn:
  """The standard CIFAR augmentation: pad, crop back at a random offset, and
  flip left-right with probability 1/2; per image, on the device."""

  def augment(key, images):
    n, height, width = images.shape[:3]
    crop_key, flip_key = jax.random.split(key)
    padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding),
                              (0, 0)), mode="reflect")
    offsets = jax.random.randint(crop_key, (n, 2), 0, 2 * padding + 1)

    def crop(image, offset):
      return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0),
                                   (height, width, image.shape[-1]))

    cropped = jax.vmap(crop)(padded, offsets)
    flip = jax.random.bernoulli(flip_key, 0.5, (n, 1, 1, 1))
    return jnp.where(flip, cropped[:, :, ::-1], cropped)

  return augment


def pad_into_batches(images: np.ndarray, labels: np.ndarray,
                     batch_size: int) -> tuple[np.ndarray, ...]:
  """Reshapes an evaluation set into full batches plus a validity mask."""
  n = len(images)
  num_batches = math.ceil(n / batch_size)
  pad = num_batches * batch_size - n
  valid = np.concatenate([np.ones(n, bool), np.zeros(pad, bool)])
  images = np.concatenate([images, np.zeros((pad,) + images.shape[1:],
                                            images.dtype)])
  labels = np.concatenate([labels, np.zeros(pad, labels.dtype)])
  shape = (num_batches, batch_size)
  return (images.reshape(shape + images.shape[1:]), labels.reshape(shape),
          valid.reshape(shape))


def check_train_fraction(fraction: float) -> None:
  """Raises `spec.InputError` unless the data budget is in (0, 1]."""
  if not 0.0 < fraction <= 1.0:
    raise spec.InputError(f"train fraction must be in (0, 1], got {fraction}")


def take_fraction(images: np.ndarray, labels: np.ndarray,
                  fraction: float) -> tuple[np.ndarray, np.ndarray]:
  """A fixed random subset of the training set (the adversary's data budget).

  The subset depends only on the data and `fraction` (a fixed permutation), so
  every completion run of a sweep sees the same examples.
  """
  check_train_fraction(fraction)
  if fraction == 1.0:
    return images, labels
  keep = max(1, int(round(len(images) * fraction)))
  order = np.random.default_rng(0).permutation(len(images))[:keep]
  return images[np.sort(order)], labels[np.sort(order)]


def make_dataset(train: tuple[np.ndarray, np.ndarray],
                 test: tuple[np.ndarray, np.ndarray],
                 eval_batch_size: int) -> supervised.Dataset:
  eval_images, eval_labels, eval_valid = pad_into_batches(
      test[0], test[1].astype(np.int32), eval_batch_size)
  return supervised.Dataset(
      train_images=jnp.asarray(train[0]),
      train_labels=jnp.asarray(train[1].astype(np.int32)),
      eval_images=jnp.asarray(eval_images),
      eval_labels=jnp.asarray(eval_labels),
      eval_valid=jnp.asarray(eval_valid))


def supervised_task(name: str, init: Any, apply: supervised.ApplyFn,
                    dataset: supervised.Dataset, recipe: spec.Recipe,
                    num_classes: int,
                    augment: supervised.AugmentFn | None = None,
                    **info) -> spec.Task:
  """Assembles a classification task from a model, data and recipe.

  Works for any framework: `init(key) -> variables` and `apply` (see
  `supervised.ApplyFn`) are all it needs of the model.

  Raises:
    spec.InputError: the training set is smaller than one batch.
  """
  num_examples = dataset.train_images.shape[0]
  if num_examples < recipe.batch_size:
    raise spec.InputError(
        f"{name}: training set of {num_examples} examples is smaller than one "
        f"batch ({recipe.batch_size}); raise the train fraction")

  def make_learner(tx, trainable):
    return supervised.make_learner(apply, recipe.batch_size,
                                   recipe.num_updates, dataset, tx,
                                   trainable, augment)

  def evaluate(variables, data, key):
    del key  # Classification accuracy is deterministic.
    return supervised.accuracy(apply, variables, data)

  info.setdefault("evaluation_error", supervised.accuracy_standard_error(
      int(np.asarray(dataset.eval_valid).sum())))
  return spec.Task(name=name, init=init, recipe=recipe,
                   make_learner=make_learner, evaluate=evaluate, data=dataset,
                   p0=1.0 / num_classes, **info)


def flax_init(model: Any, example_input: jax.Array):
  """`init(key) -> variables` for a Flax module called as `model(x, train)`."""

  def init(key):
    return dict(model.init(key, example_input, train=False))

  return init
