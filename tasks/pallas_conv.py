"""The kernel gradient of a stride-1 convolution as one Pallas kernel.

Why: vmapped over runs whose kernels differ, XLA computes a convolution's
kernel gradient as a grouped convolution, which GPUs run at 0.22 to 0.31 of
one big batch's speed; it is most of what keeps a vmapped ResNet sweep from
the hardware's limit (BUILD_NOTES, "Where a vmapped convolution loses
time"). The im2col alternative (`resnet_layers._kernel_grad_as_matmul`)
writes patches 9 times the activations' size. This kernel reads the
activations in place instead:

- the padded images are flattened to rows of `C` channels, one row per
  pixel, row-major over the padded width `Wp`;
- the output gradient is laid out on the same grid (`Wp` columns, zeros in
  the columns past the output's width), so that kernel tap `(i, j)` pairs
  output row `q` with input row `q + i * Wp + j`, for every pixel at once;
- each tap's gradient is then a sum, over blocks of rows, of
  `inputs[q + shift : ...]^T @ grad[q : ...]`: matrix products of
  contiguous slices, on the tensor cores, accumulated in float32.

The grid is (groups of whole images, tap row, tap column); each program
writes its group's partial sum of one tap, and the partial sums are added
by XLA afterwards in a fixed order: no atomics, so it is deterministic.
Vmapped over runs, `pallas_call` adds the run axis to the grid.

The Triton lowering wants power-of-2 blocks of at least 16 for a matrix
product, so other channel counts (an RGB stem's 3) are padded with zeros
and the gradient cut back. Strided convolutions are not taken
(`supported`) and keep another kernel gradient. Off GPUs the kernel runs
in Pallas' interpreter (tests, CPU runs).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

# Row blocks tried, largest first; the one that pads the rows least is used.
_BLOCK_ROWS = (128, 64, 32)
# Image rows (pixels) per program, at least: enough work per program to
# hide its start, few enough that a run's images still make many programs.
_ROWS_PER_PROGRAM = 2048


def _block_channels(n: int) -> int:
  """Channels as the kernel holds them: a power of 2, at least 16 (the
  Triton lowering's blocks and its smallest matrix product)."""
  return max(16, 1 << (n - 1).bit_length())


def supported(window_strides) -> bool:
  """Whether `kernel_grad` takes a convolution of `window_strides`: stride
  1 (any channel counts: they are padded to a power of 2 from 16)."""
  return tuple(window_strides) == (1, 1)


def images_per_group(images: int, rows_per_image: int, min_rows: int) -> int:
  """The fewest whole images, a divisor of `images`, whose rows reach
  `min_rows` (all of them if none does): the groups a kernel gradient's
  partial sums are taken over."""
  return next(d for d in range(1, images + 1) if images % d == 0 and (
      d * rows_per_image >= min_rows or d == images))


def _block_rows(rows: int) -> int:
  """The row block that pads `rows` least (ties: the larger block)."""
  return min(_BLOCK_ROWS, key=lambda block: -(-rows // block) * block)


def _kernel(x_ref, g_ref, out_ref, *, images, blocks, block, width):
  """One tap's gradient over one group of images: `x_ref` `[images, rows
  + max shift, C]`, `g_ref` `[images, blocks x block, C']`, `out_ref`
  `[C, C']`; the grid's last two axes are the tap's row and column."""
  shift = pl.program_id(1) * width + pl.program_id(2)

  def add_image(image, acc):
    def add_block(index, acc):
      start = index * block
      x = x_ref[image, pl.ds(start + shift, block), :]
      g = g_ref[image, pl.ds(start, block), :]
      return acc + jax.lax.dot_general(
          x, g, (((0,), (0,)), ((), ())), preferred_element_type=jnp.float32)
    return jax.lax.fori_loop(0, blocks, add_block, acc)

  out_ref[...] = jax.lax.fori_loop(
      0, images, add_image, jnp.zeros(out_ref.shape, jnp.float32))


def kernel_grad(lhs, grad, kernel_shape, pads, interpret=None):
  """The float32 gradient of a stride-1 HWIO kernel (module docstring).

  Args:
    lhs: the convolution's NHWC input.
    grad: the gradient of its NHWC output, `[N, out_h, out_w, C']`.
    kernel_shape: `(kh, kw, C, C')` of a stride-1 convolution.
    pads: explicit `((top, bottom), (left, right))` padding.
    interpret: run in Pallas' interpreter; None: everywhere but on GPUs.
  """
  kh, kw, cin, cout = kernel_shape
  if interpret is None:
    interpret = jax.default_backend() != "gpu"
  padded_in, padded_out = _block_channels(cin), _block_channels(cout)
  x = jnp.pad(lhs, ((0, 0), *pads, (0, padded_in - cin)))
  images, height, width, _ = x.shape
  out_h, out_w = grad.shape[1:3]
  rows = out_h * width
  block = _block_rows(rows)
  blocks = -(-rows // block)
  max_shift = (kh - 1) * width + kw - 1
  x = x.reshape(images, height * width, padded_in)
  x = jnp.pad(x, ((0, 0), (0, blocks * block + max_shift - height * width),
                  (0, 0)))
  g = jnp.pad(grad.astype(lhs.dtype),
              ((0, 0), (0, 0), (0, width - out_w), (0, padded_out - cout)))
  g = jnp.pad(g.reshape(images, rows, padded_out),
              ((0, 0), (0, blocks * block - rows), (0, 0)))
  per_program = images_per_group(images, rows, _ROWS_PER_PROGRAM)
  groups = images // per_program
  partial = pl.pallas_call(
      functools.partial(_kernel, images=per_program, blocks=blocks,
                        block=block, width=width),
      grid=(groups, kh, kw),
      in_specs=[
          pl.BlockSpec((per_program, x.shape[1], padded_in),
                       lambda group, i, j: (group, 0, 0)),
          pl.BlockSpec((per_program, g.shape[1], padded_out),
                       lambda group, i, j: (group, 0, 0))],
      out_specs=pl.BlockSpec((None, None, None, padded_in, padded_out),
                             lambda group, i, j: (group, i, j, 0, 0)),
      out_shape=jax.ShapeDtypeStruct(
          (groups, kh, kw, padded_in, padded_out), jnp.float32),
      interpret=interpret)(x, g)
  return partial.sum(0)[:, :, :cin, :cout]
