"""Building blocks shared by the ResNets of the vision tasks.

The CIFAR ResNets and FastNet (`tasks/cifar10/resnet.py`) and ResNet-50
(`tasks/imagenet/resnet50.py`) name their modules alike, so that the built-in
split families read the architecture from the paths: `.../conv`, `.../bn`
inside a `ConvBN`, `stage<i>/block<j>` for the blocks of a `Stage`.
`dtype` is the computation's precision; parameters and batch-norm statistics
stay float32 (flax reduces the statistics in float32).
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp


class ConvBN(nn.Module):
  """conv (no bias) -> batch norm with momentum 0.9, named `conv` and `bn`."""

  channels: int
  kernel: int = 3
  stride: int = 1
  dtype: Any = jnp.float32
  kernel_init: Any = nn.initializers.lecun_normal()  # Flax's default.

  @nn.compact
  def __call__(self, x, train: bool):
    x = nn.Conv(self.channels, (self.kernel, self.kernel),
                strides=(self.stride, self.stride), use_bias=False,
                kernel_init=self.kernel_init, dtype=self.dtype,
                name="conv")(x)
    return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                        dtype=self.dtype, name="bn")(x)


class Stage(nn.Module):
  """`num_blocks` residual blocks named `block<i>`; the first may downsample.

  Attributes:
    block: the block's module class, called as
      `block(channels, stride, dtype, name=...)(x, train)`.
  """

  block: Any
  channels: int
  num_blocks: int
  stride: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    for i in range(self.num_blocks):
      x = self.block(self.channels, self.stride if i == 0 else 1, self.dtype,
                     name=f"block{i}")(x, train)
    return x


def standardise(images, mean: Sequence[float], std: Sequence[float],
                dtype: Any = jnp.float32):
  """uint8 images `[..., 3]` -> per-channel standardised values in `dtype`
  (`mean` and `std` of the pixels in [0, 1])."""
  x = images.astype(jnp.float32) / 255.0
  return ((x - jnp.asarray(mean)) / jnp.asarray(std)).astype(dtype)
