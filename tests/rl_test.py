"""RL tasks: PPO on gymnax CartPole and MinAtar through the whole engine.

`cartpole/ppo` runs at its real recipe (500,000 frames a run, about 30 s for
three originals on two CPU cores); the MinAtar games run their `smoke`
variants (a few updates) to exercise each environment and the MinAtar
network.
"""

import functools
import os
import re
import shutil

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import built_once

from benchmark.engine import batching, completion, scratch, timing
from benchmark.publishing import leaderboard
from benchmark.science import procedures, splitter
from benchmark.sweeps import records, storage, sweep
from contract import spec
from tasks import actor_critic, registry, resnet_layers

CARTPOLE_CAP = 500.0  # The most a CartPole-v1 episode returns.


@pytest.fixture(scope="session")
def cartpole_sweep(tmp_path_factory):
  """The sweep (about a minute), run once for all test workers."""
  def build(workdir):
    sweep.run_sweep(sweep.SweepSettings(
        task="cartpole/ppo", splits=("stage.value_head", "stage.policy_head"),
        procedures=("T1", "T2", "T3", "T4"), seeds=3, bootstrap_reps=200,
        workdir=workdir), log=lambda _: None)
  workdir = built_once(tmp_path_factory, "cartpole", build)
  good, bad = records.read_all(sweep.records_dir(workdir, "cartpole/ppo"))
  assert not bad and len(good) == 8
  return workdir, {(r["split"]["name"], r["procedure"]["name"]): r
                   for r in good}


def test_cartpole_originals_learn_far_above_random(cartpole_sweep):
  workdir, _ = cartpole_sweep
  manifests = [storage.read_json(os.path.join(
      workdir, "originals", "cartpole-ppo", f"seed-{s}", "manifest.json"))
               for s in range(3)]
  for manifest in manifests:
    assert manifest["cost_unit"] == "frames"
    assert manifest["eval_costs"][-1] == 976 * 512  # 4 envs x 128 steps.
    assert manifest["p0"] < 40  # A random policy balances ~20 steps.
    assert manifest["p_star"] > 400  # 500 is the time limit.


def test_returns_are_noisy_and_the_headline_alpha_says_so(cartpole_sweep):
  """The evaluation keeps one key for every run (common random numbers), so
  its noise is measured with independent keys: a return over 32 episodes
  has a standard error, and the headline alpha is the highest whose margin
  is at least two of them."""
  _, by_cell = cartpole_sweep
  fields = by_cell[("stage.policy_head", "T1")]["protocol"]
  error = fields["evaluation_standard_error"]
  p_stars = [o["p_star"] for o in by_cell[("stage.policy_head", "T1")][
      "originals"]]
  # No noise only where the median original balances every episode to
  # CartPole's cap (seen under other rounding: --xla_cpu_max_isa=SSE4_2).
  assert error > 0 or np.median(p_stars) == CARTPOLE_CAP
  p0 = by_cell[("stage.policy_head", "T1")]["p0"]
  margin = lambda a: (1 - a) * (np.median(p_stars) - p0)
  usable = [a for a in (0.5, 0.9, 0.99) if margin(a) >= 2 * error]
  assert fields["headline_alpha"] == (max(usable) if usable else None)


def test_withholding_the_value_head_leaves_the_policy_intact(cartpole_sweep):
  _, by_cell = cartpole_sweep
  for name in procedures.PROCEDURES:
    record = by_cell[("stage.value_head", name)]
    for row in record["hardness"]:
      assert row["hardness"] == [0.0, 0.0, 0.0], (name, row["alpha"])


def test_withholding_the_policy_head_costs_frames(cartpole_sweep):
  _, by_cell = cartpole_sweep
  record = by_cell[("stage.policy_head", "T1")]
  assert record["budget"]["cost_unit"] == "frames"
  top = record["hardness"][-1]
  assert top["alpha"] == 0.99
  assert min(top["hardness"]) > 0
  # Costs are counted in frames: whole learner updates of 512 frames.
  assert all(t % 512 == 0 for t in top["t"] if t is not None)


def test_haiku_agent_has_the_same_parts_and_learns():
  flax_task = registry.get_task("cartpole/ppo:smoke")
  haiku_task = registry.get_task("cartpole/ppo:smoke,framework=haiku")
  key = jax.random.key(0)
  flax_vars, haiku_vars = flax_task.init(key), haiku_task.init(key)
  count = lambda v: sum(x.size for x in jax.tree.leaves(v))
  assert count(flax_vars) == count(haiku_vars) == 9_155
  layer_splits = lambda v: {s.name
                            for s in splitter.family_schemes(v, "layers")}
  assert layer_splits(haiku_vars) == {
      "layer.actor_torso_dense0", "layer.actor_torso_dense1",
      "layer.critic_torso_dense0", "layer.critic_torso_dense1",
      "layer.policy_head", "layer.value_head"}
  assert {"layer.policy_head", "layer.value_head",
          "layer.actor_torso-dense0"} <= layer_splits(flax_vars)
  curves, _ = scratch.make_scratch_training(haiku_task, 1)(
      jax.random.split(key, 2))
  assert np.all(np.isfinite(curves.performance))
  assert not np.any(curves.diverged)


@pytest.mark.skipif(jax.default_backend() != "cpu",
                    reason="checks the CPU program's LAPACK calls")
@pytest.mark.parametrize("framework, torso, observation_shape", [
    ("flax", "impala", (4, 84, 84)), ("haiku", "mlp", (4,))])
def test_vmapped_initialisation_takes_one_qr_at_a_time(framework, torso,
                                                       observation_shape):
  # Batched, jaxlib 0.10's CPU QR hung this program (18 orthogonal kernels
  # on a 2-thread pool; BUILD_NOTES): each QR must be of one matrix, and
  # each run must get its own key's values.
  init, _ = actor_critic.FRAMEWORKS[framework](6, torso, (64,), True,
                                               observation_shape)
  keys = jax.random.split(jax.random.key(0), 3)
  program = jax.jit(jax.vmap(init))
  compiled = program.lower(keys).compile().as_text()
  matrices = re.findall(r"(f32\[[\d,]*\])[^\n]*lapack_sgeqrf", compiled)
  assert matrices and all(m.count(",") == 1 for m in matrices), matrices
  batched = program(keys)
  for i, key in enumerate(keys):
    jax.tree.map(np.testing.assert_array_equal, init(key),
                 jax.tree.map(lambda v, i=i: v[i], batched))


def test_conv_init_sets_the_scale_of_the_impala_torso():
  frames = jax.random.randint(jax.random.key(1), (8, 12, 84, 84), 0, 256,
                              jnp.int32).astype(jnp.uint8)
  torso = {}
  for conv_init in ["orthogonal", "lecun_normal"]:
    init, _ = actor_critic.flax_network(5, "impala", (256,), True,
                                        (12, 84, 84), conv_init)
    params = init(jax.random.key(0))["params"]
    kernel = params["torso"]["section1"]["block0"]["conv0"]["kernel"]
    torso[conv_init] = (kernel.reshape(-1, kernel.shape[-1]),
                        actor_critic.Torso("impala", (256,), conv_init).apply(
                            {"params": params["torso"]}, frames))
  # The default keeps purejaxrl's orthogonal(sqrt 2) kernels ...
  kernel, features = torso["orthogonal"]
  np.testing.assert_allclose(kernel.T @ kernel, 2 * np.eye(32), atol=1e-5)
  # ... Flax's default has variance 1/fan_in, and features far smaller.
  kernel, small_features = torso["lecun_normal"]
  assert 0.8 < float(jnp.std(kernel)) * np.sqrt(kernel.shape[0]) < 1.2
  norm = lambda x: float(jnp.linalg.norm(x, axis=1).mean())
  assert norm(small_features) < 0.3 * norm(features)
  with pytest.raises(ValueError, match="unknown conv_init 'he'"):
    actor_critic.flax_network(5, "impala", (256,), True, (12, 84, 84), "he")


def test_layer_norm_keeps_the_torso_alive_without_new_parameters():
  frames = jax.random.randint(jax.random.key(1), (8, 12, 84, 84), 0, 256,
                              jnp.int32).astype(jnp.uint8)
  init, apply = actor_critic.flax_network(5, "impala", (256,), True,
                                          (12, 84, 84), "lecun_normal", True)
  variables = init(jax.random.key(0))
  plain_init, _ = actor_critic.flax_network(5, "impala", (256,), True,
                                            (12, 84, 84), "lecun_normal")
  # The same parameters, value for value: the norm has none of its own.
  jax.tree.map(np.testing.assert_array_equal, variables,
               plain_init(jax.random.key(0)))
  # Shrink the dense layer 100-fold, as a collapsing torso does: the
  # normalised features keep their size, the plain ones shrink with it.
  shrunk = jax.tree_util.tree_map_with_path(
      lambda path, x: x / 100 if "dense0" in jax.tree_util.keystr(path)
      else x, variables["params"]["torso"])
  for layer_norm, ratio in [(True, 1.0), (False, 1e-4)]:
    torso = actor_critic.Torso("impala", (256,), "lecun_normal", layer_norm)
    size = lambda params, torso=torso: float(jnp.mean(
        torso.apply({"params": params}, frames)**2))
    np.testing.assert_allclose(
        size(shrunk) / size(variables["params"]["torso"]), ratio, rtol=0.02)
  # ReLU of standardised features: about half their mean square of 1.
  features = actor_critic.Torso("impala", (256,), "lecun_normal", True).apply(
      {"params": shrunk}, frames)
  assert 0.45 < float(jnp.mean(features**2)) < 0.55
  logits, values = apply(variables, frames)
  assert logits.shape == (8, 5) and values.shape == (8,)


@pytest.mark.parametrize("option, value, conv, in_program", [
    ("conv_kernel_grad", "pallas", functools.partial(
        nn.Conv, conv_general_dilated=resnet_layers.conv_pallas_kernel_grad),
     "pallas_call"),
    ("conv", "bands", resnet_layers.RowBandConv, "optimization_barrier")])
def test_minatar_convolution_options_keep_the_network(option, value, conv,
                                                      in_program):
  # An implementation option: the same task, parameters and outputs, and
  # runs' gradients (vmapped, as in a sweep) equal to XLA's. (The im2col
  # kernel gradient is the Pallas option's code path with another kernel
  # gradient, tested in cifar10_test.)
  name = "minatar-breakout/ppo:smoke"
  plain = registry.get_task(name)
  other = registry.get_task(name, implementation={option: value})
  assert (other.name, other.config) == (plain.name, plain.config)
  assert plain.compiler_options == {}
  assert other.compiler_options == (
      {"gpu": {"xla_gpu_enable_triton_gemm": False}} if option == "conv"
      else {})
  keys = jax.random.split(jax.random.key(0), 2)
  variables = jax.vmap(plain.init)(keys)
  jax.tree.map(np.testing.assert_array_equal, variables,
               jax.vmap(other.init)(keys))
  frames = jax.random.bernoulli(jax.random.key(1), 0.2,
                                (2, 6, 10, 10, 4)).astype(jnp.float32)
  network = (3, "minatar", tuple(plain.config["hidden"]), True, (10, 10, 4))
  _, plain_apply = actor_critic.flax_network(*network)
  _, other_apply = actor_critic.flax_network(
      *network, conv=conv, conv_features_once=option == "conv")

  def grads(apply):
    def loss(v, x):
      logits, values = apply(v, x)
      return jnp.sum(jnp.sin(logits)) + jnp.sum(values**2)
    with jax.default_matmul_precision("highest"):
      return jax.vmap(jax.grad(loss))(variables, frames)

  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4),
               grads(other_apply), grads(plain_apply))
  # The task's own completion program (2 runs vmapped) uses it.
  runs, args = timing.timed_program(other, 2, None, 1)
  program = str(jax.make_jaxpr(runs)(*args))
  assert in_program in program
  assert ("conv_general_dilated" in program) == (option != "conv")
  with pytest.raises(spec.InputError, match=f"{option}={value} applies to "
                     "the flax MinAtar torso only"):
    registry.get_task("minatar-breakout/ppo:torso=mlp",
                      implementation={option: value})


def test_minatar_convolution_in_bands_takes_no_kernel_gradient_option():
  with pytest.raises(spec.InputError, match="conv_kernel_grad=matmul and "
                     "conv=bands together"):
    registry.get_task("minatar-breakout/ppo:smoke", implementation={
        "conv_kernel_grad": "matmul", "conv": "bands"})


def test_convolution_in_bands_is_xlas_convolution():
  # Strides, SAME and explicit padding, non-square kernels: values and both
  # gradients as XLA's; and a too large operator is refused.
  for shape, kernel, strides, padding in [
      ((6, 10, 10, 4), (3, 3, 4, 16), (1, 1), "VALID"),
      ((5, 9, 7, 3), (3, 3, 3, 8), (2, 2), "SAME"),
      ((2, 8, 8, 2), (5, 3, 2, 4), (1, 2), ((2, 1), (0, 1)))]:
    x = jax.random.normal(jax.random.key(0), shape)
    w = jax.random.normal(jax.random.key(1), kernel)

    def xla(x, w, strides=strides, padding=padding):
      return jax.lax.conv_general_dilated(
          x, w, strides, padding, precision="highest",
          dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def bands(x, w, strides=strides, padding=padding):
      return resnet_layers.conv_as_row_bands(x, w, strides, padding,
                                             precision="highest")

    np.testing.assert_allclose(bands(x, w), xla(x, w), atol=1e-4)
    for bands_grad, xla_grad in zip(*(
        jax.grad(lambda x, w, c=c: jnp.sum(jnp.sin(c(x, w))), (0, 1))(x, w)
        for c in (bands, xla))):
      np.testing.assert_allclose(bands_grad, xla_grad, atol=1e-4)
  # As flax's layer, with its bias added by the product: the same
  # parameters, values and gradients.
  x = jax.random.normal(jax.random.key(2), (3, 10, 10, 6))
  layers = [make(16, (3, 3), padding="VALID",
                 bias_init=nn.initializers.normal(1.0))
            for make in (nn.Conv, resnet_layers.RowBandConv)]
  variables = layers[0].init(jax.random.key(3), x)
  jax.tree.map(np.testing.assert_array_equal, variables,
               layers[1].init(jax.random.key(3), x))
  with jax.default_matmul_precision("highest"):
    outputs = [jax.value_and_grad(
        lambda v, x, layer=layer: jnp.sum(jnp.sin(layer.apply(v, x))),
        (0, 1))(variables, x) for layer in layers]
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4),
               *outputs)
  with pytest.raises(ValueError, match="more than 16,777,216"):
    resnet_layers.conv_as_row_bands(jnp.zeros((1, 32, 512, 64)),
                                    jnp.zeros((3, 3, 64, 64)), (1, 1),
                                    "SAME")


@pytest.mark.parametrize("family", ["minatar-breakout", "minatar-asterix",
                                    "minatar-spaceinvaders"])
def test_minatar_games_run_on_the_device(family):
  task = registry.get_task(f"{family}/ppo:smoke")
  variables = task.init(jax.random.key(0))
  channels = task.data_info["observation_shape"][-1]
  assert variables["params"]["torso"]["conv"]["kernel"].shape == (
      3, 3, channels, 16)
  assert task.recipe.cost_unit == "frames"
  assert np.isfinite(task.p0) and task.p0 >= 0
  [(_, withheld)] = splitter.resolve_schemes(variables, ["stage.policy_head"],
                                             task.name)
  run = batching.make_batched_completion(task, vmap_size=1)
  curves = run(jax.random.split(jax.random.key(1), 2),
               jax.tree.map(lambda v: jnp.stack([v, v]), variables),
               batching.stack_runs([withheld] * 2),
               batching.stack_runs([procedures.settings("T1", task.recipe)]
                                   * 2),
               jnp.full((2,), jnp.inf), task.data)
  assert np.all(np.isfinite(curves.performance))


def test_runs_fitted_to_device_memory_take_environment_parameters():
  """A program whose vmap size is fitted to a memory limit (the default on
  GPUs) takes gymnax's environment parameters, Python numbers among them,
  and gives the curves of the unfitted program."""
  task = registry.get_task("cartpole/ppo:smoke")
  original = task.init(jax.random.key(0))
  mask = splitter.make_mask(original, splitter.Scheme("s", ("params/**",)))
  args = (jax.random.split(jax.random.key(2), 2),
          batching.stack_runs([original] * 2),
          batching.stack_runs([mask] * 2),
          batching.stack_runs([procedures.settings("T2", task.recipe)] * 2),
          jnp.full((2,), jnp.inf), task.data)
  assert any(isinstance(leaf, (int, float))
             for leaf in jax.tree.leaves(task.data))
  fitted = batching.make_batched_completion(
      task, vmap_size=1, memory_limit_bytes=2**40)(*args)
  plain = batching.make_batched_completion(task, vmap_size=1)(*args)
  np.testing.assert_array_equal(fitted.performance, plain.performance)


def test_refilled_slots_give_ppo_runs_their_own_curves():
  # PPO's learner state holds its environments: four runs in two slots,
  # stopping at different points, each equal to the run in a program of
  # the same shape alone (its copy in the other slot). Not to the run
  # unbatched: RL amplifies rounding, and under some instruction sets
  # (--xla_cpu_max_isa=SSE4_2) a batched lane rounds otherwise than an
  # unbatched run, so its last returns differed (366.25 against 500).
  task = registry.get_task("cartpole/ppo:smoke")
  original = task.init(jax.random.key(0))
  masks = [splitter.make_mask(original, splitter.Scheme("s", (pattern,)))
           for pattern in ("params/**", "**", "params/**", "**")]
  settings = [procedures.settings(name, task.recipe)
              for name in ("T1", "T2", "T3", "T4")]
  keys = jax.random.split(jax.random.key(3), 4)
  stops = jnp.asarray([20.0, jnp.inf, 0.0, 30.0])
  runs = jax.jit(batching.make_refilling_runs(task, slots=2))
  stack = batching.stack_runs
  refilled = runs(keys, stack([original] * 4), stack(masks), stack(settings),
                  stops, task.data)
  for i in range(4):
    alone = runs(jnp.stack([keys[i]] * 2), stack([original] * 2),
                 stack([masks[i]] * 2), stack([settings[i]] * 2),
                 jnp.stack([stops[i]] * 2), task.data)
    np.testing.assert_array_equal(refilled.performance[i],
                                  alone.performance[0])
    assert bool(refilled.diverged[i]) == bool(alone.diverged[0])
  performance = np.asarray(refilled.performance)
  assert np.isnan(performance[2, 1:]).all()  # Stopped at its first point.
  assert not np.isnan(performance[1]).any()  # Ran the whole schedule.


@pytest.mark.parametrize("name, kwargs, message", [
    ("minatar-breakout/ppo:env_name=Asterix-MinAtar", {}, "fixed by the task"),
    ("cartpole/ppo", {"train_fraction": 0.5}, "no data set to cut"),
    ("cartpole/ppo:num_minibatches=3", {}, "does not split"),
    ("cartpole/ppo:framework=torch", {}, "framework must be"),
    ("minatar-breakout/ppo:framework=haiku", {}, "haiku: mlp"),
])
def test_bad_rl_settings_are_input_errors(name, kwargs, message):
  with pytest.raises(spec.InputError, match=message):
    registry.get_task(name, **kwargs)


@pytest.fixture(scope="module")
def cartpole_trajectory_sweep(cartpole_sweep, tmp_path_factory):
  shared, _ = cartpole_sweep  # Its originals are reused (the sweep's
  # folder is shared by the workers: read only).
  workdir = str(tmp_path_factory.mktemp("cartpole_trajectory"))
  shutil.copytree(os.path.join(shared, "originals"),
                  os.path.join(workdir, "originals"))
  common = dict(task="cartpole/ppo", seeds=3, bootstrap_reps=200,
                workdir=workdir, trajectory_episodes=4, jobs_per_program=2)
  # The value head under every procedure: the no-op calibration.
  no_op = sweep.run_sweep(sweep.SweepSettings(
      splits=("stage.value_head",), **common), log=lambda _: None)
  result = leaderboard.sweep_and_write(sweep.SweepSettings(
      splits=("stage.policy_head",), procedures=("T1", "T2"), **common),
                           log=lambda _: None)
  assert len(result["records"]) == 2
  assert "Trajectory access: 4 episodes" in result["markdown"]
  found = [records.read(p) for p in result["records"] + no_op["records"]]
  return {(r["split"]["name"], r["procedure"]["name"]): r for r in found}


def test_trajectory_access_keeps_the_no_op_at_zero(cartpole_trajectory_sweep):
  """The curve's first point is the starting model before the warm start,
  so withholding the value head, which the policy does not use, costs
  nothing under every procedure, with trajectories too (DESIGN.md)."""
  for name in procedures.PROCEDURES:
    record = cartpole_trajectory_sweep[("stage.value_head", name)]
    assert record["adversary"]["trajectory_episodes"] == 4
    for row in record["hardness"]:
      assert row["hardness"] == [0.0, 0.0, 0.0], (name, row["alpha"])
    # Nothing to recover: no demonstrations were needed.
    assert record["adversary"]["warm_start"]["cost_per_seed"] == [0, 0, 0]


def test_trajectory_access_warm_starts_the_policy_head(
    cartpole_sweep, cartpole_trajectory_sweep):
  _, without = cartpole_sweep
  for name in ("T1", "T2"):
    record = cartpole_trajectory_sweep[("stage.policy_head", name)]
    adversary = record["adversary"]
    assert adversary["variant"].endswith("-traj4")
    assert adversary["trajectory_episodes"] == 4
    # The demonstrator balances: 4 episodes cost far more than 4 x 25
    # frames, and never more than 4 x 500.
    costs = adversary["warm_start"]["cost_per_seed"]
    assert all(1000 < c <= 2000 for c in costs), costs
    # The first point is the starting model, before the warm start: the
    # same fresh head as without trajectories (the same keys).
    first = lambda r, i: np.mean([s["performance"][i] for s in r["seeds"]])
    alone = without[("stage.policy_head", name)]
    assert first(record, 0) == first(alone, 0) < 200
    # Cloned before the first RL frames: the next evaluation, one update
    # later, is far above the same run's without demonstrations.
    assert first(record, 1) > 200 > first(alone, 1)


def test_behaviour_cloning_keeps_frozen_parameters_bit_identical():
  task = registry.get_task("cartpole/ppo:smoke")
  original = task.init(jax.random.key(0))
  [(_, withheld)] = splitter.resolve_schemes(original, ["stage.policy_head"],
                                             task.name)
  start = completion.starting_variables(
      task, jax.random.key(1), original, withheld,
      procedures.settings("T1", task.recipe))
  cloned, frames = jax.jit(task.warm_start, static_argnums=5)(
      start, original, withheld, jax.random.key(2), task.data, 3)
  assert frames >= 3
  by_path = lambda tree: {
      splitter.path_of(kp): np.asarray(v)
      for kp, v in jax.tree_util.tree_flatten_with_path(tree)[0]}
  after = by_path(cloned)
  for path, before in by_path(start).items():
    changed = not np.array_equal(before, after[path])
    assert changed == path.startswith("params/policy_head"), path


def test_supervised_tasks_refuse_trajectory_access(tmp_path):
  settings = sweep.SweepSettings(task="digits/mlp", trajectory_episodes=2,
                                 workdir=str(tmp_path))
  with pytest.raises(spec.InputError, match="no trajectory access"):
    sweep.run_sweep(settings, log=lambda _: None)
  assert not os.listdir(tmp_path)
