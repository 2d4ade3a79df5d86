"""CIFAR ResNets (He et al., 2016, section 4.2) and a fast ResNet-9-style net.

Module names are explicit so that split paths read as the architecture:

    params/stem/conv/kernel, params/stem/bn/{scale,bias}
    params/stage2/block0/conv1/kernel, .../bn1, .../conv2, .../bn2
    params/stage2/block0/shortcut/conv/kernel, .../shortcut/bn/...
    params/head/{kernel,bias}
    batch_stats/<same module paths>/{mean,var}

Shortcuts are 1x1 projections with batch norm where the shape changes
(option B); identity elsewhere.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax.numpy as jnp

# Per-channel statistics of the CIFAR-10 training images (pixels in [0, 1]).
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


class ConvBN(nn.Module):
  """conv -> batch norm (named `conv`, `bn`)."""

  channels: int
  kernel: int = 3
  stride: int = 1

  @nn.compact
  def __call__(self, x, train: bool):
    x = nn.Conv(self.channels, (self.kernel, self.kernel),
                strides=(self.stride, self.stride), use_bias=False,
                name="conv")(x)
    return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                        name="bn")(x)


class BasicBlock(nn.Module):
  """Two 3x3 convolutions with batch norm and a residual connection."""

  channels: int
  stride: int = 1

  @nn.compact
  def __call__(self, x, train: bool):
    norm = functools.partial(nn.BatchNorm, use_running_average=not train,
                             momentum=0.9)
    y = nn.Conv(self.channels, (3, 3), strides=(self.stride, self.stride),
                use_bias=False, name="conv1")(x)
    y = nn.relu(norm(name="bn1")(y))
    y = nn.Conv(self.channels, (3, 3), use_bias=False, name="conv2")(y)
    y = norm(name="bn2")(y)
    if self.stride != 1 or x.shape[-1] != self.channels:
      x = ConvBN(self.channels, 1, self.stride, name="shortcut")(x, train)
    return nn.relu(x + y)


class Stage(nn.Module):
  """`num_blocks` basic blocks; the first one may downsample."""

  channels: int
  num_blocks: int
  stride: int

  @nn.compact
  def __call__(self, x, train: bool):
    for i in range(self.num_blocks):
      x = BasicBlock(self.channels, self.stride if i == 0 else 1,
                     name=f"block{i}")(x, train)
    return x


def normalise(images):
  """uint8 `[n, 32, 32, 3]` -> float32, standardised per channel."""
  x = images.astype(jnp.float32) / 255.0
  return (x - jnp.asarray(MEAN)) / jnp.asarray(STD)


class CifarResNet(nn.Module):
  """ResNet-(6n+2) for 32x32 images: stem, 3 stages of n blocks, head."""

  blocks_per_stage: int = 3
  widths: tuple[int, int, int] = (16, 32, 64)
  num_classes: int = 10

  @nn.compact
  def __call__(self, images, train: bool = False):
    x = nn.relu(ConvBN(self.widths[0], name="stem")(normalise(images), train))
    for i, width in enumerate(self.widths):
      x = Stage(width, self.blocks_per_stage, 1 if i == 0 else 2,
                name=f"stage{i + 1}")(x, train)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, name="head")(x)


ResNet20 = functools.partial(CifarResNet, blocks_per_stage=3)
ResNet56 = functools.partial(CifarResNet, blocks_per_stage=9)


class FastNet(nn.Module):
  """A ResNet-9-style net (Page's DAWNBench design, half width by default):
  stem, three pooled stages, residual blocks after the first and last."""

  widths: tuple[int, int, int, int] = (32, 64, 128, 256)
  num_classes: int = 10

  @nn.compact
  def __call__(self, images, train: bool = False):
    x = nn.relu(ConvBN(self.widths[0], name="stem")(normalise(images), train))
    for i, width in enumerate(self.widths[1:], start=1):
      x = nn.relu(ConvBN(width, name=f"stage{i}")(x, train))
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
      if i in (1, 3):
        x = BasicBlock(width, name=f"residual{i}")(x, train)
    x = jnp.max(x, axis=(1, 2))
    return nn.Dense(self.num_classes, name="head")(x)
