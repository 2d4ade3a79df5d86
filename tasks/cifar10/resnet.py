"""CIFAR ResNets (He et al., 2016, section 4.2) and a fast ResNet-9-style net.

Module names are explicit so that split paths read as the architecture:

    params/stem/conv/kernel, params/stem/bn/{scale,bias}
    params/stage2/block0/conv1/kernel, .../bn1, .../conv2, .../bn2
    params/stage2/block0/shortcut/conv/kernel, .../shortcut/bn/...
    params/head/{kernel,bias}
    batch_stats/<same module paths>/{mean,var}

Shortcuts are 1x1 projections with batch norm where the shape changes
(option B); identity elsewhere. `dtype` is the computation's precision
(parameters and batch-norm statistics stay float32; flax reduces batch-norm
statistics in float32); logits are float32. `conv` is the convolution
function (`resnet_layers.conv_general_dilated`: XLA's; the others of
`resnet_layers.KERNEL_GRAD_CONVS` or `conv_as_matmul` for sweeps of runs
vmapped together).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from tasks import resnet_layers
from tasks.resnet_layers import ConvBN, Stage, standardise

# Per-channel statistics of the CIFAR-10 training images (pixels in [0, 1]).
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


class BasicBlock(nn.Module):
  """Two 3x3 convolutions with batch norm and a residual connection."""

  channels: int
  stride: int = 1
  dtype: Any = jnp.float32
  conv: Any = resnet_layers.conv_general_dilated

  @nn.compact
  def __call__(self, x, train: bool):
    norm = functools.partial(nn.BatchNorm, use_running_average=not train,
                             momentum=0.9, dtype=self.dtype)
    conv = functools.partial(nn.Conv, kernel_size=(3, 3), use_bias=False,
                             dtype=self.dtype,
                             conv_general_dilated=self.conv)
    y = conv(self.channels, strides=(self.stride, self.stride),
             name="conv1")(x)
    y = nn.relu(norm(name="bn1")(y))
    y = conv(self.channels, name="conv2")(y)
    y = norm(name="bn2")(y)
    if self.stride != 1 or x.shape[-1] != self.channels:
      x = ConvBN(self.channels, 1, self.stride, self.dtype, conv=self.conv,
                 name="shortcut")(x, train)
    return nn.relu(x + y)


class CifarResNet(nn.Module):
  """ResNet-(6n+2) for 32x32 images: stem, 3 stages of n blocks, head."""

  blocks_per_stage: int = 3
  widths: tuple[int, int, int] = (16, 32, 64)
  num_classes: int = 10
  dtype: Any = jnp.float32
  conv: Any = resnet_layers.conv_general_dilated

  @nn.compact
  def __call__(self, images, train: bool = False):
    x = standardise(images, MEAN, STD, self.dtype)
    x = nn.relu(ConvBN(self.widths[0], dtype=self.dtype, conv=self.conv,
                       name="stem")(x, train))
    block = functools.partial(BasicBlock, conv=self.conv)
    for i, width in enumerate(self.widths):
      x = Stage(block, width, self.blocks_per_stage, 1 if i == 0 else 2,
                self.dtype, name=f"stage{i + 1}")(x, train)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=self.dtype,
                    name="head")(x).astype(jnp.float32)


ResNet20 = functools.partial(CifarResNet, blocks_per_stage=3)
ResNet56 = functools.partial(CifarResNet, blocks_per_stage=9)


class FastNet(nn.Module):
  """A ResNet-9-style net (Page's DAWNBench design, half width by default):
  stem, three pooled stages, residual blocks after the first and last."""

  widths: tuple[int, int, int, int] = (32, 64, 128, 256)
  num_classes: int = 10
  dtype: Any = jnp.float32
  conv: Any = resnet_layers.conv_general_dilated

  @nn.compact
  def __call__(self, images, train: bool = False):
    x = standardise(images, MEAN, STD, self.dtype)
    x = nn.relu(ConvBN(self.widths[0], dtype=self.dtype, conv=self.conv,
                       name="stem")(x, train))
    for i, width in enumerate(self.widths[1:], start=1):
      x = nn.relu(ConvBN(width, dtype=self.dtype, conv=self.conv,
                         name=f"stage{i}")(x, train))
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
      if i in (1, 3):
        x = BasicBlock(width, dtype=self.dtype, conv=self.conv,
                       name=f"residual{i}")(x, train)
    x = jnp.max(x, axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=self.dtype,
                    name="head")(x).astype(jnp.float32)
