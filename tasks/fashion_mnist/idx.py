"""Fashion-MNIST's files: where they live and how an IDX file is read.

Shared by the task (`tasks.fashion_mnist`) and its tfds builder
(`tasks.fashion_mnist.tfds_builder`), so neither imports the other.
"""

from __future__ import annotations

import gzip

import numpy as np

from contract import spec

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


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
