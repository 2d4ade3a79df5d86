"""PRNG keys: one key per readable name, and typed-key leaves in a tree.

Every run's key is derived from the names of what it measures (task,
originals, split, procedure, seed), so any machine draws the same stream for
the same run and a changed name gives an unrelated one.
"""

from __future__ import annotations

import zlib
from typing import Any

import jax



def derive_key(*parts: Any) -> jax.Array:
  """A PRNG key folded from readable parts, e.g. (task, hash, split, T, seed).

  The same parts give the same key on every machine; any changed part gives
  an unrelated stream.
  """
  key = jax.random.key(0)
  for part in parts:
    key = jax.random.fold_in(key, zlib.crc32(str(part).encode()) & 0x7FFFFFFF)
  return key


def is_prng_key(leaf: Any) -> bool:
  """Whether `leaf` (an array or shape struct) holds typed PRNG keys."""
  return jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)
