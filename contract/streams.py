"""Host-fed ("streamed") data: moving batches to the device ahead of use.

A streamed task (`spec.Task.streamed`) produces its batches on the host (a
`tf.data` pipeline decodes and augments them on CPU threads) because its data
set cannot live on the accelerator. `prefetch_to_device` keeps a short queue
of batches already on their way to the device: `jax.device_put` returns at
once and copies in the background, so the host prepares and transfers batch
`i + 1` while the device computes on batch `i`.

Example:

  for batch in prefetch_to_device(data.train_batches(key), size=2):
    state, loss = update(state, batch)  # Dispatched asynchronously.
"""

from __future__ import annotations

import collections
import itertools
from typing import Any, Iterable, Iterator

import jax

# Two batches in flight: one being computed on, one being copied. More only
# costs device memory (a ResNet-50 batch of 1,024 images is 154 MB of uint8).
DEFAULT_PREFETCH = 2


def prefetch_to_device(batches: Iterable[Any],
                       size: int = DEFAULT_PREFETCH) -> Iterator[Any]:
  """Yields the batches of `batches` as device arrays, `size` in flight.

  Args:
    batches: an iterable of pytrees of numpy arrays.
    size: how many batches are transferred ahead of the one being used.

  Yields:
    The same pytrees, in the same order, on the default device.
  """
  if size < 1:
    raise ValueError(f"prefetch size must be at least 1, got {size}")
  iterator = iter(batches)
  queue = collections.deque()

  def enqueue(n):
    for batch in itertools.islice(iterator, n):
      queue.append(jax.device_put(batch))

  enqueue(size)
  while queue:
    yield queue.popleft()
    enqueue(1)
