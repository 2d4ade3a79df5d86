"""`fashion_mnist/cnn`: Fashion-MNIST (Xiao et al., 2017), a batch-normalised
convolutional network; `fashion_mnist/mlp`: the same data and recipe, a
784-512-512-10 MLP (issue 5's MLP speed anchor).

Data: the original IDX files, by default from Debian's `dataset-fashion-mnist`
package (`/usr/share/datasets/fashion-mnist`), or from `--data_dir`. They are
read directly (the default) or through tensorflow-datasets (switch
`tfds`): a builder of our own (`tfds_builder.py`) prepares them once
from that folder as its manual folder into mcbench's cache
(`$MCBENCH_CACHE_DIR/tfds`, default `~/.cache/mcbench/tfds`, keyed by the
files' sha256) and they are read back into the same arrays, in the same
order. Both give the same task; the tfds path needs the `tfds` extra.

    python -m benchmark.run --task=fashion_mnist/cnn --seeds=5
    python -m benchmark.run --task=fashion_mnist/cnn:smoke   # CI-sized
    python -m benchmark.run --task=fashion_mnist/cnn:tfds
"""

from __future__ import annotations

import hashlib
import os
import sys

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np

from agents import supervised
from contract import spec
from tasks import recipes, resnet_layers
from tasks.fashion_mnist.idx import DEFAULT_DATA_DIR, FILES, read_idx

MODELS = ("cnn", "mlp")
NUM_CLASSES = 10
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
      x = nn.Conv(channels, (3, 3), name=f"conv{i + 1}",
                  conv_general_dilated=resnet_layers.conv_general_dilated)(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                       name=f"bn{i + 1}")(x)
      x = nn.max_pool(nn.relu(x), (2, 2), strides=(2, 2))
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(self.hidden, name="dense1")(x))
    return nn.Dense(self.num_classes, name="head")(x)


class MLP(nn.Module):
  """Standardised pixels -> dense layers with ReLU -> head.

  Paths: `params/dense<i>/{kernel,bias}`, `params/head/{kernel,bias}`.
  """

  hidden_sizes: tuple[int, ...] = (512, 512)
  num_classes: int = NUM_CLASSES

  @nn.compact
  def __call__(self, images, train: bool = False):
    del train  # No batch statistics.
    x = (images.astype(jnp.float32) / 255.0 - MEAN) / STD
    x = x.reshape(x.shape[0], -1)
    for i, size in enumerate(self.hidden_sizes):
      x = nn.relu(nn.Dense(size, name=f"dense{i + 1}")(x))
    return nn.Dense(self.num_classes, name="head")(x)


def get_config(model: str, switches: list[str]) -> ml_collections.ConfigDict:
  """The recipe of `fashion_mnist/<model>`; switch `smoke` shrinks it for
  tests.

  Args:
    model: "cnn" or "mlp" (hidden layers of 512 and 512; otherwise the same
      recipe).
    switches: optional "smoke": 2,048 training and 1,000 test images, 60
      updates; for CI, not for results. Optional "tfds": read the IDX files
      through tensorflow-datasets (key `source = "tfds"`); it changes no
      example. The default config has no `source` key, so it is the config
      the committed originals were trained with before the switch existed.
  """
  recipes.check_switches(f"fashion_mnist/{model}", switches,
                         known=("smoke", "tfds"))
  config = ml_collections.ConfigDict()
  if model == "mlp":
    config.hidden_sizes = (512, 512)
  else:
    # The committed originals' config: its keys stay as they were.
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
  if "tfds" in switches:
    config.source = "tfds"
  if "smoke" in switches:
    config.batch_size = 64
    config.num_updates = 60
    config.warmup_updates = 5
    config.eval_geometric = 6
    config.eval_linear = 6
    config.max_train_examples = 2048
    config.max_test_examples = 1000
  return config


def _file_paths(data_dir: str) -> dict[str, str]:
  """The four IDX files' paths.

  Raises:
    spec.InputError: one is missing.
  """
  paths = {part: os.path.join(data_dir, name) for part, name in FILES.items()}
  for path in paths.values():
    if not os.path.isfile(path):
      raise spec.InputError(
          f"Fashion-MNIST file {path} not found: install Debian's package "
          "(apt-get install dataset-fashion-mnist) or pass --data_dir=DIR "
          f"holding {', '.join(FILES.values())}")
  return paths


def load_fashion_mnist(data_dir: str | None):
  """Returns `(train, test)` pairs of uint8 images `[n, 28, 28]` and labels."""
  data_dir = data_dir or DEFAULT_DATA_DIR
  arrays = {}
  for part, path in _file_paths(data_dir).items():
    try:
      arrays[part] = read_idx(path)
    except (OSError, EOFError) as e:
      raise spec.InputError(f"cannot read {path}: {e}") from e
  return ((arrays["train_images"], arrays["train_labels"]),
          (arrays["test_images"], arrays["test_labels"]))


def tfds_data_dir(data_dir: str | None) -> str:
  """The tfds data directory for the IDX files in `data_dir`: mcbench's cache,
  keyed by the files' contents (other files are another data set)."""
  digest = hashlib.sha256()
  for path in _file_paths(data_dir or DEFAULT_DATA_DIR).values():
    with open(path, "rb") as f:
      digest.update(f.read())
  return recipes.cache_dir("tfds", f"fashion-mnist-{digest.hexdigest()[:16]}")


def load_fashion_mnist_tfds(data_dir: str | None, max_train: int,
                            max_test: int):
  """The first examples of each split, read through tensorflow-datasets.

  Prepares the `mcbench_fashion_mnist` builder from the IDX files in
  `data_dir` (its manual folder) on first use, then reads `train[:max_train]`
  and `test[:max_test]` back. Returns what `load_fashion_mnist` returns,
  cut to the same prefixes: uint8 images `[n, 28, 28]` and uint8 labels, in
  the files' order.

  Raises:
    spec.InputError: missing files, tfds not installed, or examples that came
      back out of the files' order.
  """
  data_dir = data_dir or DEFAULT_DATA_DIR
  prepared_dir = tfds_data_dir(data_dir)
  # pylint: disable-next=g-import-not-at-top
  from tasks.fashion_mnist import tfds_builder  # Imports TensorFlow.
  tfds = tfds_builder.tfds
  builder = tfds_builder.McbenchFashionMnist(data_dir=prepared_dir)
  if not builder.is_prepared():
    print(f"preparing Fashion-MNIST from {data_dir} as a tfds data set in "
          f"{prepared_dir} (once)", file=sys.stderr)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.path.abspath(data_dir)))
  pairs = []
  for split, count in (("train", max_train), ("test", max_test)):
    examples = tfds.as_numpy(builder.as_dataset(
        split=f"{split}[:{count}]", batch_size=-1, shuffle_files=False))
    index = examples["index"]
    if not np.array_equal(index, np.arange(len(index))):
      raise spec.InputError(
          f"{prepared_dir}: the {split} split came back out of the IDX "
          "files' order; delete that folder to prepare it again")
    pairs.append((examples["image"], examples["label"].astype(np.uint8)))
  return tuple(pairs)


def build(model: str, config: ml_collections.ConfigDict,
          data_dir: str | None, train_fraction: float) -> spec.Task:
  if config.get("source") == "tfds":
    train, test = load_fashion_mnist_tfds(
        data_dir, config.max_train_examples, config.max_test_examples)
    source = (f"tfds mcbench_fashion_mnist prepared from "
              f"{os.path.abspath(data_dir or DEFAULT_DATA_DIR)}")
  else:
    train, test = load_fashion_mnist(data_dir)
    source = os.path.abspath(data_dir or DEFAULT_DATA_DIR)
  # Fixed prefixes: the files' order is already shuffled and the smoke subsets
  # must be the same on every machine.
  train = tuple(a[:config.max_train_examples] for a in train)
  test = tuple(a[:config.max_test_examples] for a in test)
  train = recipes.take_fraction(*train, train_fraction)
  dataset = recipes.make_dataset(
      train, test, eval_batch_size=min(config.eval_batch_size, len(test[0])))
  recipe = recipes.adam_warmup_cosine(config)
  compiler_options = {}
  if model == "mlp":
    network = MLP(tuple(config.hidden_sizes))
    description = (f"Fashion-MNIST, MLP 784-"
                   f"{'-'.join(map(str, config.hidden_sizes))}-10, Adam")
    # Its 64-run sweep ran 1.24 times as fast so on an H200 with
    # deterministic ops, one run at 64 times the batch 1.10 times (BUILD_NOTES,
    # 2026-12-03, fifth session).
    compiler_options = spec.CUBLAS_GEMMS
  else:
    network = CNN(tuple(config.channels), config.hidden)
    description = ("Fashion-MNIST, CNN 16-32 with batch norm, dense 128, "
                   "Adam")
  return recipes.supervised_task(
      name=f"fashion_mnist/{model}",
      init=recipes.flax_init(network, jnp.zeros((1, 28, 28), jnp.uint8)),
      apply=supervised.flax_apply(network),
      dataset=dataset, recipe=recipe, num_classes=NUM_CLASSES,
      description=description, compiler_options=compiler_options,
      data_info={"source": source,
                 "train_examples": len(train[0]),
                 "test_examples": len(test[0])})
