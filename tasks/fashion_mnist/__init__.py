"""`fashion_mnist/cnn`: Fashion-MNIST (Xiao et al., 2017), a batch-normalised
convolutional network.

Data: the original IDX files, by default from Debian's `dataset-fashion-mnist`
package (`/usr/share/datasets/fashion-mnist`), or from `--data_dir`.

    python -m benchmark.run --task=fashion_mnist/cnn --seeds=5
    python -m benchmark.run --task=fashion_mnist/cnn:smoke   # CI-sized
"""

from __future__ import annotations

import gzip
import os

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np

from agents import supervised
from tasks import recipes, spec

MODELS = ("cnn",)
NUM_CLASSES = 10
DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# Per-pixel statistics of the Fashion-MNIST training set (pixels in [0, 1]).
MEAN, STD = 0.2860, 0.3530


class CNN(nn.Module):
  """conv1-bn1-pool, conv2-bn2-pool, dense1, head.

  Paths: `params/conv1/{kernel,bias}`, `params/bn1/{scale,bias}`,
  `batch_stats/bn1/{mean,var}`, ..., `params/head/{kernel,bias}`.
  """

  channels: tuple[int, int] = (16, 32)
  hidden: int = 128
  num_classes: int = NUM_CLASSES

  @nn.compact
  def __call__(self, images, train: bool = False):
    x = (images.astype(jnp.float32)[..., None] / 255.0 - MEAN) / STD
    for i, channels in enumerate(self.channels):
      x = nn.Conv(channels, (3, 3), name=f"conv{i + 1}")(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                       name=f"bn{i + 1}")(x)
      x = nn.max_pool(nn.relu(x), (2, 2), strides=(2, 2))
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(self.hidden, name="dense1")(x))
    return nn.Dense(self.num_classes, name="head")(x)


def get_config(model: str, switches: list[str]) -> ml_collections.ConfigDict:
  """The recipe of `fashion_mnist/cnn`; switch `smoke` shrinks it for tests.

  Args:
    model: "cnn".
    switches: optional "smoke": 2,048 training and 1,000 test images, 60
      updates; for CI, not for results.
  """
  del model
  unknown = [s for s in switches if s != "smoke"]
  if unknown:
    raise spec.InputError(f"fashion_mnist/cnn has no switch {unknown[0]!r}; "
                          "known: smoke")
  config = ml_collections.ConfigDict()
  config.channels = (16, 32)
  config.hidden = 128
  config.batch_size = 128
  config.num_updates = 1404  # 3 epochs of 468 full batches.
  config.peak_learning_rate = 2e-3
  config.warmup_updates = 100
  config.eval_geometric = 12
  config.eval_linear = 20
  config.eval_batch_size = 1000
  config.max_train_examples = 60000
  config.max_test_examples = 10000
  if "smoke" in switches:
    config.batch_size = 64
    config.num_updates = 60
    config.warmup_updates = 5
    config.eval_geometric = 6
    config.eval_linear = 6
    config.max_train_examples = 2048
    config.max_test_examples = 1000
  return config


def read_idx(path: str) -> np.ndarray:
  """Reads one gzip-compressed IDX file (the MNIST family's format)."""
  with gzip.open(path, "rb") as f:
    raw = f.read()
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
    raise spec.InputError(f"{path} is not an IDX file of unsigned bytes")
  ndim = raw[3]
  dims = np.frombuffer(raw, ">u4", ndim, offset=4).astype(int)
  data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
  if data.size != np.prod(dims):
    raise spec.InputError(f"{path} is truncated: {data.size} bytes of data "
                          f"for shape {tuple(dims)}")
  return data.reshape(tuple(dims))


def load_fashion_mnist(data_dir: str | None):
  """Returns `(train, test)` pairs of uint8 images `[n, 28, 28]` and labels."""
  data_dir = data_dir or DEFAULT_DATA_DIR
  arrays = {}
  for part, filename in FILES.items():
    path = os.path.join(data_dir, filename)
    if not os.path.isfile(path):
      raise spec.InputError(
          f"Fashion-MNIST file {path} not found: install Debian's package "
          "(apt-get install dataset-fashion-mnist) or pass --data_dir=DIR "
          f"holding {', '.join(FILES.values())}")
    try:
      arrays[part] = read_idx(path)
    except (OSError, EOFError) as e:
      raise spec.InputError(f"cannot read {path}: {e}") from e
  return ((arrays["train_images"], arrays["train_labels"]),
          (arrays["test_images"], arrays["test_labels"]))


def build(model: str, config: ml_collections.ConfigDict,
          data_dir: str | None, train_fraction: float) -> spec.Task:
  del model
  train, test = load_fashion_mnist(data_dir)
  # Fixed prefixes: the files' order is already shuffled and the smoke subsets
  # must be the same on every machine.
  train = tuple(a[:config.max_train_examples] for a in train)
  test = tuple(a[:config.max_test_examples] for a in test)
  train = recipes.take_fraction(*train, train_fraction)
  dataset = recipes.make_dataset(
      train, test, eval_batch_size=min(config.eval_batch_size, len(test[0])))
  recipe = recipes.adam_warmup_cosine(config)
  network = CNN(tuple(config.channels), config.hidden)
  return recipes.supervised_task(
      name="fashion_mnist/cnn",
      init=recipes.flax_init(network, jnp.zeros((1, 28, 28), jnp.uint8)),
      apply=supervised.flax_apply(network),
      dataset=dataset, recipe=recipe, num_classes=NUM_CLASSES,
      description="Fashion-MNIST, CNN 16-32 with batch norm, dense 128, Adam",
      data_info={"source": os.path.abspath(data_dir or DEFAULT_DATA_DIR),
                 "train_examples": len(train[0]),
                 "test_examples": len(test[0])})
