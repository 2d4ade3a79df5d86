"""TensorFlow and tensorflow-datasets for the tasks that read data through tfds.

TensorFlow is imported lazily, only by the tfds code paths, so that the tasks
that do not use it never pay its import (about 5 s) or its memory. When it is
imported, it is told to see no GPU: TensorFlow only decodes and augments on
the host here, and a TensorFlow that initialises a GPU reserves most of its
memory, which JAX needs (the Flax ImageNet example does the same).

    tf, tfds = tfds_support.import_tfds()
"""

from __future__ import annotations

import os
import warnings

import jax
import numpy as np

from contract import spec

INSTALL_HINT = ("pip install -e '.[tfds]' (tensorflow-cpu and "
                "tensorflow-datasets)")


def import_tfds():
  """Returns `(tensorflow, tensorflow_datasets)` with TensorFlow's GPUs hidden.

  Raises:
    spec.InputError: the packages are not installed.
  """
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # No C++ banner noise.
  try:
    # pylint: disable=g-import-not-at-top
    import tensorflow as tf
    import tensorflow_datasets as tfds
  except ImportError as e:
    raise spec.InputError(
        f"this task reads its data through tensorflow-datasets, which is not "
        f"installed ({e}); {INSTALL_HINT}") from e
  try:
    tf.config.set_visible_devices([], "GPU")
  except RuntimeError:
    # TensorFlow was initialised before (by the caller): the GPUs it sees can
    # no longer change. Say so if it holds any.
    if tf.config.get_visible_devices("GPU"):
      warnings.warn("TensorFlow was initialised with a visible GPU before "
                    "mcbench could hide it; it may reserve GPU memory that "
                    "JAX needs", RuntimeWarning)
  return tf, tfds


def seed_from_key(key: jax.Array) -> int:
  """A non-negative int32 seed for TensorFlow's ops, drawn from a JAX key.

  The same key gives the same seed on every machine, so a `tf.data` pipeline
  seeded with it replays exactly.
  """
  bits = np.asarray(jax.random.bits(key, (), np.uint32))
  return int(bits) & 0x7FFFFFFF
