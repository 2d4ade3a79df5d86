"""Fashion-MNIST as a tensorflow-datasets data set prepared from local files.

tfds's way for data that a program cannot (or should not) download: a
dataset builder of our own whose `_split_generators` reads the files a user
put in its manual folder. Here these are the four IDX files of Debian's
`dataset-fashion-mnist` package, read by the same parser as the direct path
(`idx.read_idx`), so that `fashion_mnist/cnn:tfds` runs the
real tfds path (preparation, TFRecord shards, `as_dataset`) on real files and
must give the direct reader's arrays, in its order.

Importing this module imports TensorFlow and tensorflow-datasets (GPUs
hidden) and registers the builder `mcbench_fashion_mnist` with tfds.

    builder = McbenchFashionMnist(data_dir=DATA_DIR)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir="/usr/share/datasets/fashion-mnist"))
    train = tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1))
"""

from __future__ import annotations

import os

import numpy as np

from contract import spec
from tasks import tfds_support
from tasks.fashion_mnist import idx

_, tfds = tfds_support.import_tfds()

SPLIT_FILES = {
    "train": ("train_images", "train_labels"),
    "test": ("test_images", "test_labels"),
}


class McbenchFashionMnist(tfds.core.GeneratorBasedBuilder):
  """Fashion-MNIST from the original IDX files in a manual folder.

  Each example keeps its position in the IDX file (`index`), and the builder
  disables tfds's shuffling at write time, so that a split reads back in the
  files' order and a prefix (`train[:2048]`) is the files' first examples.
  """

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Fashion-MNIST IDX files, in the files' order."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Put the four Fashion-MNIST IDX files "
      f"({', '.join(idx.FILES.values())}) in the manual folder: "
      "Debian's package dataset-fashion-mnist installs them in "
      f"{idx.DEFAULT_DATA_DIR}, or download them from "
      "github.com/zalandoresearch/fashion-mnist.")

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description="Fashion-MNIST (Xiao et al., 2017) from its IDX files.",
        features=tfds.features.FeaturesDict({
            # Raw uint8 pixels as in the IDX file: no encoding, exact.
            "image": tfds.features.Tensor(shape=(28, 28), dtype=np.uint8),
            "label": tfds.features.ClassLabel(num_classes=10),
            "index": tfds.features.Scalar(dtype=np.int64),
        }),
        supervised_keys=("image", "label"),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        disable_shuffling=True,
    )

  def _split_generators(self, dl_manager):
    files = ", ".join(idx.FILES.values())
    try:
      manual_dir = os.fspath(dl_manager.manual_dir)
    except AssertionError as e:  # tfds: missing or empty, in many lines.
      raise spec.InputError(
          f"mcbench_fashion_mnist: {str(e).split('. ')[0]}; put {files} "
          "there (Debian's dataset-fashion-mnist installs them)") from e
    missing = [name for name in idx.FILES.values()
               if not os.path.isfile(os.path.join(manual_dir, name))]
    if missing:
      raise spec.InputError(
          f"mcbench_fashion_mnist: the manual folder {manual_dir} lacks "
          f"{', '.join(missing)}; put {files} there (Debian's "
          "dataset-fashion-mnist installs them)")
    return {split: self._generate_examples(
        os.path.join(manual_dir, idx.FILES[images]),
        os.path.join(manual_dir, idx.FILES[labels]))
            for split, (images, labels) in SPLIT_FILES.items()}

  def _generate_examples(self, images_path: str, labels_path: str):
    images = idx.read_idx(images_path)
    labels = idx.read_idx(labels_path)
    if len(images) != len(labels) or images.shape[1:] != (28, 28):
      raise spec.InputError(
          f"{images_path} and {labels_path} do not match: images "
          f"{images.shape}, labels {labels.shape}")
    for i, (image, label) in enumerate(zip(images, labels)):
      yield i, {"image": image, "label": int(label), "index": i}
