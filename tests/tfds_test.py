"""Fashion-MNIST through tensorflow-datasets, on the real IDX files: our
builder prepares them from a manual folder, and the tfds-fed task must hold
the direct reader's arrays, in its order."""

import gzip
import shutil

import numpy as np
import pytest

from contract.spec import InputError
from tasks import fashion_mnist, registry


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv("MCBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield


@pytest.fixture(scope="module")
def builder_module():
  """`tfds_builder`, imported here: importing it imports TensorFlow."""
  # pylint: disable-next=g-import-not-at-top
  from tasks.fashion_mnist import tfds_builder
  return tfds_builder


def test_tfds_fed_and_direct_fed_give_the_same_examples(capfd):
  direct = fashion_mnist.load_fashion_mnist(None)
  via_tfds = fashion_mnist.load_fashion_mnist_tfds(None, 60000, 10000)
  assert "preparing Fashion-MNIST" in capfd.readouterr().err
  # Images and labels of both splits: 70,000 examples, equal byte for byte.
  for a, b in zip(direct[0] + direct[1], via_tfds[0] + via_tfds[1]):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)
  # The tasks: same arrays on the device, in the same order.
  direct_task = registry.get_task("fashion_mnist/cnn:smoke")
  tfds_task = registry.get_task("fashion_mnist/cnn:smoke,tfds")
  assert "preparing" not in capfd.readouterr().err  # Prepared once.
  assert tfds_task.name != direct_task.name  # Records tell them apart.
  assert tfds_task.data_info["source"].startswith("tfds mcbench_fashion_mnist")
  for field in direct_task.data._fields:
    a = np.asarray(getattr(direct_task.data, field))
    b = np.asarray(getattr(tfds_task.data, field))
    assert a.dtype == b.dtype and a.shape == b.shape, field
    np.testing.assert_array_equal(a, b, err_msg=field)
  assert direct_task.data.train_images.shape[0] == 2048


def test_prepared_data_are_keyed_by_the_files_contents(tmp_path):
  for name in fashion_mnist.FILES.values():
    shutil.copy(f"{fashion_mnist.DEFAULT_DATA_DIR}/{name}", tmp_path)
  same = fashion_mnist.tfds_data_dir(str(tmp_path))
  assert same == fashion_mnist.tfds_data_dir(None)
  labels = tmp_path / fashion_mnist.FILES["test_labels"]
  raw = bytearray(gzip.open(labels).read())
  raw[-1] = (raw[-1] + 1) % 10
  with gzip.open(labels, "wb") as f:
    f.write(bytes(raw))
  assert fashion_mnist.tfds_data_dir(str(tmp_path)) != same


def test_builder_errors_when_the_manual_folder_lacks_files(tmp_path,
                                                           builder_module):
  tfds = builder_module.tfds
  manual = tmp_path / "manual"
  manual.mkdir()
  shutil.copy(f"{fashion_mnist.DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz",
              manual)
  builder = builder_module.McbenchFashionMnist(data_dir=str(tmp_path / "d"))
  with pytest.raises(InputError, match=r"lacks train-labels-idx1-ubyte.gz, "
                     r"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz"):
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(manual)))
  with pytest.raises(InputError, match="does not exist or is empty"):
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(tmp_path / "absent")))
  assert not builder.is_prepared()


def test_missing_files_and_unknown_source_are_input_errors(tmp_path):
  with pytest.raises(InputError, match="apt-get install dataset-fashion-mnist"):
    registry.get_task("fashion_mnist/cnn:smoke,tfds", data_dir=str(tmp_path))
  with pytest.raises(InputError, match="has no switch 'hdf5'; known: smoke, "
                     "tfds"):
    registry.get_task("fashion_mnist/cnn:smoke,hdf5")

