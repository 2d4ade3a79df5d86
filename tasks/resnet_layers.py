"""Building blocks shared by the ResNets of the vision tasks.

The CIFAR ResNets and FastNet (`tasks/cifar10/resnet.py`) and ResNet-50
(`tasks/imagenet/resnet50.py`) name their modules alike, so that the built-in
split families read the architecture from the paths: `.../conv`, `.../bn`
inside a `ConvBN`, `stage<i>/block<j>` for the blocks of a `Stage`.
`dtype` is the computation's precision; parameters and batch-norm statistics
stay float32 (flax reduces the statistics in float32).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from tasks import pallas_conv


def _pads(padding, image_shape, kernel_shape, window_strides):
  """Explicit `((top, bottom), (left, right))` padding, hashable."""
  if isinstance(padding, str):
    padding = jax.lax.padtype_to_pads(image_shape, kernel_shape,
                                      window_strides, padding)
  return tuple((int(lo), int(hi)) for lo, hi in padding)


def _check_plain(lhs_dilation, rhs_dilation, feature_group_count, name):
  if (feature_group_count != 1 or any(d != 1 for d in lhs_dilation or ())
      or any(d != 1 for d in rhs_dilation or ())):
    raise NotImplementedError(f"{name}: no groups and no dilation")


def _patches(lhs, kernel_hw, window_strides, pads):
  """NHWC images -> `[N, out_h, out_w, kh * kw * C]` patches (im2col), the
  channels ordered (row, column, input channel), an HWIO kernel's order."""
  (kh, kw), (sh, sw) = kernel_hw, window_strides
  x = jnp.pad(lhs, ((0, 0), *pads, (0, 0)))
  height, width = x.shape[1:3]
  out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
  return jnp.concatenate(
      [x[:, i:i + (out_h - 1) * sh + 1:sh, j:j + (out_w - 1) * sw + 1:sw]
       for i in range(kh) for j in range(kw)], axis=-1)


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
  _check_plain(lhs_dilation, rhs_dilation, feature_group_count,
               "conv_as_matmul")
  kh, kw, cin, cout = rhs.shape
  pads = _pads(padding, lhs.shape[1:3], (kh, kw), window_strides)
  patches = _patches(lhs, (kh, kw), window_strides, pads)
  return jnp.einsum("nhwk,ko->nhwo", patches,
                    rhs.reshape(kh * kw * cin, cout), precision=precision)


def _out_size(size, kernel, stride, pads):
  """Output positions along one dimension of a convolution padded by
  `pads = (lo, hi)`."""
  return (size + sum(pads) - kernel) // stride + 1


@functools.lru_cache(maxsize=None)
def _operator_indices(image_hw, kernel_shape, window_strides, pads):
  """Where the dense operator's entries come from, and where the kernel
  weights go (`dense_operator`), as numpy constants.

  Returns:
    `(sources, uses)`: `sources[k, n]` is the index in the flattened kernel
    of operator entry `(k, n)`, or the kernel's size (an appended zero)
    where the entry is 0; `uses[w, m]` lists the flattened operator's
    entries that hold kernel weight `w`, padded with the operator's size (an
    appended zero).
  """
  (height, width), (kh, kw, cin, cout) = image_hw, kernel_shape
  (sh, sw), ((top, _), (left, _)) = window_strides, pads
  out_h = _out_size(height, kh, sh, pads[0])
  out_w = _out_size(width, kw, sw, pads[1])
  i, j, p, q = np.ix_(range(height), range(width), range(out_h), range(out_w))
  a, b = i - p * sh + top, j - q * sw + left  # Tap of input (i, j) at (p, q).
  valid = (a >= 0) & (a < kh) & (b >= 0) & (b < kw)
  tap = np.where(valid, a * kw + b, -1)  # [height, width, out_h, out_w]
  channels = np.arange(cin)[:, None] * cout + np.arange(cout)  # [cin, cout]
  kernel_size, columns = kh * kw * cin * cout, out_h * out_w * cout
  sources = np.where(
      valid[:, :, None, :, :, None],
      tap[:, :, None, :, :, None] * cin * cout
      + channels[None, None, :, None, None, :], kernel_size)
  sources = sources.reshape(height * width * cin, columns)
  pixel, position = np.nonzero(valid.reshape(height * width, out_h * out_w))
  tap_of = tap.reshape(height * width, out_h * out_w)[pixel, position]
  # The flattened operator's entry of (pixel, input channel 0; position,
  # output channel 0); channels c, f add `offsets[c, f]` below.
  base = pixel * cin * columns + position * cout
  most = np.bincount(tap_of, minlength=kh * kw).max()
  uses_of_tap = np.full((kh * kw, most), -1)
  for t in range(kh * kw):
    mine = base[tap_of == t]
    uses_of_tap[t, :len(mine)] = mine
  offsets = (np.arange(cin)[:, None] * columns + np.arange(cout))  # c, f
  uses = np.where(uses_of_tap[:, None, None, :] >= 0,
                  uses_of_tap[:, None, None, :] + offsets[None, :, :, None],
                  sources.size)
  return sources, uses.reshape(kernel_size, most)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def dense_operator(rhs, image_hw, window_strides, pads):
  """The convolution of `image_hw` NHWC images with HWIO kernel `rhs` as a
  matrix: `[H * W * C_in, out_h * out_w * C_out]`, rows and columns in
  NHWC order, each entry one kernel weight or 0.

  Built by one gather from the kernel, and differentiated by one gather
  from the operator's gradient and a sum per weight (`_operator_indices`):
  exact copies and a fixed order of summation, so deterministic, and cheap
  enough to build again at every environment step of a rollout.
  """
  sources, _ = _operator_indices(image_hw, rhs.shape, window_strides, pads)
  flat = jnp.concatenate([rhs.reshape(-1), jnp.zeros(1, rhs.dtype)])
  return flat[sources]


def _dense_operator_fwd(rhs, image_hw, window_strides, pads):
  return dense_operator(rhs, image_hw, window_strides, pads), rhs.shape


def _dense_operator_bwd(image_hw, window_strides, pads, kernel_shape, grad):
  _, uses = _operator_indices(image_hw, kernel_shape, window_strides, pads)
  flat = jnp.concatenate([grad.reshape(-1), jnp.zeros(1, grad.dtype)])
  return (flat[uses].sum(-1).reshape(kernel_shape),)


dense_operator.defvjp(_dense_operator_fwd, _dense_operator_bwd)


# Most entries a band operator may have (`conv_as_row_bands`): 64 MiB in
# float32.
_BAND_OPERATOR_ENTRIES = 2**24


def conv_as_row_bands(lhs, rhs, window_strides, padding, lhs_dilation=None,
                      rhs_dilation=None, dimension_numbers=None,
                      feature_group_count=1, precision=None, bias=None):
  """`lax.conv_general_dilated` of small NHWC images and an HWIO kernel as
  one matrix product of each output row's band of `kh` input rows with the
  dense operator of a band (`dense_operator` of a `kh`-row image).

  Why: a MinAtar frame is 10x10 with 4 to 10 channels. Vmapped over runs,
  XLA's convolution becomes a grouped convolution that cuDNN wraps in
  layout transforms, and im2col writes `kh x kw` copies of every frame.
  Here each input row is copied up to `kh / stride` times, and the products
  are batched matrix products at about `W / kw` times the convolution's
  multiply-adds, which tensor cores absorb at these sizes. (The operator of
  the whole image instead of a band, tried first, costs `H / kh` times more
  and was slower: BUILD_NOTES, 2026-12-03.) The parameters are the same as
  with the default convolution. A `bias` of `C_out` values is added by the
  product itself (`_bias_in_product`).

  Raises:
    ValueError: a band operator of more than 2**24 entries.
  """
  del dimension_numbers  # Flax's default for 2D inputs: NHWC, HWIO, NHWC.
  _check_plain(lhs_dilation, rhs_dilation, feature_group_count,
               "conv_as_row_bands")
  images, height, width, cin = lhs.shape
  kh, kw, _, cout = rhs.shape
  sh, sw = window_strides
  pads = _pads(padding, (height, width), (kh, kw), window_strides)
  out_h = _out_size(height, kh, sh, pads[0])
  out_w = _out_size(width, kw, sw, pads[1])
  entries = kh * width * cin * out_w * cout
  if entries > _BAND_OPERATOR_ENTRIES:
    raise ValueError(f"conv_as_row_bands: a {kh}x{width}x{cin} -> "
                     f"{out_w}x{cout} band operator has {entries:,} "
                     f"entries, more than {_BAND_OPERATOR_ENTRIES:,}")
  x = jnp.pad(lhs, ((0, 0), pads[0], (0, 0), (0, 0)))
  bands = jnp.stack([x[:, p * sh:p * sh + kh] for p in range(out_h)], 1)
  operator = dense_operator(rhs, (kh, width), (1, sw), ((0, 0), pads[1]))
  # One row per (image, output row), the form `_bias_in_product` extends.
  bands = bands.reshape(images * out_h, kh * width * cin)
  if bias is not None:
    bands, operator = _bias_in_product(bands, operator, bias, out_w)
  out = jnp.einsum("mk,kq->mq", bands, operator, precision=precision)
  return out.reshape(images, out_h, out_w, cout)


def _bias_in_product(bands, operator, bias, out_w):
  """`(bands, operator)` whose product is the convolution plus `bias`: two
  columns of ones on `bands` and two rows on `operator`, the bias's part
  exact in TF32 and the rest, so that TF32 products (XLA's default on
  GPUs) add it to float32 precision; then zero columns up to a multiple of
  4 (tensor-core alignment).

  Why: vmapped over runs, a bias added after the product is a matrix that
  XLA:GPU writes out and has cuBLAS read into the product, and its
  gradient is one more pass over the output gradient; here the operator's
  gradient holds the bias's too (BUILD_NOTES, 2026-12-03, second session).
  """
  high = jax.lax.stop_gradient(
      jax.lax.reduce_precision(bias, exponent_bits=8, mantissa_bits=10))
  rows = jnp.stack([high, bias - high])  # Gradient: all through the rest.
  depth = bands.shape[1] + 2
  padding = -depth % 4
  ones = jnp.ones((bands.shape[0], 2), bands.dtype)
  bands = jnp.pad(jnp.concatenate([bands, ones], 1), ((0, 0), (0, padding)))
  operator = jnp.pad(jnp.concatenate([operator, jnp.tile(rows, out_w)]),
                     ((0, padding), (0, 0)))
  return bands, operator


class RowBandConv(nn.Module):
  """Flax's `nn.Conv` layer (no groups or dilation), the same parameters
  (`kernel` HWIO, `bias`) initialised alike, computed by `conv_as_row_bands`
  with the bias inside the product."""

  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: Any = "SAME"
  kernel_init: Any = nn.initializers.lecun_normal()  # Flax's default.
  bias_init: Any = nn.initializers.zeros

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", self.kernel_init,
                        (*self.kernel_size, x.shape[-1], self.features),
                        jnp.float32)
    bias = self.param("bias", self.bias_init, (self.features,), jnp.float32)
    return conv_as_row_bands(x, kernel, tuple(self.strides), self.padding,
                             bias=bias)


# Rows (image positions) per partial sum of the kernel gradient: enough for
# an efficient matrix product, few enough that the partial sums give the
# GPU many independent products.
_KERNEL_GRAD_ROWS = 2048


def _xla_conv(lhs, rhs, window_strides, pads, precision):
  return jax.lax.conv_general_dilated(
      lhs, rhs, window_strides, pads, precision=precision,
      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _kernel_grad_as_matmul(lhs, grad, kernel_shape, window_strides, pads):
  """The gradient of an HWIO kernel: patches x output gradient, summed over
  every image position, as a split-K matrix product: partial sums over
  groups of whole images, then their sum (deterministic: no atomics)."""
  kh, kw, cin, cout = kernel_shape
  patches = _patches(lhs, (kh, kw), window_strides, pads)
  images, out_h, out_w, _ = grad.shape
  per_group = pallas_conv.images_per_group(images, out_h * out_w,
                                           _KERNEL_GRAD_ROWS)
  groups = images // per_group
  partial = jnp.einsum(
      "gnk,gno->gko", patches.reshape(groups, -1, kh * kw * cin),
      grad.reshape(groups, -1, cout), preferred_element_type=jnp.float32)
  return partial.sum(0).reshape(kernel_shape)


def _spatial_pads(sizes, kernel_hw, out_hw, window_strides, pads, own):
  """Per spatial dimension, `own(size, k, s, lo, out)` -> a `(lo, hi)`."""
  return tuple(own(size, k, s, lo, out) for size, k, s, (lo, _), out in zip(
      sizes, kernel_hw, window_strides, pads, out_hw))


def _input_grad_canonical(grad, rhs, lhs_shape, window_strides, pads,
                          precision):
  """The input gradient as the transposed convolution in XLA:CPU's canonical
  form (NHWC, HWIO): the output gradient dilated by the stride, convolved
  with the kernel turned 180 degrees, its channel axes swapped."""
  def pad(size, k, stride, lo, out):
    before = k - lo - 1
    return before, size + k - 1 - ((out - 1) * stride + 1) - before
  padding = _spatial_pads(lhs_shape[1:3], rhs.shape[:2], grad.shape[1:3],
                          window_strides, pads, pad)
  return jax.lax.conv_general_dilated(
      grad, rhs[::-1, ::-1].transpose(0, 1, 3, 2), (1, 1), padding,
      lhs_dilation=window_strides, precision=precision,
      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _kernel_grad_canonical(lhs, grad, kernel_shape, window_strides, pads):
  """The kernel gradient as a convolution in XLA:CPU's canonical form: input
  channels as the batch, images as the contracted features, the output
  gradient (dilated by the stride) as the kernel."""
  def pad(size, k, stride, lo, out):
    return lo, k + (out - 1) * stride - size - lo
  padding = _spatial_pads(lhs.shape[1:3], kernel_shape[:2], grad.shape[1:3],
                          window_strides, pads, pad)
  return jax.lax.conv_general_dilated(
      lhs.transpose(3, 1, 2, 0), grad.transpose(1, 2, 0, 3), (1, 1),
      padding, rhs_dilation=window_strides,
      dimension_numbers=("NHWC", "HWIO", "NHWC")).transpose(1, 2, 0, 3)


def _input_grad(grad, rhs, lhs_shape, window_strides, pads, precision):
  """XLA's input gradient; on CPU in canonical form (`conv_general_dilated`
  says why)."""
  def xla(grad, rhs):
    _, vjp = jax.vjp(lambda x: _xla_conv(x, rhs, window_strides, pads,
                                         precision),
                     jnp.zeros(lhs_shape, grad.dtype))
    return vjp(grad)[0]
  return jax.lax.platform_dependent(
      grad, rhs, cpu=lambda g, w: _input_grad_canonical(
          g, w, lhs_shape, window_strides, pads, precision), default=xla)


def _kernel_grad_xla(lhs, grad, kernel_shape, window_strides, pads):
  """XLA's kernel gradient; on CPU in canonical form (`conv_general_dilated`
  says why)."""
  def xla(lhs, grad):
    _, vjp = jax.vjp(lambda w: _xla_conv(lhs, w, window_strides, pads, None),
                     jnp.zeros(kernel_shape, lhs.dtype))
    return vjp(grad)[0]
  return jax.lax.platform_dependent(
      lhs, grad, cpu=lambda x, g: _kernel_grad_canonical(
          x, g, kernel_shape, window_strides, pads), default=xla)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _conv_own_kernel_grad(lhs, rhs, window_strides, pads, precision,
                          kernel_grad):
  del kernel_grad  # Backward pass only.
  return _xla_conv(lhs, rhs, window_strides, pads, precision)


def _conv_own_kernel_grad_fwd(lhs, rhs, window_strides, pads, precision,
                              kernel_grad):
  del kernel_grad
  return _xla_conv(lhs, rhs, window_strides, pads, precision), (lhs, rhs)


def _conv_own_kernel_grad_bwd(window_strides, pads, precision, kernel_grad,
                              residuals, grad):
  lhs, rhs = residuals
  lhs_grad = _input_grad(grad, rhs, lhs.shape, window_strides, pads,
                         precision)
  rhs_grad = kernel_grad(lhs, grad, rhs.shape, window_strides, pads)
  return lhs_grad.astype(lhs.dtype), rhs_grad.astype(rhs.dtype)


_conv_own_kernel_grad.defvjp(_conv_own_kernel_grad_fwd,
                             _conv_own_kernel_grad_bwd)


def space_to_depth(lhs, rhs, window_strides, pads):
  """A strided convolution's operands as those of a stride-1 one, VALID.

  Phase `(a, b)` of the padded images holds pixels `(sh * p + a, sw * q +
  b)`; the phases are stacked as channels (order: phase row, phase column,
  channel), so kernel tap `(i, j)` becomes tap `(i // sh, j // sw)` of
  phase `(i % sh, j % sw)`: a kernel of `ceil(kh / sh) x ceil(kw / sw)`
  taps over `sh * sw * C` channels, zero where a tap falls outside the
  original kernel. The products and sums are the convolution's own; only
  their order differs.

  Why: vmapped over runs, a strided convolution is a grouped strided
  convolution, and cuDNN surrounds it with layout transforms that took a
  fifth of a ResNet-20 sweep's time on an H200 (BUILD_NOTES 2026-12-02);
  stride 1 has fast grouped kernels.

  Returns:
    `(lhs, rhs)` of the stride-1 VALID convolution with the same output.
  """
  kh, kw, cin, cout = rhs.shape
  sh, sw = window_strides
  taps_h, taps_w = -(-kh // sh), -(-kw // sw)
  out_h = _out_size(lhs.shape[1], kh, sh, pads[0])
  out_w = _out_size(lhs.shape[2], kw, sw, pads[1])
  height, width = (out_h + taps_h - 1) * sh, (out_w + taps_w - 1) * sw
  x = jnp.pad(lhs, ((0, 0), *pads, (0, 0)))[:, :height, :width]
  x = jnp.pad(x, ((0, 0), (0, height - x.shape[1]), (0, width - x.shape[2]),
                  (0, 0)))
  images = x.shape[0]
  x = x.reshape(images, height // sh, sh, width // sw, sw, cin).transpose(
      0, 1, 3, 2, 4, 5).reshape(images, height // sh, width // sw,
                                sh * sw * cin)
  w = jnp.pad(rhs, ((0, taps_h * sh - kh), (0, taps_w * sw - kw), (0, 0),
                    (0, 0)))
  w = w.reshape(taps_h, sh, taps_w, sw, cin, cout).transpose(
      0, 2, 1, 3, 4, 5).reshape(taps_h, taps_w, sh * sw * cin, cout)
  return x, w


def _conv_with_kernel_grad(kernel_grad, name, strided_as_stride_1=False):
  """`lax.conv_general_dilated` (NHWC, HWIO) whose forward pass and input
  gradient are XLA's convolutions and whose kernel gradient is
  `kernel_grad(lhs, grad, kernel_shape, window_strides, pads)`; with
  `strided_as_stride_1`, a strided convolution is computed as a stride-1
  one (`space_to_depth`) and `kernel_grad` sees stride 1 only."""

  def conv(lhs, rhs, window_strides, padding, lhs_dilation=None,
           rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
           precision=None):
    del dimension_numbers  # Flax's default for 2D inputs: NHWC, HWIO, NHWC.
    _check_plain(lhs_dilation, rhs_dilation, feature_group_count, name)
    pads = _pads(padding, lhs.shape[1:3], rhs.shape[:2], window_strides)
    if strided_as_stride_1 and tuple(window_strides) != (1, 1):
      lhs, rhs = space_to_depth(lhs, rhs, window_strides, pads)
      window_strides, pads = (1, 1), ((0, 0), (0, 0))
    return _conv_own_kernel_grad(lhs, rhs, tuple(window_strides), pads,
                                 precision, kernel_grad)

  conv.__name__ = name
  return conv


conv_general_dilated = _conv_with_kernel_grad(_kernel_grad_xla,
                                              "conv_general_dilated")
conv_general_dilated.__doc__ = """\
`lax.conv_general_dilated` (NHWC, HWIO): XLA's convolution and gradients,
the gradients on CPU computed as convolutions in XLA:CPU's canonical form.

Why: inside a loop (every training run here is one), XLA:CPU leaves the
gradients' convolutions in the layouts autodiff gives them and emits them
as plain loops, 5 to 50 times slower than the library convolutions it uses
outside loops (jax-ml/jax#12868; BUILD_NOTES, "XLA:CPU's convolution
gradients in loops"). Other platforms run XLA's own gradients unchanged.
The networks' default convolution.
"""

conv_matmul_kernel_grad = _conv_with_kernel_grad(_kernel_grad_as_matmul,
                                                 "conv_matmul_kernel_grad")
conv_matmul_kernel_grad.__doc__ = """\
`lax.conv_general_dilated` (NHWC, HWIO) whose kernel gradient is a matrix
product of im2col patches (split over groups of images); the forward pass
and the input gradient stay XLA's convolutions.

Why: vmapped over runs, XLA's forward and input-gradient convolutions
(grouped) run near the speed of one big batch on a GPU, but its kernel
gradient does not (BUILD_NOTES, "Where a vmapped convolution loses time").
The patches exist only inside the backward pass.
"""

conv_pallas_kernel_grad = _conv_with_kernel_grad(
    pallas_conv.kernel_grad, "conv_pallas_kernel_grad",
    strided_as_stride_1=True)
conv_pallas_kernel_grad.__doc__ = """\
`lax.conv_general_dilated` (NHWC, HWIO) whose kernel gradient is one Pallas
kernel that reads the activations in place (`pallas_conv.kernel_grad`); the
forward pass and the input gradient stay XLA's convolutions (why:
`conv_matmul_kernel_grad`). Strided convolutions are computed as stride-1
ones (`space_to_depth`): the form a vmapped sweep runs fast.
"""

# The `conv_kernel_grad` implementation option of the tasks whose networks
# take a convolution function (`tasks/registry.py`): value -> function
# (`conv_general_dilated`: XLA's own convolution).
KERNEL_GRAD_CONVS = {"xla": conv_general_dilated,
                     "matmul": conv_matmul_kernel_grad,
                     "pallas": conv_pallas_kernel_grad}


class ConvBN(nn.Module):
  """conv (no bias) -> batch norm with momentum 0.9, named `conv` and `bn`."""

  channels: int
  kernel: int = 3
  stride: int = 1
  dtype: Any = jnp.float32
  kernel_init: Any = nn.initializers.lecun_normal()  # Flax's default.
  conv: Any = conv_general_dilated  # Or another of KERNEL_GRAD_CONVS.

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
