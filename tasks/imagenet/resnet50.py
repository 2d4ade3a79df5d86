"""ResNet-50 v1.5 for ImageNet (He et al., 2016; v1.5 as in torchvision, the
Flax ImageNet example and MLPerf).

v1.5 differs from the paper's v1 only where a bottleneck block downsamples:
the stride 2 sits in the 3x3 convolution (`conv2`) instead of the first 1x1
(`conv1`), which costs about 12% more compute and gains about 0.5 points of
top-1 accuracy. Batch norm follows every convolution (post-activation, not
v2's pre-activation), and the last batch norm of each block starts with a
zero scale, so every residual block starts as the identity (Goyal et al.,
2017), which the large-batch recipe relies on.

Module names follow the CIFAR ResNets (`tasks/cifar10/resnet.py`), so the
built-in split families (`blocks`, `stages`, `branches`, `types`,
`first_k_blocks`) read the architecture from the paths:

    params/stem/conv/kernel, params/stem/bn/{scale,bias}     7x7/2, max pool
    params/stage1/block0/{conv1,bn1,conv2,bn2,conv3,bn3}/...
    params/stage1/block0/shortcut/{conv,bn}/...               1x1 projection
    ...
    params/stage4/block2/...
    params/head/{kernel,bias}                                 1000 classes
    batch_stats/<same module paths>/{mean,var}

With 1,000 classes it has 25,557,032 parameters (`params`), the published
count of torchvision's `resnet50`, plus 53,120 running statistics.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from tasks.resnet_layers import (ConvBN, Stage, conv_general_dilated,
                                 standardise)

# Per-channel statistics of the ImageNet training images (pixels in [0, 1]).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
STAGE_SIZES = {"resnet50": (3, 4, 6, 3)}

# He initialisation over the output fan (torchvision's `kaiming_normal_` with
# mode="fan_out"), the usual choice for ReLU networks with batch norm.
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def _norm(train: bool, dtype: Any, **kwargs):
  return functools.partial(nn.BatchNorm, use_running_average=not train,
                           momentum=0.9, epsilon=1e-5, dtype=dtype, **kwargs)


class Bottleneck(nn.Module):
  """1x1 reduce, 3x3 (strided in v1.5), 1x1 expand by 4, residual add."""

  channels: int
  stride: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    conv = functools.partial(nn.Conv, use_bias=False, kernel_init=conv_init,
                             conv_general_dilated=conv_general_dilated,
                             dtype=self.dtype)
    norm = _norm(train, self.dtype)
    y = nn.relu(norm(name="bn1")(conv(self.channels, (1, 1),
                                      name="conv1")(x)))
    y = conv(self.channels, (3, 3), strides=(self.stride, self.stride),
             name="conv2")(y)
    y = nn.relu(norm(name="bn2")(y))
    y = conv(4 * self.channels, (1, 1), name="conv3")(y)
    y = _norm(train, self.dtype, scale_init=nn.initializers.zeros)(
        name="bn3")(y)
    if self.stride != 1 or x.shape[-1] != 4 * self.channels:
      x = ConvBN(4 * self.channels, 1, self.stride, self.dtype, conv_init,
                 name="shortcut")(x, train)
    return nn.relu(x + y)


class ResNet(nn.Module):
  """A bottleneck ResNet for ImageNet: stem, 4 stages, global pool, head.

  Attributes:
    stage_sizes: blocks per stage, (3, 4, 6, 3) for ResNet-50.
    width: channels of the first stage's bottleneck (64); stage i has
      `width * 2**i` inside its blocks and 4 times that at their outputs.
    num_classes: outputs of the head.
    dtype: compute dtype (`jnp.bfloat16` for mixed precision); parameters
      and the logits stay float32.
  """

  stage_sizes: tuple[int, ...] = STAGE_SIZES["resnet50"]
  width: int = 64
  num_classes: int = 1000
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool = False):
    x = standardise(images, MEAN, STD, self.dtype)
    x = ConvBN(self.width, 7, 2, self.dtype, conv_init, name="stem")(x, train)
    x = nn.max_pool(nn.relu(x), (3, 3), strides=(2, 2),
                    padding=((1, 1), (1, 1)))
    for i, num_blocks in enumerate(self.stage_sizes):
      x = Stage(Bottleneck, self.width * 2**i, num_blocks, 1 if i == 0 else 2,
                self.dtype, name=f"stage{i + 1}")(x, train)
    x = jnp.mean(x, axis=(1, 2))
    x = nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x)
    return x.astype(jnp.float32)


ResNet50 = functools.partial(ResNet, stage_sizes=STAGE_SIZES["resnet50"])
