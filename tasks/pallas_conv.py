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

The grid is (groups of whole images[, tap row, tap column]); each program
writes its group's partial sums, of one tap or of all of them (`Tiling`),
and the partial sums are added by XLA afterwards in a fixed order: no
atomics, so it is deterministic. Vmapped over runs, `pallas_call` adds the
run axis to the grid.

Strided convolutions are not taken: they are made stride-1 ones first
(`resnet_layers.space_to_depth`). The Triton lowering wants power-of-2
blocks of at least 16 for a matrix product, so other channel counts (an
RGB stem's 3) are padded with zeros and the gradient cut back. Off GPUs
the kernel runs in Pallas' interpreter (tests, CPU runs).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as pl_triton


@dataclasses.dataclass(frozen=True)
class Tiling:
  """How `kernel_grad` cuts its work; every tiling gives the same sums up to
  float rounding, only the speed differs (`default_tiling`).

  Attributes:
    rows_per_program: image rows (pixels) per program, at least: enough
      work to hide a program's start, few enough that a run's images still
      make many programs.
    block_rows: row blocks of the matrix products, tried in order; the one
      that pads the rows least is used.
    all_taps: one program sums every tap of its images, reading each block
      of the output gradient once (more accumulators: for few channels);
      else the taps are two more grid axes.
    num_warps, num_stages: Triton's (None: Pallas' defaults).
  """

  rows_per_program: int = 2048
  block_rows: tuple[int, ...] = (128, 64, 32)
  all_taps: bool = False
  num_warps: int | None = None
  num_stages: int | None = None


def default_tiling(taps: int, channels_in: int, channels_out: int) -> Tiling:
  """The tiling for a kernel of `taps` taps and (padded) channel counts,
  from a search on an H200 (script `results/logs/scripts/pallas_tune.py` at
  commit 56fd6af, BUILD_NOTES 2026-12-02): every tap in one program while their
  float32 sums stay small (at most 9 x 32 x 32), 2 warps for at most 32 x 32
  channels (4 above), 4 pipeline stages for 16 x 16 (3 above)."""
  products = channels_in * channels_out
  return Tiling(all_taps=1 < taps and taps * products <= 9 * 32 * 32,
                num_warps=2 if products <= 32 * 32 else 4,
                num_stages=4 if products <= 16 * 16 else 3)


def _block_channels(n: int) -> int:
  """Channels as the kernel holds them: a power of 2, at least 16 (the
  Triton lowering's blocks and its smallest matrix product)."""
  return max(16, 1 << (n - 1).bit_length())


def images_per_group(images: int, rows_per_image: int, min_rows: int) -> int:
  """The fewest whole images, a divisor of `images`, whose rows reach
  `min_rows` (all of them if none does): the groups a kernel gradient's
  partial sums are taken over."""
  return next(d for d in range(1, images + 1) if images % d == 0 and (
      d * rows_per_image >= min_rows or d == images))


def _block_rows(rows: int, candidates) -> int:
  """The row block of `candidates` that pads `rows` least (ties: the
  first)."""
  return min(candidates, key=lambda block: -(-rows // block) * block)


def _tap_sums(x_ref, g_ref, shifts, sums, *, images, blocks, block):
  """`sums[t]` plus the sum, over the group's images and row blocks `q`, of
  `x[q + shifts[t]]^T @ g[q]`; each output-gradient block is read once."""

  def add_image(image, sums):
    def add_block(index, sums):
      start = index * block
      g = g_ref[image, pl.ds(start, block), :]
      return tuple(
          total + jax.lax.dot_general(
              x_ref[image, pl.ds(start + shift, block), :], g,
              (((0,), (0,)), ((), ())), preferred_element_type=jnp.float32)
          for total, shift in zip(sums, shifts))
    return jax.lax.fori_loop(0, blocks, add_block, sums)

  return jax.lax.fori_loop(0, images, add_image, sums)


def _one_tap_kernel(x_ref, g_ref, out_ref, *, width, **loops):
  """One tap's sum, `out_ref` `[C, C']`: the grid's last two axes are the
  tap's row and column."""
  shift = pl.program_id(1) * width + pl.program_id(2)
  (out_ref[...],) = _tap_sums(
      x_ref, g_ref, (shift,), (jnp.zeros(out_ref.shape, jnp.float32),),
      **loops)


def _all_taps_kernel(x_ref, g_ref, out_ref, *, shifts, **loops):
  """Every tap's sum, `out_ref` `[taps, C, C']` (static shifts)."""
  zero = jnp.zeros(out_ref.shape[1:], jnp.float32)
  sums = _tap_sums(x_ref, g_ref, shifts, (zero,) * len(shifts), **loops)
  for tap, total in enumerate(sums):
    out_ref[tap] = total


def kernel_grad(lhs, grad, kernel_shape, window_strides, pads,
                interpret=None, tiling=None):
  """The float32 gradient of a stride-1 HWIO kernel (module docstring).

  Args:
    lhs: the convolution's NHWC input.
    grad: the gradient of its NHWC output, `[N, out_h, out_w, C']`.
    kernel_shape: `(kh, kw, C, C')`.
    window_strides: `(1, 1)`; a strided convolution is first made a stride-1
      one (`resnet_layers.space_to_depth`).
    pads: explicit `((top, bottom), (left, right))` padding.
    interpret: run in Pallas' interpreter; None: everywhere but on GPUs.
    tiling: how the work is cut (`Tiling`); None: `default_tiling`.

  Raises:
    ValueError: strides other than 1.
  """
  if tuple(window_strides) != (1, 1):
    raise ValueError(f"pallas_conv.kernel_grad takes stride 1, got "
                     f"{tuple(window_strides)}: make the convolution a "
                     "stride-1 one first (resnet_layers.space_to_depth)")
  if interpret is None:
    interpret = jax.default_backend() != "gpu"
  kh, kw, cin, cout = kernel_shape
  padded_in, padded_out = _block_channels(cin), _block_channels(cout)
  tiling = tiling or default_tiling(kh * kw, padded_in, padded_out)
  x = jnp.pad(lhs, ((0, 0), *pads, (0, padded_in - cin)))
  images, height, width, _ = x.shape
  out_h, out_w = grad.shape[1:3]
  rows = out_h * width
  block = _block_rows(rows, tiling.block_rows)
  blocks = -(-rows // block)
  max_shift = (kh - 1) * width + kw - 1
  x = x.reshape(images, height * width, padded_in)
  x = jnp.pad(x, ((0, 0), (0, blocks * block + max_shift - height * width),
                  (0, 0)))
  g = jnp.pad(grad.astype(lhs.dtype),
              ((0, 0), (0, 0), (0, width - out_w), (0, padded_out - cout)))
  g = jnp.pad(g.reshape(images, rows, padded_out),
              ((0, 0), (0, blocks * block - rows), (0, 0)))
  per_program = images_per_group(images, rows, tiling.rows_per_program)
  groups = images // per_program
  loops = dict(images=per_program, blocks=blocks, block=block)
  group_of = lambda group, *taps: (group, 0, 0)
  if tiling.all_taps:
    shifts = tuple(i * width + j for i in range(kh) for j in range(kw))
    kernel = functools.partial(_all_taps_kernel, shifts=shifts, **loops)
    grid = (groups,)
    out_block = (None, kh * kw, padded_in, padded_out)
    out_index = lambda group: (group, 0, 0, 0)
  else:
    kernel = functools.partial(_one_tap_kernel, width=width, **loops)
    grid = (groups, kh, kw)
    out_block = (None, None, padded_in, padded_out)
    out_index = lambda group, i, j: (group, i * kw + j, 0, 0)
  partial = pl.pallas_call(
      kernel, grid=grid,
      in_specs=[pl.BlockSpec((per_program, x.shape[1], padded_in), group_of),
                pl.BlockSpec((per_program, g.shape[1], padded_out),
                             group_of)],
      out_specs=pl.BlockSpec(out_block, out_index),
      out_shape=jax.ShapeDtypeStruct(
          (groups, kh * kw, padded_in, padded_out), jnp.float32),
      compiler_params=pl_triton.CompilerParams(
          num_warps=tiling.num_warps, num_stages=tiling.num_stages),
      interpret=interpret)(x, g)
  return partial.sum(0)[:, :cin, :cout].reshape(kernel_shape)
