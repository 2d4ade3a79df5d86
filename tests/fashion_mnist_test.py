"""fashion_mnist/cnn on the real IDX files of Debian's dataset-fashion-mnist."""

import gzip
import os

import jax
import numpy as np
import pytest

from benchmark.publishing import leaderboard
from benchmark.sweeps import originals as originals_lib
from benchmark.sweeps import storage, sweep
from contract.spec import InputError
from tasks import fashion_mnist, registry


def test_idx_files_are_read_with_the_published_shapes_and_labels():
  train, test = fashion_mnist.load_fashion_mnist(None)
  assert train[0].shape == (60000, 28, 28) and train[0].dtype == np.uint8
  assert test[0].shape == (10000, 28, 28)
  assert np.array_equal(np.bincount(train[1]), np.full(10, 6000))
  assert np.array_equal(np.bincount(test[1]), np.full(10, 1000))
  # The statistics the model normalises with are the training set's.
  pixels = train[0] / 255.0
  assert pixels.mean() == pytest.approx(fashion_mnist.MEAN, abs=1e-3)
  assert pixels.std() == pytest.approx(fashion_mnist.STD, abs=1e-3)


def test_truncated_or_foreign_files_are_refused(tmp_path):
  path = tmp_path / "bad.gz"
  with gzip.open(path, "wb") as f:
    f.write(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
  with pytest.raises(InputError, match="truncated"):
    fashion_mnist.read_idx(str(path))
  with gzip.open(path, "wb") as f:
    f.write(b"PK\x03\x04")
  with pytest.raises(InputError, match="not an IDX file"):
    fashion_mnist.read_idx(str(path))


def test_missing_data_names_the_package():
  with pytest.raises(InputError, match="apt-get install dataset-fashion-mnist"):
    registry.get_task("fashion_mnist/cnn", data_dir="/nonexistent")


def test_train_fraction_keeps_a_fixed_subset():
  a = registry.get_task("fashion_mnist/cnn:smoke", train_fraction=0.5)
  b = registry.get_task("fashion_mnist/cnn:smoke", train_fraction=0.5)
  assert a.data.train_images.shape[0] == 1024
  assert np.array_equal(a.data.train_labels, b.data.train_labels)


def test_smoke_sweep_end_to_end(tmp_path):
  settings = sweep.SweepSettings(
      task="fashion_mnist/cnn:smoke", splits=("layer.bn2",),
      procedures=("T1",), seeds=1, num_originals=1, alphas=(0.5,),
      workdir=str(tmp_path), bootstrap_reps=100)
  result = leaderboard.sweep_and_write(settings, log=lambda _: None)
  assert len(result["records"]) == 1
  assert "| layer.bn2 |" in result["markdown"]
  assert "batch_stats/bn2/mean" in open(result["records"][0]).read()


def test_default_config_is_the_one_of_the_committed_originals():
  """The tfds switch adds a key; the default recipe stays the one the
  committed originals and records were trained and measured with."""
  manifest = storage.read_json(os.path.join(
      os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results",
      "originals", "fashion_mnist-cnn", "seed-0", "manifest.json"))
  assert manifest["task_config"] == storage.as_json(
      registry.get_config("fashion_mnist/cnn")[2].to_dict())
  assert registry.get_config("fashion_mnist/cnn:tfds")[2].source == "tfds"


def test_mlp_trains_on_the_same_data_and_recipe(tmp_path):
  """fashion_mnist/mlp (issue 5's MLP anchor, 784-512-512-10): the CNN's
  data and schedule, its own layers, and an original learns the real
  images (the sweep path is the CNN's, above)."""
  mlp = registry.get_task("fashion_mnist/mlp:smoke")
  cnn = registry.get_task("fashion_mnist/cnn:smoke")
  assert mlp.name == "fashion_mnist/mlp:smoke"
  assert np.array_equal(mlp.data.train_labels, cnn.data.train_labels)
  assert mlp.recipe.num_updates == cnn.recipe.num_updates
  params = mlp.init(jax.random.key(0))["params"]
  assert {k: v["kernel"].shape for k, v in params.items()} == {
      "dense1": (784, 512), "dense2": (512, 512), "head": (512, 10)}
  [original] = originals_lib.train_originals(mlp, str(tmp_path), [0],
                                             log=lambda _: None)
  assert original.p_star > 0.7 > mlp.p0  # It learns the real images.
