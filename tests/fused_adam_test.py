"""The fused dense-gradient-and-Adam kernel (in Pallas' interpreter on CPU)
against the engine's own optimiser chain, term for term. Products in full
float32 (`jax.default_matmul_precision`), so the same tolerances hold on
GPUs, where the kernel is Triton's."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from agents import fused_adam
from benchmark import procedures


def engine_update(inputs, output_grads, weight, mu, nu, trainable, schedule,
                  count):
  """What the engine does to one weight: `procedures.optimizer`'s chain
  around the fused recipe's `inject_hyperparams(optax.adam)`,
  `apply_updates`, then `where(trainable, ...)`.

  Returns:
    `(weight, mu, nu)`, and the hyper-parameters the update used.
  """
  grad = jnp.matmul(inputs.T, output_grads,
                    precision=jax.lax.Precision.HIGHEST)
  tx = optax.chain(procedures.zero_where_frozen(trainable),
                   optax.inject_hyperparams(optax.adam)(schedule),
                   procedures.zero_where_frozen(trainable))
  state = tx.init(weight)
  state = jax.tree.map(
      lambda x: x._replace(count=count, mu=mu, nu=nu)
      if isinstance(x, optax.ScaleByAdamState) else x, state,
      is_leaf=lambda x: isinstance(x, optax.ScaleByAdamState))
  state = (state[0], state[1]._replace(hyperparams_states={
      "learning_rate": state[1].hyperparams_states["learning_rate"]._replace(
          count=count)}), state[2])
  updates, new_state = tx.update(grad, state, weight)
  adam = new_state[1].inner_state[0]
  new = jnp.where(trainable, optax.apply_updates(weight, updates), weight)
  return (new, adam.mu, adam.nu), new_state[1].hyperparams


def random_layer(key, batch, fan_in, fan_out):
  keys = jax.random.split(key, 6)
  return (jax.random.normal(keys[0], (batch, fan_in)),
          jax.random.normal(keys[1], (batch, fan_out)) / batch,
          jax.random.normal(keys[2], (fan_in, fan_out)),
          1e-2 * jax.random.normal(keys[3], (fan_in, fan_out)),
          1e-4 * jax.random.uniform(keys[4], (fan_in, fan_out)),
          jax.random.bernoulli(keys[5], 0.7, (fan_in, fan_out)))


@pytest.mark.parametrize("batch,fan_in,fan_out,tiling", [
    (128, 64, 32, fused_adam.Tiling(16, 16)),
    # A batch and rows that no block divides: padded batch, a partial strip.
    (50, 40, 32, fused_adam.Tiling(32, 16)),
])
@jax.default_matmul_precision("float32")
def test_matches_the_engines_adam(batch, fan_in, fan_out, tiling):
  layer = random_layer(jax.random.key(0), batch, fan_in, fan_out)
  schedule = optax.warmup_cosine_decay_schedule(0.0, 2e-3, 5, 100)
  count = jnp.asarray(3, jnp.int32)
  expected, hyperparams = engine_update(*layer, schedule, count)
  assert float(hyperparams["learning_rate"]) == float(schedule(count))
  got = fused_adam.dense_adam_update(*layer, count, hyperparams,
                                     tiling=tiling)
  for name, e, g in zip(("weight", "mu", "nu"), expected, got):
    np.testing.assert_allclose(g, e, rtol=2e-6, atol=1e-9, err_msg=name)
  weight, trainable = layer[2], layer[5]
  # Frozen weights are kept bit for bit; trainable ones moved.
  np.testing.assert_array_equal(np.asarray(got[0])[~np.asarray(trainable)],
                                np.asarray(weight)[~np.asarray(trainable)])
  assert np.all(np.asarray(got[0] != weight)[np.asarray(trainable)])


def test_vmapped_runs_are_the_runs_one_by_one():
  runs = [random_layer(key, 32, 48, 16)
          for key in jax.random.split(jax.random.key(1), 3)]
  stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *runs)
  rates = jnp.asarray([1e-3, 2e-3, 0.0])
  counts = jnp.asarray([0, 7, 2], jnp.int32)
  hyperparams = lambda rate: dict(learning_rate=rate, b1=0.9, b2=0.999,
                                  eps=1e-8, eps_root=0.0)
  tiling = fused_adam.Tiling(16, 16)
  batched = jax.vmap(lambda *a, rate: fused_adam.dense_adam_update(
      *a, hyperparams(rate), tiling=tiling))(*stacked, counts, rate=rates)
  for i, run in enumerate(runs):
    alone = fused_adam.dense_adam_update(*run, counts[i],
                                         hyperparams(rates[i]), tiling=tiling)
    # Vmapped, XLA:CPU's `power` in the bias correction may round 1 ulp
    # otherwise (optax's own does the same); the moments stay exact.
    np.testing.assert_allclose(batched[0][i], alone[0], rtol=1e-5, atol=1e-6)
    for b, a in zip(batched[1:], alone[1:]):
      np.testing.assert_array_equal(b[i], a)
  # A zero rate moves no weight, but the moments still take the gradient.
  np.testing.assert_array_equal(batched[0][2], runs[2][2])
  assert not np.array_equal(batched[1][2], runs[2][3])


def test_columns_must_be_whole_chunks():
  layer = random_layer(jax.random.key(3), 16, 32, 24)
  hyperparams = dict(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8,
                     eps_root=0.0)
  with pytest.raises(ValueError, match="not a multiple of the tiling"):
    fused_adam.dense_adam_update(*layer, jnp.int32(0), hyperparams,
                                 tiling=fused_adam.Tiling(16, 16))


def test_lowers_to_one_triton_kernel_for_gpus():
  # Lowered for CUDA on this CPU machine: what the GPU compiles, without one.
  # 784 rows: the last block of 64 is partial, so its loads are masked.
  layer = random_layer(jax.random.key(2), 128, 784, 512)
  hyperparams = dict(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8,
                     eps_root=0.0)
  lowered = jax.jit(lambda *a: fused_adam.dense_adam_update(
      *a, hyperparams, interpret=False)).trace(
          *layer, jnp.int32(0)).lower(lowering_platforms=("cuda",))
  assert lowered.as_text().count("__gpu$xla.gpu.triton") == 1
