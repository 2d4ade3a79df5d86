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
import jax
import jax.numpy as jnp


def conv_as_matmul(lhs, rhs, window_strides, padding, lhs_dilation=None,
                   rhs_dilation=None, dimension_numbers=None,
                   feature_group_count=1, precision=None):
  """`lax.conv_general_dilated` of NHWC images and an HWIO kernel, computed
  as shifted slices of the padded images and one matrix product (im2col).

  Why: vmapped over runs whose kernels differ, a convolution becomes a
  grouped convolution, which GPUs run slowly (BUILD_NOTES); this form
  becomes a batched matrix product instead. It costs `kh x kw` times the
  activations' memory. Flax's `nn.Conv(conv_general_dilated=...)` takes
  it; the parameters are the same as with the default convolution.
  """
  del dimension_numbers  # Flax's default for 2D inputs: NHWC, HWIO, NHWC.
  if (feature_group_count != 1 or any(d != 1 for d in lhs_dilation or ())
      or any(d != 1 for d in rhs_dilation or ())):
    raise NotImplementedError("conv_as_matmul: no groups and no dilation")
  kh, kw, cin, cout = rhs.shape
  if isinstance(padding, str):
    padding = jax.lax.padtype_to_pads(lhs.shape[1:3], (kh, kw),
                                      window_strides, padding)
  x = jnp.pad(lhs, ((0, 0), *padding, (0, 0)))
  (sh, sw), (height, width) = window_strides, x.shape[1:3]
  out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
  # Channels ordered (row, column, input channel): the kernel's own order.
  patches = jnp.concatenate(
      [x[:, i:i + (out_h - 1) * sh + 1:sh, j:j + (out_w - 1) * sw + 1:sw]
       for i in range(kh) for j in range(kw)], axis=-1)
  return jnp.einsum("nhwk,ko->nhwo", patches,
                    rhs.reshape(kh * kw * cin, cout), precision=precision)


class ConvBN(nn.Module):
  """conv (no bias) -> batch norm with momentum 0.9, named `conv` and `bn`."""

  channels: int
  kernel: int = 3
  stride: int = 1
  dtype: Any = jnp.float32
  kernel_init: Any = nn.initializers.lecun_normal()  # Flax's default.
  conv: Any = None  # The convolution function (None: XLA's own).

  @nn.compact
  def __call__(self, x, train: bool):
    x = nn.Conv(self.channels, (self.kernel, self.kernel),
                strides=(self.stride, self.stride), use_bias=False,
                kernel_init=self.kernel_init, dtype=self.dtype,
                conv_general_dilated=self.conv, name="conv")(x)
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
