"""A dense layer's weight gradient and its Adam update, as one Pallas kernel.

Why: a sweep of many small runs (an MLP, batch 128 per run) is bound by
memory traffic, not arithmetic. Computed apart, the weight gradient
`x^T @ g` is written to memory, and Adam reads it back with the weight and
both moments and writes all three again: 32 bytes a float32 weight. Here
each program computes one block of the gradient on the tensor cores, keeps
it in registers, and updates that block of weight and moments at once: 24
bytes a weight (plus the trainable mask's 1), in one pass (BUILD_NOTES,
"The MLP sweep: bounded by the optimiser's memory traffic").

The update is optax's, term for term: `procedures.optimizer`'s chain of
(zero frozen gradients, `optax.inject_hyperparams(optax.adam)`, zero
frozen updates), then `apply_updates` and the learner's `where(trainable,
new, old)`. Tests compare it with that chain (`tests/fused_adam_test.py`);
it differs only by the gradient's rounding (a product summed in another
order; TF32 on GPUs unless `jax.default_matmul_precision` says float32, as
for XLA's own products).

Vmapped over runs, `pallas_call` adds the run axis to the grid. Off GPUs
the kernel runs in Pallas' interpreter (tests, CPU runs).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as pl_triton

from tasks import pallas_conv


@dataclasses.dataclass(frozen=True)
class Tiling:
  """How the kernel cuts a `[K, N]` weight: every tiling gives the same
  values, only the speed differs.

  Attributes:
    block_in: rows of the weight a program updates (a power of 2, at least
      16: Triton's matrix products).
    block_out: columns it updates at once, looping over the rows' `N`
      (likewise; it must divide `N`).
    num_warps, num_stages: Triton's (None: Pallas' defaults).
  """

  block_in: int = 64
  block_out: int = 64
  num_warps: int | None = 4
  num_stages: int | None = None


# The tiling when none is given; `results/logs/scripts/step_probe.py
# --fused_tilings` times others.
DEFAULT_TILING = Tiling()


# Adam's hyperparameters as `optax.inject_hyperparams(optax.adam)` keeps
# them in its state, in the order the kernel reads them.
HYPERPARAMETERS = ("learning_rate", "b1", "b2", "eps", "eps_root")


def bias_corrections(count: jax.Array, b1: jax.Array,
                     b2: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`1 - b1^t` and `1 - b2^t` for Adam's update number `t = count + 1`, by
  `optax.scale_by_adam`'s own expression (`safe_increment`, then
  `tree_bias_correction`'s `1 - decay**count`)."""
  t = optax.safe_increment(count)
  return 1 - b1**t, 1 - b2**t


def _load(ref, mask, other):
  return ref[...] if mask is None else pl_triton.load(ref, mask=mask,
                                                      other=other)


def _store(ref, value, mask):
  if mask is None:
    ref[...] = value
  else:
    pl_triton.store(ref, value, mask=mask)


def matmul_precision():
  """The kernel's product precision, as XLA's products take it from
  `jax.default_matmul_precision` (the engine's recorded setting): float32
  in full, else TF32 on GPUs (Triton's default, XLA's too)."""
  if jax.config.jax_default_matmul_precision in ("float32", "highest"):
    return (jax.lax.Precision.HIGHEST,) * 2
  return None


def _kernel(x_ref, g_ref, w_ref, mu_ref, nu_ref, trainable_ref, scalars_ref,
            w_out, mu_out, nu_out, *, fan_in, block_out, precision):
  """One strip of `block_in` rows of a `[fan_in, fan_out]` weight, in
  chunks of `block_out` columns: gradient, moments, weight.

  The strip's inputs are loaded once; a loop over the chunks lets Triton
  load the next chunk's weight and moments while this one's are computed
  (`num_stages`). `scalars_ref`: `[-learning_rate, b1, b2, eps, eps_root,
  1 - b1^t, 1 - b2^t, 0]`, float32 as optax holds them.
  """
  step_size, b1, b2, eps, eps_root, correction1, correction2 = (
      scalars_ref[i] for i in range(7))
  block_in, fan_out = w_ref.shape
  # Triton's loads and stores are not bounded by the array: a last, partial
  # strip's are masked.
  rows = block = None
  if fan_in % block_in:
    rows = pl.program_id(0) * block_in + jnp.arange(block_in) < fan_in
    block = jnp.broadcast_to(rows[:, None], (block_in, block_out))
  x = _load(x_ref, None if rows is None else rows[None, :], 0.0)

  def chunk(j, carry):
    columns = pl.ds(pl.multiple_of(j * block_out, block_out), block_out)
    grad = jax.lax.dot_general(x, g_ref[:, columns], (((0,), (0,)), ((), ())),
                               precision=precision,
                               preferred_element_type=jnp.float32)
    trainable = _load(trainable_ref.at[:, columns], block, False)
    zero = jnp.zeros_like(grad)
    grad = jnp.where(trainable, grad, zero)
    mu = (1 - b1) * grad + b1 * _load(mu_ref.at[:, columns], block, 0.0)
    nu = (1 - b2) * (grad * grad) + b2 * _load(nu_ref.at[:, columns], block,
                                               0.0)
    update = (mu / correction1) / (jnp.sqrt(nu / correction2 + eps_root)
                                   + eps)
    update = jnp.where(trainable, step_size * update, zero)
    weight = _load(w_ref.at[:, columns], block, 0.0)
    _store(w_out.at[:, columns], jnp.where(trainable, weight + update, weight),
           block)
    _store(mu_out.at[:, columns], mu, block)
    _store(nu_out.at[:, columns], nu, block)
    return carry

  jax.lax.fori_loop(0, fan_out // block_out, chunk, None)


def dense_adam_update(inputs: jax.Array, output_grads: jax.Array,
                      weight: jax.Array, mu: jax.Array, nu: jax.Array,
                      trainable: jax.Array, count: jax.Array,
                      hyperparams: dict[str, jax.Array],
                      interpret: bool | None = None,
                      tiling: Tiling | None = None):
  """One Adam update of a dense layer's weight from the layer's own batch.

  The weight's gradient is `inputs^T @ output_grads` (the layer computes
  `inputs @ weight`); it is never written to memory.

  Args:
    inputs: the layer's input, `[B, K]`.
    output_grads: the loss's gradient at the layer's output, `[B, N]`.
    weight, mu, nu: the weight and Adam's two moments, `[K, N]` float32.
    trainable: `[K, N]` bool; False entries keep their weight bit for bit
      and see a zero gradient (their moments decay, as optax's do).
    count: Adam's count before this update (int32).
    hyperparams: `HYPERPARAMETERS`' values for this update, as
      `optax.inject_hyperparams(optax.adam)`'s state holds them after it.
    interpret: run in Pallas' interpreter; None: everywhere but on GPUs.
    tiling: how the weight is cut (`Tiling`); None: `DEFAULT_TILING`.

  Returns:
    `(weight, mu, nu)` after the update.
  """
  if interpret is None:
    interpret = jax.default_backend() != "gpu"
  tiling = tiling or DEFAULT_TILING
  batch, fan_in = inputs.shape
  fan_out = output_grads.shape[1]
  rows = pallas_conv.triton_block(batch)  # The batch, padded with zeros.
  pad = ((0, rows - batch), (0, 0))
  x = jnp.pad(inputs.astype(jnp.float32), pad)
  g = jnp.pad(output_grads.astype(jnp.float32), pad)
  hp = {k: jnp.asarray(hyperparams[k], jnp.float32) for k in HYPERPARAMETERS}
  scalars = jnp.stack([
      -1 * hp["learning_rate"], hp["b1"], hp["b2"], hp["eps"], hp["eps_root"],
      *bias_corrections(count, hp["b1"], hp["b2"]), jnp.zeros((), jnp.float32)])
  if fan_out % tiling.block_out:
    raise ValueError(f"fused_adam: {fan_out} outputs are not a multiple of "
                     f"the tiling's block_out {tiling.block_out}")
  strip = pl.BlockSpec((tiling.block_in, fan_out), lambda i: (i, 0))
  out_shape = jax.ShapeDtypeStruct(weight.shape, jnp.float32)
  return pl.pallas_call(
      functools.partial(_kernel, fan_in=fan_in, block_out=tiling.block_out,
                        precision=matmul_precision()),
      grid=(pl.cdiv(fan_in, tiling.block_in),),
      in_specs=[pl.BlockSpec((rows, tiling.block_in), lambda i: (0, i)),
                pl.BlockSpec((rows, fan_out), lambda i: (0, 0)),
                strip, strip, strip, strip,
                pl.BlockSpec((8,), lambda i: (0,))],
      out_specs=[strip, strip, strip],
      out_shape=[out_shape, out_shape, out_shape],
      # In place: XLA need not copy the outputs into a loop's state.
      input_output_aliases={2: 0, 3: 1, 4: 2},
      compiler_params=pl_triton.CompilerParams(
          num_warps=tiling.num_warps, num_stages=tiling.num_stages),
      interpret=interpret)(x, g, weight, mu, nu, trainable, scalars)


def _state_of(opt_state, kind, what: str):
  """The one `kind` state inside an optimiser's (opaque) state."""
  found = [s for s in jax.tree.leaves(
      opt_state, is_leaf=lambda x: isinstance(x, kind)) if isinstance(s, kind)]
  if len(found) != 1:
    raise ValueError(f"fused Adam needs an optimiser with one {what} in its "
                     f"state, found {len(found)}; the recipe's optimiser must "
                     "be optax.inject_hyperparams(optax.adam)")
  return found[0]


def update_layers(layers: dict[str, tuple[jax.Array, jax.Array]],
                  params, new_params, opt_state, new_opt_state, trainable,
                  tiling: Tiling | None = None):
  """Redoes, with `dense_adam_update`, the update of the dense layers in
  `layers` that `tx.update` and `apply_updates` made of the others.

  What `tx.update` computed for those layers' kernels is replaced, so the
  compiler drops it (the weight gradient as a product, its Adam pass).

  Args:
    layers: `{name: (inputs, output_grads)}` of layers whose kernel is
      `params[name]["kernel"]`.
    params, opt_state: the parameters and optimiser state before the
      update.
    new_params, new_opt_state: after it, from `tx.update` (whose optimiser
      holds one `optax.inject_hyperparams(optax.adam)`).
    trainable: boolean arrays with `params`' structure.
    tiling: the kernel's (`Tiling`).

  Returns:
    `(new_params, new_opt_state)` with those kernels and their moments
    replaced.
  """
  adam = _state_of(opt_state, optax.ScaleByAdamState, "Adam")
  injected = _state_of(new_opt_state, optax.InjectStatefulHyperparamsState,
                       "optax.inject_hyperparams")
  new_adam = _state_of(new_opt_state, optax.ScaleByAdamState, "Adam")
  new_params, mu, nu = dict(new_params), dict(new_adam.mu), dict(new_adam.nu)
  for name, (inputs, output_grads) in layers.items():
    kernel, kernel_mu, kernel_nu = dense_adam_update(
        inputs, output_grads, params[name]["kernel"], adam.mu[name]["kernel"],
        adam.nu[name]["kernel"], trainable[name]["kernel"], adam.count,
        injected.hyperparams, tiling=tiling)
    new_params[name] = {**new_params[name], "kernel": kernel}
    mu[name] = {**mu[name], "kernel": kernel_mu}
    nu[name] = {**nu[name], "kernel": kernel_nu}
  is_adam = lambda x: isinstance(x, optax.ScaleByAdamState)
  new_opt_state = jax.tree.map(
      lambda x: x._replace(mu=mu, nu=nu) if is_adam(x) else x,
      new_opt_state, is_leaf=is_adam)
  return new_params, new_opt_state
