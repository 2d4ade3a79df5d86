"""Measurement protocol v2 on real digits data: batch-norm statistics, the
fine-tuning grid, keys from masks, and the rules of published sweeps."""

import dataclasses
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import run_cli

from agents import supervised
from benchmark.engine import completion, scratch
from benchmark.science import hardness, procedures, protocol, splitter
from benchmark.sweeps import records, storage, sweep
from contract import spec
from tasks import digits, recipes


class ResidualNormNet(nn.Module):
  """A ResNet-style network on 8x8 digits: a convolution, a residual block
  of two batch-normalised convolutions, pooling and a classifier."""

  @nn.compact
  def __call__(self, x, train=False):
    x = x.reshape((-1, 8, 8, 1))
    norm = lambda name: nn.BatchNorm(use_running_average=not train,
                                     momentum=0.9, name=name)
    x = nn.relu(norm("stem_norm")(nn.Conv(16, (3, 3), name="stem")(x)))
    y = nn.relu(norm("block_norm0")(nn.Conv(16, (3, 3), name="block_conv0")(
        x)))
    y = norm("block_norm1")(nn.Conv(16, (3, 3), name="block_conv1")(y))
    x = nn.relu(x + y)
    return nn.Dense(10, name="head")(x.mean(axis=(1, 2)))


@pytest.fixture(scope="module")
def residual_task():
  train, test = digits.load_digits(0.2)
  config = ml_collections.ConfigDict(dict(
      peak_learning_rate=3e-3, warmup_updates=10, num_updates=150,
      batch_size=64, eval_geometric=4, eval_linear=4))
  model = ResidualNormNet()
  return recipes.supervised_task(
      "test/residual-norm-net", recipes.flax_init(model, jnp.zeros((1, 64))),
      supervised.flax_apply(model), recipes.make_dataset(train, test, 360),
      recipes.adam_warmup_cosine(config), num_classes=10)


def leaves_by_path(tree):
  return {splitter.path_of(kp): np.asarray(v) for kp, v in
          jax.tree_util.tree_flatten_with_path(tree)[0]}


def test_withheld_kernels_of_a_batch_normalised_resnet_recover_under_t1(
    residual_task):
  """Kernels re-initialised under T1: with the running statistics updated
  by the run's forward passes the network recovers far above chance, and
  every parameter that is not withheld stays bit for bit."""
  curves, trained = scratch.make_scratch_training(residual_task)(
      jnp.stack([jax.random.key(0)]))
  original = jax.tree.map(lambda x: x[0], trained)
  p_star = float(curves.performance[0, -1])
  assert p_star > 0.8
  mask = splitter.make_mask(original, splitter.Scheme(
      "kernels", ("params/**/kernel",)))
  run = jax.jit(completion.make_completion(residual_task))
  curve, final = run(jax.random.key(1), original, mask,
                     procedures.settings("T1", residual_task.recipe), jnp.inf,
                     residual_task.data)
  performance = np.asarray(curve.performance)
  assert performance[0] < 0.3  # Fresh kernels: near chance (0.1).
  assert performance[-1] > 0.6, performance
  before, after = leaves_by_path(original), leaves_by_path(final)
  for path, withheld in leaves_by_path(mask).items():
    if path.startswith("batch_stats/"):
      assert not np.array_equal(before[path], after[path]), path
    elif withheld.any():
      assert not np.array_equal(before[path], after[path]), path
    else:
      assert before[path].tobytes() == after[path].tobytes(), path


def test_the_fine_tuning_grid(digits_task):
  recipe = digits_task.recipe
  grid = procedures.schedule_grid("T4", recipe, 500)
  assert [s.label for s in grid] == ["ft-constant", "ft-linear",
                                     "peak-constant", "peak-linear"]
  low, peak = 0.1 * recipe.peak_learning_rate, recipe.peak_learning_rate
  rates = {s.label: procedures.learning_rate(recipe, s.settings)
           for s in grid}
  assert float(rates["ft-constant"](400)) == pytest.approx(low)
  assert float(rates["peak-constant"](0)) == pytest.approx(peak)
  assert float(rates["peak-linear"](125)) == pytest.approx(peak / 2)
  assert float(rates["peak-linear"](250)) == 0.0  # Decayed over B / 2.
  assert float(rates["ft-linear"](0)) == pytest.approx(low)
  (recipe_only,) = procedures.schedule_grid("T1", recipe, 500)
  assert recipe_only.label == "recipe"
  assert float(procedures.learning_rate(recipe, recipe_only.settings)(200)) \
      == pytest.approx(float(recipe.schedule(200)))
  # The peak never exceeds the recipe's.
  with pytest.raises(spec.InputError, match="never exceeds the recipe"):
    procedures.schedule_grid("T3", recipe, 500, finetune_fraction=2.0)
  assert len(procedures.schedule_grid("T3", recipe, 500,
                                      finetune_fraction=1.0)) == 2


@pytest.fixture(scope="module")
def digits_t3(digits_workdir, tmp_path_factory):
  """T3 on the first hidden layer, 5 seeds, in a workdir of its own that
  shares the session's originals."""
  workdir = tmp_path_factory.mktemp("t3")
  os.symlink(os.path.join(digits_workdir, "originals"), workdir / "originals")
  result = sweep.run_sweep(sweep.SweepSettings(
      task="digits/mlp", splits=("layer.hidden1",), procedures=("T3",),
      seeds=5, bootstrap_reps=200, workdir=str(workdir)), log=lambda _: None)
  (path,) = result["records"]
  return str(workdir), records.read(path)


def test_budgeted_t3_reaches_0_99_where_the_constant_rate_did_not(digits_t3):
  _, record = digits_t3
  top = record["hardness"][-1]
  assert top["alpha"] == 0.99
  assert not any(top["censored"]), top  # The grid reaches it every time.
  costs, p0 = record["eval_costs"], record["p0"]
  for seed, won in zip(record["seeds"], top["won"]):
    by_label = {g["schedule"]: g["performance"] for g in seed["grid"]}
    # Protocol v1's schedule alone: a constant 10% of the peak never gets
    # there within the budget.
    constant = hardness.normalise(
        [np.nan if v is None else v for v in by_label["ft-constant"]], p0,
        seed["p_star"])
    assert hardness.first_reach(costs, constant, 0.99) is None
    assert won in by_label and won != "ft-constant"
  # The record's curve is the best of the grid at each evaluation.
  seed = record["seeds"][0]
  best = sweep.oracle_curve(np.asarray(
      [[np.nan if v is None else v for v in g["performance"]]
       for g in seed["grid"]], np.float64))
  np.testing.assert_array_equal(
      [np.nan if v is None else v for v in seed["performance"]], best)


def test_the_same_mask_under_another_name_gives_the_same_numbers(
    digits_t3, tmp_path):
  workdir, record = digits_t3
  copy = tmp_path / "copy.yaml"
  copy.write_text("name: my-first-layer\nwithhold: "
                  "['params/hidden1/kernel', 'params/hidden1/bias']\n")
  result = sweep.run_sweep(sweep.SweepSettings(
      task="digits/mlp", splits=(str(copy),), procedures=("T3",), seeds=5,
      bootstrap_reps=200, workdir=workdir), log=lambda _: None)
  (path,) = result["records"]
  other = records.read(path)
  assert other["split"]["name"] == "my-first-layer"
  assert other["split"]["mask_sha256"] == record["split"]["mask_sha256"]
  assert other["split"]["roles"] == record["split"]["roles"] == [
      "first-layer"]
  assert other["seeds"] == record["seeds"]
  assert other["hardness"] == record["hardness"]


def test_roles_are_tagged_by_mask(digits_task):
  template = digits_task.init(jax.random.key(0))
  schemes = splitter.resolve_schemes(template, ["layers", "roles"],
                                     digits_task.name)
  roles = splitter.roles_of(template, schemes)
  assert roles["layer.head"] == ["head"]
  assert roles["layer.hidden1"] == ["first-layer"]
  assert roles["role.all-but-head"] == ["all-but-head"]
  assert roles["layer.hidden2"] == []
  with pytest.raises(spec.InputError, match="unknown role"):
    splitter.role_schemes(template, {"tail": {"withhold": ("**",)}})


def test_a_v2_record_states_its_protocol(digits_t3):
  _, record = digits_t3
  assert record["schema"] == records.SCHEMA_ID and records.is_current(record)
  fields = record["protocol"]
  # 360 test digits: the binomial error at P* ~ 0.97 is ~0.009, so 0.99's
  # margin (0.0087) is under two errors and 0.9 is the headline alpha.
  assert fields["evaluation_standard_error"] == pytest.approx(0.0094,
                                                              abs=0.001)
  assert fields["headline_alpha"] == 0.9
  assert fields["originals_check"]["converged"]
  for row in record["hardness"]:
    assert row["cap"] == pytest.approx(500 / row["t0"])


def test_records_of_protocol_v1_are_recognised():
  folder = os.path.join(protocol.results_dir(), "records", "digits-mlp")
  old = [records.read(os.path.join(folder, name))
         for name in sorted(os.listdir(folder)) if "__v2-" not in name]
  assert old and not any(records.is_current(r) for r in old)
  assert "protocol v1" in records.protocol_notice(old[0], "x.json")


def test_convergence_rule():
  costs = list(range(0, 110, 10))
  flat = [0.1, 0.5, 0.8, 0.9, 0.95, 0.96, 0.97, 0.97, 0.97, 0.97, 0.97]
  climbing = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.97]
  assert protocol.convergence(costs, [flat, flat], 0.1)["converged"]
  check = protocol.convergence(costs, [flat, climbing], 0.1)
  assert not check["converged"] and check["plateau_gap"][1] > 0.05
  apart = [v * 0.8 for v in flat]
  assert not protocol.convergence(costs, [flat, apart], 0.1)["converged"]
  assert "FAIL" in protocol.convergence_line(check)
  # Noisy evaluations widen the tolerances: P* 20% apart is agreement when
  # one evaluation's standard error is a tenth of the recovery range.
  noisy = protocol.convergence(costs, [flat, apart], 0.1, 0.087)
  assert noisy["converged"] and noisy["spread_tolerance"] > noisy["spread"]


def test_headline_alpha_follows_the_evaluation_error():
  alphas = (0.5, 0.9, 0.99)
  assert protocol.headline_alpha(alphas, 1.0, 0.0, 0.004) == 0.99
  assert protocol.headline_alpha(alphas, 1.0, 0.0, 0.01) == 0.9
  assert protocol.headline_alpha(alphas, 1.0, 0.0, 0.3) is None


@pytest.fixture
def published(monkeypatch, tmp_path):
  """`tmp_path` stands for the published results/."""
  monkeypatch.setattr(protocol, "results_dir", lambda: str(tmp_path))
  return tmp_path


def test_published_sweeps_refuse_uncommitted_code(published, monkeypatch):
  monkeypatch.setattr(storage, "dirty_code_files",
                      lambda: ["benchmark/sweeps/sweep.py"])
  settings = sweep.SweepSettings(task="digits/mlp", workdir=str(published))
  with pytest.raises(spec.InputError,
                     match="committed code only.*benchmark/sweeps/sweep.py"):
    sweep.run_sweep(settings, log=lambda _: None)
  with pytest.raises(spec.InputError, match="private records"):
    sweep.run_sweep(sweep.SweepSettings(task="digits/mlp", private=True,
                                        workdir=str(published)),
                    log=lambda _: None)
  assert not os.listdir(published)


@pytest.mark.parametrize("change, rule", [
    (dict(seeds=3), "at least 5 seeds"),
    (dict(budget_fraction=0.5), "budget is at least the recipe's"),
    (dict(num_originals=2), "at least 3 originals"),
])
def test_published_sweeps_follow_the_protocol(published, monkeypatch, change,
                                              rule):
  monkeypatch.setattr(storage, "dirty_code_files", lambda: [])
  settings = sweep.SweepSettings(task="digits/mlp", workdir=str(published),
                                 **change)
  with pytest.raises(spec.InputError, match=rule):
    sweep.run_sweep(settings, log=lambda _: None)
  assert not os.listdir(published)


def test_records_say_why_they_are_unpublishable(digits_workdir, tmp_path,
                                                monkeypatch):
  monkeypatch.setattr(storage, "dirty_code_files", lambda: [])
  os.symlink(os.path.join(digits_workdir, "originals"),
             tmp_path / "originals")
  result = sweep.run_sweep(sweep.SweepSettings(
      task="digits/mlp", splits=("layer.head",), procedures=("T2",), seeds=2,
      alphas=(0.5,), private=True, workdir=str(tmp_path)), log=lambda _: None)
  provenance = records.read(result["records"][0])["provenance"]
  assert not provenance["publishable"]
  assert provenance["unpublishable_because"][0].startswith("private")
  assert "at least 5 seeds" in provenance["unpublishable_because"][1]


def test_a_sweep_takes_the_tasks_default_seeds(digits_workdir, tmp_path):
  os.symlink(os.path.join(digits_workdir, "originals"),
             tmp_path / "originals")
  result = sweep.run_sweep(sweep.SweepSettings(
      task="digits/mlp", splits=("layer.head",), procedures=("T2",),
      alphas=(0.5,), workdir=str(tmp_path)), log=lambda _: None)
  record = records.read(result["records"][0])
  assert len(record["seeds"]) == 10  # digits/mlp: a run costs seconds.


def test_a_diverging_schedule_is_recorded_not_crashed(digits_workdir,
                                                      tmp_path, monkeypatch):
  """Fine-tuning at an absurd low peak diverges; the seed keeps the grid's
  other schedules, and the record says which diverged."""
  monkeypatch.setattr(procedures, "finetune_learning_rate",
                      lambda recipe, fraction=None: 1e38)
  os.symlink(os.path.join(digits_workdir, "originals"),
             tmp_path / "originals")
  result = sweep.run_sweep(sweep.SweepSettings(
      task="digits/mlp", splits=("all",), procedures=("T3",), seeds=2,
      alphas=(0.9,), bootstrap_reps=100, workdir=str(tmp_path)),
                           log=lambda _: None)
  record = records.read(result["records"][0])
  for seed in record["seeds"]:
    assert seed["diverged"]
    assert {g["schedule"]: g["diverged"] for g in seed["grid"]} == {
        "ft-constant": True, "ft-linear": True, "peak-constant": False,
        "peak-linear": False}
  (row,) = record["hardness"]
  assert not any(row["censored"])
  assert all(won.startswith("peak-") for won in row["won"])


def test_the_command_refuses_a_published_sweep_in_one_line():
  """Into the real results/: 3 seeds break the protocol (and a tree with
  uncommitted code, where there is one, is refused first); one line, exit
  2, nothing written."""
  folder = os.path.join(protocol.results_dir(), "records", "digits-mlp")
  before = sorted(os.listdir(folder))
  result = run_cli("benchmark.run", "--task=digits/mlp", "--seeds=3",
                   f"--workdir={protocol.results_dir()}")
  assert result.returncode == 2
  (line,) = [l for l in result.stderr.splitlines() if l.startswith("mcbench")]
  assert line.startswith("mcbench: error: ")
  assert ("at least 5 seeds" in line or "committed code only" in line), line
  assert sorted(os.listdir(folder)) == before


def test_an_edited_record_stops_the_rerun_unless_recomputed(digits_workdir,
                                                             tmp_path):
  """A record is never replaced silently: a rerun that finds one edited
  stops with one line naming it; `recompute` replaces it."""
  os.symlink(os.path.join(digits_workdir, "originals"),
             tmp_path / "originals")
  settings = sweep.SweepSettings(
      task="digits/mlp", splits=("layer.head",), procedures=("T2",), seeds=2,
      alphas=(0.5,), bootstrap_reps=100, workdir=str(tmp_path))
  (path,) = sweep.run_sweep(settings, log=lambda _: None)["records"]
  record = storage.read_json(path)
  record["seeds"][0]["performance"][0] = 0.5
  storage.write_json_atomic(path, record)
  edited = open(path).read()
  with pytest.raises(spec.InputError) as error:
    sweep.run_sweep(settings, log=lambda _: None)
  assert "corrupt or was edited" in str(error.value)
  assert "--recompute" in str(error.value) and "\n" not in str(error.value)
  assert open(path).read() == edited
  again = sweep.run_sweep(dataclasses.replace(settings, recompute=True),
                          log=lambda _: None)
  assert again["records"] == [path]
  records.read(path)  # Valid again.
