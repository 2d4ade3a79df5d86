"""`digits/mlp`: scikit-learn's 1,797 handwritten 8x8 digits, a small MLP.

The embedded default task: the data ship inside scikit-learn, so it needs no
download, and an original trains in seconds on a CPU. Its split is cached
as arrays (`$MCBENCH_CACHE_DIR`, default `~/.cache/mcbench`), so later
processes need not import scikit-learn.

    python -m benchmark.run --task=digits/mlp
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np

from agents import supervised
from contract import spec
from tasks import recipes

MODELS = ("mlp",)
NUM_CLASSES = 10


class MLP(nn.Module):
  """Two ReLU hidden layers and a linear head; paths `params/hidden1/kernel`,
  `params/hidden2/...`, `params/head/...`."""

  hidden_sizes: tuple[int, ...] = (64, 64)
  num_classes: int = NUM_CLASSES

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train  # No dropout or batch norm.
    for i, size in enumerate(self.hidden_sizes):
      x = nn.relu(nn.Dense(size, name=f"hidden{i + 1}")(x))
    return nn.Dense(self.num_classes, name="head")(x)


def get_config(model: str, switches: list[str]) -> ml_collections.ConfigDict:
  """The recipe of `digits/mlp`.

  Args:
    model: "mlp".
    switches: none are defined; any is an error.
  """
  del model
  if switches:
    raise spec.InputError(f"digits/mlp has no switch {switches[0]!r}")
  config = ml_collections.ConfigDict()
  config.hidden_sizes = (64, 64)
  config.test_fraction = 0.2  # 360 of 1,797 digits, stratified, fixed seed.
  config.batch_size = 64
  config.num_updates = 500  # About 22 epochs of the 1,437 training digits.
  config.peak_learning_rate = 3e-3
  config.warmup_updates = 20
  config.eval_geometric = 12  # Points in the geometric part of the schedule.
  config.eval_linear = 20
  return config


def split_digits(test_fraction: float) -> dict[str, np.ndarray]:
  """Train and test splits of sklearn's digits, pixels scaled to [0, 1]."""
  from sklearn import datasets, model_selection  # pylint: disable=g-import-not-at-top
  images, labels = datasets.load_digits(return_X_y=True)
  images = (images / 16.0).astype(np.float32)
  x_train, x_test, y_train, y_test = model_selection.train_test_split(
      images, labels, test_size=test_fraction, random_state=0, stratify=labels)
  return {"x_train": x_train, "y_train": y_train, "x_test": x_test,
          "y_test": y_test}


def _cache_path(test_fraction: float) -> str | None:
  """Where `split_digits`'s arrays are cached, keyed by the bundled data
  file's bytes and scikit-learn's version (its split); None where the file
  is not where scikit-learn 1.x keeps it. Found without importing
  scikit-learn, which takes about 3 s: the cache spares every later process
  that import."""
  found = importlib.util.find_spec("sklearn")
  if found is None:
    raise spec.InputError("digits/mlp needs scikit-learn (its data ship in "
                          "it): pip install scikit-learn")
  path = os.path.join(found.submodule_search_locations[0], "datasets", "data",
                      "digits.csv.gz")
  if not os.path.isfile(path):
    return None
  with open(path, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()[:16]
  version = importlib.metadata.version("scikit-learn")
  return recipes.cache_dir(
      f"digits-{digest}-sklearn{version}-test{test_fraction}.npz")


def load_digits(test_fraction: float):
  """`(train, test)` pairs of `split_digits`, cached (`_cache_path`)."""
  cache = _cache_path(test_fraction)
  arrays = (split_digits(test_fraction) if cache is None else
            recipes.cached_arrays(cache, lambda: split_digits(test_fraction)))
  return ((arrays["x_train"], arrays["y_train"]),
          (arrays["x_test"], arrays["y_test"]))


def build(model: str, config: ml_collections.ConfigDict,
          data_dir: str | None, train_fraction: float) -> spec.Task:
  del model
  if data_dir is not None:
    raise spec.InputError("digits/mlp reads scikit-learn's bundled data; "
                          "--data_dir does not apply")
  train, test = load_digits(config.test_fraction)
  train = recipes.take_fraction(*train, train_fraction)
  dataset = recipes.make_dataset(train, test, eval_batch_size=len(test[0]))
  recipe = recipes.adam_warmup_cosine(config)
  network = MLP(tuple(config.hidden_sizes))
  return recipes.supervised_task(
      name="digits/mlp",
      init=recipes.flax_init(network, jnp.zeros((1, 64), jnp.float32)),
      apply=supervised.flax_apply(network),
      dataset=dataset, recipe=recipe, num_classes=NUM_CLASSES,
      description="sklearn digits (8x8), MLP 64-64-10, Adam",
      default_seeds=10,  # A run costs seconds (protocol v2).
      data_info={"source": "sklearn.datasets.load_digits",
                 "train_examples": len(train[0]),
                 "test_examples": len(test[0])})
