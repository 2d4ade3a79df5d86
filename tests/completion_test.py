"""Procedures and the completion engine on real digits data."""

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_runs_as_alone

from agents import supervised
from benchmark.engine import batching, completion, memory, prng, scratch
from benchmark.engine import sharding
from benchmark.science import procedures, splitter
from contract import spec
from tasks import digits, recipes, registry


class NormMLP(nn.Module):
  """A batch-normalised MLP, so that frozen statistics can be checked."""

  @nn.compact
  def __call__(self, x, train=False):
    x = nn.Dense(32, name="hidden")(x)
    x = nn.BatchNorm(use_running_average=not train, name="norm")(x)
    return nn.Dense(10, name="head")(nn.relu(x))


@pytest.fixture(scope="module")
def norm_task():
  train, test = digits.load_digits(0.2)
  recipe = spec.Recipe(optimizer=lambda lr: optax.adamw(lr, weight_decay=0.1),
                       schedule=optax.constant_schedule(1e-2),
                       peak_learning_rate=1e-2, batch_size=32,
                       num_updates=20, eval_updates=(0, 5, 20))
  model = NormMLP()
  return recipes.supervised_task(
      "test/norm-mlp", recipes.flax_init(model, jnp.zeros((1, 64))),
      supervised.flax_apply(model), recipes.make_dataset(train, test, 360),
      recipe, num_classes=10)


def completed(task, original, scheme, procedure_name, key=0):
  mask = splitter.make_mask(original, scheme)
  run = jax.jit(completion.make_completion(task))
  curve, final = run(jax.random.key(key), original, mask,
                     procedures.settings(procedure_name, task.recipe), jnp.inf,
                     task.data)
  return mask, curve, final


def leaves_by_path(tree):
  return {splitter.path_of(kp): np.asarray(v) for kp, v in
          jax.tree_util.tree_flatten_with_path(tree)[0]}


@pytest.mark.parametrize("procedure", ["T1", "T3"])
def test_t1_t3_leave_every_other_parameter_bit_identical(norm_task,
                                                        procedure):
  """Parameters that are not withheld keep their values bit for bit; the
  batch-norm statistics, estimates rather than weights, follow the run's
  forward passes under every procedure (protocol v2)."""
  original = norm_task.init(jax.random.key(1))
  scheme = splitter.Scheme("hidden", ("params/hidden/**",))
  mask, curve, final = completed(norm_task, original, scheme, procedure)
  before, after = leaves_by_path(original), leaves_by_path(final)
  for path, withheld in leaves_by_path(mask).items():
    if withheld.any() or path.startswith("batch_stats/"):
      assert not np.array_equal(before[path], after[path]), path
    else:
      assert before[path].tobytes() == after[path].tobytes(), path
  assert not bool(curve.diverged)


@pytest.mark.parametrize("procedure", ["T2", "T4"])
def test_t2_t4_move_every_variable(norm_task, procedure):
  original = norm_task.init(jax.random.key(1))
  scheme = splitter.Scheme("hidden", ("params/hidden/**",))
  _, _, final = completed(norm_task, original, scheme, procedure)
  before, after = leaves_by_path(original), leaves_by_path(final)
  for path in before:
    assert not np.array_equal(before[path], after[path]), path


def test_withheld_part_is_reinitialised_and_the_rest_kept(digits_task,
                                                          digits_originals):
  original = digits_originals[0].variables
  scheme = splitter.Scheme("head", ("params/head/*",))
  mask = splitter.make_mask(original, scheme)
  budget = completion.budget_schedule(digits_task.recipe, 0.01)
  run = jax.jit(completion.make_completion(digits_task, budget))
  curve, _ = run(jax.random.key(0), original, mask,
                 procedures.settings("T1", digits_task.recipe), jnp.inf,
                 digits_task.data)
  # At step 0 the head is fresh: performance collapses towards chance.
  assert float(curve.performance[0]) < 0.5 < digits_originals[0].p_star


def test_zeros_reinit(digits_task, digits_originals):
  original = digits_originals[0].variables
  mask = splitter.make_mask(original, splitter.Scheme("h", ("params/head/*",)))
  run = jax.jit(completion.make_completion(
      digits_task, completion.budget_schedule(digits_task.recipe, 0.01)))
  settings = procedures.settings("T1", digits_task.recipe, reinit="zeros")
  curve, _ = run(jax.random.key(0), original, mask, settings, jnp.inf,
                 digits_task.data)
  # All-zero logits: argmax picks class 0 everywhere, 36 of 360 test digits.
  assert float(curve.performance[0]) == pytest.approx(0.1)


@pytest.mark.parametrize("transform", [lambda f: f, jax.jit],
                         ids=["eager", "jit"])
def test_zero_where_frozen(transform):
  trainable = {"a": jnp.array([True, False]), "b": jnp.array(False)}
  tx = procedures.zero_where_frozen(trainable)
  updates = {"a": jnp.array([1.0, 2.0]), "b": jnp.array(3.0)}
  out, _ = transform(lambda u: tx.update(u, tx.init(u)))(updates)
  np.testing.assert_array_equal(out["a"], [1.0, 0.0])
  assert float(out["b"]) == 0.0


def test_learning_rates_of_the_procedures(digits_task):
  recipe = digits_task.recipe
  for name, finetune in [("T1", False), ("T2", False), ("T3", True),
                         ("T4", True)]:
    rate = procedures.learning_rate(recipe, procedures.settings(name, recipe))
    expected = 0.1 * recipe.peak_learning_rate if finetune else float(
        recipe.schedule(200))
    assert float(rate(200)) == pytest.approx(expected)
  custom = procedures.settings("T3", recipe, finetune_fraction=0.5)
  assert float(procedures.learning_rate(recipe, custom)(0)) == pytest.approx(
      0.5 * recipe.peak_learning_rate)
  declared = dataclasses.replace(recipe, finetune_learning_rate=1e-4)
  assert procedures.finetune_learning_rate(declared) == 1e-4


def test_unknown_procedure_and_reinit(digits_task):
  with pytest.raises(spec.InputError, match="unknown procedure 'T5'"):
    procedures.settings("T5", digits_task.recipe)
  with pytest.raises(spec.InputError, match="re-initialisation"):
    procedures.settings("T1", digits_task.recipe, reinit="ones")


def test_early_stop_freezes_the_run_and_masks_later_points(digits_task,
                                                           digits_originals):
  original = digits_originals[0].variables
  mask = splitter.make_mask(original, splitter.Scheme("h", ("params/head/*",)))
  run = jax.jit(completion.make_completion(digits_task))
  settings = procedures.settings("T2", digits_task.recipe)
  stop = 0.5
  curve, _ = run(jax.random.key(0), original, mask, settings, stop,
                 digits_task.data)
  performance = np.asarray(curve.performance)
  reached = int(np.argmax(performance >= stop))
  assert 0 < reached < len(performance) - 1
  assert np.all(np.isnan(performance[reached + 1:]))
  assert not np.any(np.isnan(performance[:reached + 1]))


@pytest.mark.parametrize("vmap_size", [None, 1, 2])
def test_batched_runs_equal_single_runs(digits_task, digits_originals,
                                        vmap_size):
  # Three runs, each with its own mask and procedure (masks are data); with
  # vmap_size=2 the last chunk is a remainder of one.
  budget = completion.budget_schedule(digits_task.recipe, 0.2)
  originals = [o.variables for o in digits_originals]
  masks = [splitter.make_mask(originals[0], splitter.Scheme("s", (pattern,)))
           for pattern in ("params/hidden2/*", "params/**", "params/head/*")]
  settings = [procedures.settings(name, digits_task.recipe)
              for name in ("T1", "T2", "T3")]
  keys = jax.random.split(jax.random.key(5), 3)
  stops = jnp.asarray([0.8, jnp.inf, 0.9])  # Each run stops on its own.
  batched = assert_runs_as_alone(
      digits_task, budget,
      batching.make_batched_completion(digits_task, budget, vmap_size),
      keys, originals, masks, settings, stops)
  assert np.isnan(batched.performance[0][-1])  # Stopped early.
  assert not np.isnan(batched.performance[1]).any()


@pytest.mark.parametrize("slots, group_width", [(2, 1), (3, 2), (6, None)])
def test_refilling_slots_give_each_run_its_own_curve(digits_task,
                                                     digits_originals, slots,
                                                     group_width):
  # Six runs that stop at different points (one never, one at its first
  # evaluation, one diverges) in fewer slots than runs: freed slots take
  # the waiting runs mid-program, and every curve equals the run alone.
  budget = completion.budget_schedule(digits_task.recipe, 0.2)
  originals = [digits_originals[i % 3].variables for i in range(6)]
  patterns = ("params/hidden2/*", "params/**", "params/head/*",
              "params/hidden1/*", "params/head/*", "**")
  masks = [splitter.make_mask(originals[0], splitter.Scheme("s", (p,)))
           for p in patterns]
  settings = [procedures.settings(name, digits_task.recipe)
              for name in ("T1", "T2", "T3", "T4", "T1", "T2")]
  settings[5] = procedures.settings("T3", digits_task.recipe,
                                    finetune_peak=1e38)  # Diverges.
  keys = jax.random.split(jax.random.key(7), 6)
  stops = jnp.asarray([0.8, jnp.inf, 0.9, 0.85, 0.0, jnp.inf])
  refilled = assert_runs_as_alone(
      digits_task, budget,
      jax.jit(batching.make_refilling_runs(digits_task, budget, slots,
                                           group_width=group_width)),
      keys, originals, masks, settings, stops)
  performance = np.asarray(refilled.performance)
  assert np.isnan(performance[0, -1])  # Stopped early.
  assert not np.isnan(performance[1]).any()  # Ran the whole schedule.
  assert np.isnan(performance[4, 1:]).all()  # Stopped at its first point.
  assert bool(refilled.diverged[5]) and not refilled.diverged[:5].any()
  np.testing.assert_array_equal(refilled.warm_start_cost, np.zeros(6))


def test_refilling_refuses_bad_settings(digits_task):
  with pytest.raises(spec.InputError, match="slots must be at least 1"):
    batching.make_refilling_runs(digits_task, slots=0)
  with pytest.raises(spec.InputError, match="group width must be at least 1"):
    batching.make_refilling_runs(digits_task, slots=2, group_width=0)
  host_task = dataclasses.replace(digits_task, shardable=False)
  with pytest.raises(spec.InputError, match="vmapped"):
    batching.make_refilling_runs(host_task, slots=2)


def test_runs_too_large_for_memory_are_vmapped_in_chunks(digits_task,
                                                          digits_originals):
  # Eight runs under a memory limit that only four vmapped together fit:
  # the engine compiles smaller programs until one fits (XLA's memory plan,
  # which XLA:CPU reports too) and gets the same curves.
  budget = completion.budget_schedule(digits_task.recipe, 0.1)
  original = digits_originals[0].variables
  args = (jax.random.split(jax.random.key(3), 8),
          batching.stack_runs([original] * 8),
          batching.stack_runs([scratch.everything_withheld(original)] * 8),
          batching.stack_runs([procedures.settings("T2",
                                                   digits_task.recipe)] * 8),
          jnp.full((8,), jnp.inf), digits_task.data)

  compiled = functools.cache(
      lambda vmap_size: batching.make_batched_completion(
          digits_task, budget, vmap_size).lower(*args).compile())
  needs = lambda vmap_size: memory.program_bytes(compiled(vmap_size))
  assert needs(1) < needs(4) < needs(None)
  logs = []
  fitted = batching.make_batched_completion(
      digits_task, budget, memory_limit_bytes=needs(4), log=logs.append)(*args)
  assert logs == [f"device memory: 4 of 8 run(s) vmapped together need "
                  f"{needs(4) / 2**20:,.1f} MiB of {needs(4) / 2**20:,.1f} MiB"]
  np.testing.assert_allclose(fitted.performance,
                             compiled(None)(*args).performance, atol=1e-6)
  with pytest.raises(spec.InputError, match="one run needs .* MiB of device "
                     "memory; .* MiB is available"):
    batching.make_batched_completion(
        digits_task, budget, vmap_size=1,
        memory_limit_bytes=needs(1) - 1)(*args)


def test_programs_compile_with_the_tasks_xla_options(digits_task,
                                                    digits_originals):
  # Every program the engine compiles for a task takes its options for this
  # backend: an option XLA does not know is refused at compilation.
  task = dataclasses.replace(digits_task, compiler_options={
      jax.default_backend(): {"xla_no_such_option": True}})
  original = digits_originals[0].variables
  args = (jax.random.split(jax.random.key(3), 2),
          batching.stack_runs([original] * 2),
          batching.stack_runs([scratch.everything_withheld(original)] * 2),
          batching.stack_runs([procedures.settings("T2", task.recipe)] * 2),
          jnp.full((2,), jnp.inf), task.data)
  keys = args[0]
  for program in [
      lambda: batching.make_batched_completion(task, (0, 1))(*args),
      lambda: batching.make_batched_completion(
          task, (0, 1), memory_limit_bytes=2**40)(*args),
      lambda: batching.make_batched_completion(
          task, (0, 1), mesh=sharding.run_mesh(1))(*args),
      lambda: scratch.make_scratch_training(task)(keys),
      lambda: scratch.make_staged_scratch_training(task).start(keys)]:
    with pytest.raises(Exception, match="xla_no_such_option"):
      program()
  # Options of another backend are not this one's.
  elsewhere = dataclasses.replace(digits_task, compiler_options={
      "no-such-backend": {"xla_no_such_option": True}})
  batching.make_batched_completion(elsewhere, (0, 1))(*args)


def test_vmap_size_must_be_positive(digits_task):
  with pytest.raises(spec.InputError, match="at least 1"):
    batching.make_batched_completion(digits_task, vmap_size=0)


def test_scratch_training_is_t2_with_everything_withheld(digits_task):
  key = prng.derive_key("scratch-test")
  curves, variables = scratch.make_scratch_training(digits_task)(key[None])
  shapes = jax.eval_shape(digits_task.init, key)
  placeholder = jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype), shapes)
  run = jax.jit(completion.make_completion(digits_task))
  curve, _ = run(key, placeholder, scratch.everything_withheld(placeholder),
                 procedures.settings("T2", digits_task.recipe), jnp.inf,
                 digits_task.data)
  np.testing.assert_allclose(curves.performance[0], curve.performance,
                             atol=1e-6)
  assert curve.performance[-1] > 0.9


def test_nan_loss_is_reported_as_divergence(digits_task, digits_originals):
  original = digits_originals[0].variables
  mask = splitter.make_mask(original, splitter.Scheme("all", ("**",)))
  run = jax.jit(completion.make_completion(digits_task))
  settings = procedures.settings("T3", digits_task.recipe,
                                 finetune_peak=1e38)
  curve, _ = run(jax.random.key(0), original, mask, settings, jnp.inf,
                 digits_task.data)
  assert bool(curve.diverged)
  assert np.isnan(np.asarray(curve.performance)[-1])


def test_budget_schedule(digits_task):
  recipe = digits_task.recipe
  assert completion.budget_schedule(recipe) == recipe.eval_updates
  half = completion.budget_schedule(recipe, 0.5)
  assert half[-1] == recipe.num_updates // 2 and half[0] == 0
  with pytest.raises(spec.InputError, match="budget fraction"):
    completion.budget_schedule(recipe, 1.5)


def test_keys_are_derived_from_names():
  a = prng.derive_key("digits/mlp", "abc", "layer.head", "T1", 0)
  b = prng.derive_key("digits/mlp", "abc", "layer.head", "T1", 0)
  c = prng.derive_key("digits/mlp", "abc", "layer.head", "T1", 1)
  assert jnp.array_equal(jax.random.key_data(a), jax.random.key_data(b))
  assert not jnp.array_equal(jax.random.key_data(a), jax.random.key_data(c))


def test_registry_config_overrides():
  task = registry.get_task("digits/mlp:num_updates=100,peak_learning_rate=0.01")
  assert task.recipe.num_updates == 100 and task.name.endswith("=0.01")
  with pytest.raises(spec.InputError, match="no config key 'nope'"):
    registry.get_task("digits/mlp:nope=1")
  with pytest.raises(spec.InputError, match="unknown task 'digits/cnn'"):
    registry.get_task("digits/cnn")
  with pytest.raises(spec.InputError, match="unknown task family"):
    registry.get_task("svhn/resnet20")
