"""The recipe-tuning check (`benchmark.tune`): its rule, its output, and bad
input."""

import json
import math
import os
import shutil

import numpy as np
import pytest
from conftest import run_cli

from benchmark.sweeps import storage, tune
from contract.spec import InputError
from tasks import registry

TINY = "digits/mlp:num_updates=60"


def test_factor_rule_on_hand_made_curves():
  # Costs 0, 10, 20, 40; t0 = 30, so a factor fails when its median seed
  # reaches alpha 0.9 before 20.
  costs = [0, 10, 20, 40]

  def row(*curves):
    performance = np.asarray(curves, np.float64)
    return tune.factor_result(costs, performance, np.zeros(len(curves), bool),
                              p0=0.0, p_star=1.0, alpha=0.9, t0=30.0)

  at_10, at_20 = [0, 0.95, 1, 1], [0, 0.5, 0.9, 1]
  never, nan_after = [0, 0.2, 0.5, 0.8], [0, 0.5, np.nan, np.nan]
  passing = row(at_20, at_10, never)
  assert passing["t"] == [20, 10, None] and passing["median"] == 20
  assert passing["passes"] and passing["ratio"] == pytest.approx(2 / 3)
  failing = row(at_10, at_10, never)
  assert failing["median"] == 10 and not failing["passes"]
  assert failing["reached"] == 2
  # A median seed that never reaches alpha (here one diverged: NaN after
  # it) passes, whatever the fastest seed did.
  censored = row(never, nan_after, at_10)
  assert censored["median"] is None and censored["ratio"] is None
  assert censored["passes"] and censored["final_performance"][1] is None


def test_scaled_task_scales_the_schedule_and_nothing_else():
  task = registry.get_task(TINY)
  scaled = tune.scaled_task(task, 4.0)
  for count in (0, 10, 20, 45, 60):
    assert float(scaled.recipe.schedule(count)) == pytest.approx(
        4.0 * float(task.recipe.schedule(count)))
  assert scaled.recipe.peak_learning_rate == 4.0 * (
      task.recipe.peak_learning_rate)
  assert scaled.recipe.eval_updates == task.recipe.eval_updates
  assert scaled.name == task.name and scaled.config == task.config


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
  """The check of the tiny recipe through the command, every default."""
  workdir = str(tmp_path_factory.mktemp("tune") / "wd")
  result = run_cli("benchmark.tune", f"--task={TINY}", f"--workdir={workdir}")
  assert result.returncode == 0, result.stderr[-2000:]
  return workdir, result.stdout


def test_check_writes_every_factor_and_its_verdict(checked):
  workdir, stdout = checked
  path = tune.tuning_path(workdir, TINY)
  assert path == os.path.join(workdir, "tuning",
                              "digits-mlp-num_updates=60.json")
  result = json.load(open(path))
  assert result["schema"] == tune.SCHEMA and result["task"] == TINY
  assert [row["factor"] for row in result["factors"]] == [0.25, 0.5, 2, 4]
  assert result["seeds"] == 3
  # The reference: the median over the three originals' first reach at the
  # headline alpha, one of the sweep's alphas.
  assert result["alpha"] in tune.ALPHAS
  assert result["t0"] == np.median([o["t"] for o in result["originals"]])
  assert result["threshold"] == pytest.approx(2 / 3 * result["t0"])
  for row in result["factors"]:
    assert len(row["t"]) == 3
    reached = sorted(t for t in row["t"] if t is not None)
    assert row["reached"] == len(reached)
    if len(reached) >= 2:  # The median seed reached alpha.
      assert row["median"] == reached[1]
      assert row["ratio"] == pytest.approx(row["median"] / result["t0"])
      assert row["passes"] == (row["median"] >= result["threshold"])
    else:
      assert row["median"] is None and row["passes"]
  failing = [row["factor"] for row in result["factors"] if not row["passes"]]
  assert result["failing_factors"] == failing
  assert result["verdict"] == ("fail" if failing else "pass")
  assert result["rule"].startswith(
      "from-scratch runs at the recipe's peak learning rate x {0.25, 0.5, 2, "
      "4} (3 seed(s) each")
  # The printed table: a row per factor, then the verdict (exit status 0
  # whether the recipe passes or not).
  lines = stdout.splitlines()
  assert lines[-1] == f"wrote {path}"
  assert lines[-2].startswith(
      f"verdict: {'FAIL' if failing else 'pass'}: ")
  rows = [line.split() for line in lines if line.split()
          and line.split()[0] in ("0.25", "0.5", "2", "4")]
  assert [r[-1] for r in rows] == [
      "pass" if row["passes"] else "FAIL" for row in result["factors"]]
  # On this short recipe, higher rates are faster by far: the rule can fail.
  assert result["verdict"] == "fail" and 4 in failing


def test_check_is_deterministic_and_keyed_by_factor_and_seed(checked,
                                                             tmp_path):
  # In this process, from a copy of the command's originals: the first two
  # seeds of factor 4 are the command's first two runs of factor 4, and the
  # reference is the command's.
  workdir, _ = checked
  written = json.load(open(tune.tuning_path(workdir, TINY)))
  shutil.copytree(os.path.join(workdir, "originals"),
                  tmp_path / "originals")
  messages = []
  result, path = tune.check_recipe(TINY, str(tmp_path), [4], 2,
                                   log=messages.append)
  assert json.load(open(path)) == result
  assert not any("original(s) of" in m for m in messages)  # Reused.
  [row] = result["factors"]
  assert row["t"] == written["factors"][3]["t"][:2]
  assert row["final_performance"] == (
      written["factors"][3]["final_performance"][:2])
  for key in ("t0", "alpha", "originals", "p_star", "task_config"):
    assert result[key] == written[key]


def test_seeds_default_to_the_originals_judged(checked, tmp_path):
  # Two originals: t0 is their median, and each factor gets two seeds (the
  # same keys as the command's first two), so both sides are medians of
  # equally many runs.
  workdir, _ = checked
  written = json.load(open(tune.tuning_path(workdir, TINY)))
  shutil.copytree(os.path.join(workdir, "originals"),
                  tmp_path / "originals")
  result, _ = tune.check_recipe(TINY, str(tmp_path), [4], num_originals=2,
                                log=lambda _: None)
  assert result["seeds"] == 2
  assert result["originals"] == written["originals"][:2]
  assert result["t0"] == np.median([o["t"] for o in written["originals"][:2]])
  [row] = result["factors"]
  assert row["t"] == written["factors"][3]["t"][:2]
  assert "(2 seed(s) each" in result["rule"]


def hand_made_result(rate, originals_t, factor_t, alpha=0.9):
  """A tuning result holding only what `pool_by_rate` reads: a recipe at
  `rate` with originals reaching at `originals_t`, and factor 2's runs at
  `factor_t`."""
  return {"task": f"t/{rate}", "alpha": alpha, "budget": 100,
          "cost_unit": "updates", "peak_learning_rate": rate,
          "originals": [{"t": t} for t in originals_t],
          "factors": [{"peak_learning_rate": 2 * rate, "t": factor_t}]}


def test_pooling_runs_by_rate_across_checks():
  # Rate 2 is one check's factor and the other's recipe: its runs pool.
  # It beats rate 1 beyond the noise (every resampled median is 20, below
  # 2/3 x 40). Rate 4 has the lowest median, but a quarter of its runs
  # never reached: its interval is unbounded, so it beats nothing.
  results = [hand_made_result(1.0, [40, 40, 30, 50], [20, 20, 20, 20]),
             hand_made_result(2.0, [20, 20], [10, 10, 10, None])]
  rows = tune.pool_by_rate(results)
  assert [(r["peak_learning_rate"], r["runs"], r["median"]) for r in rows] \
      == [(1.0, 4, 40.0), (2.0, 6, 20.0), (4.0, 4, 10.0)]
  assert [r["beaten_by"] for r in rows] == [2.0, None, None]
  assert rows[1]["interval"] == [20.0, 20.0]
  assert rows[2]["interval"] == [10.0, None]
  assert rows[0]["interval"][0] <= 40 <= rows[0]["interval"][1]
  with pytest.raises(InputError, match="different alphas"):
    tune.pool_by_rate([results[0], hand_made_result(2.0, [1], [1], 0.5)])
  lines = tune.pooled_table(results, rows)
  assert lines[2].split() == ["1", "4", "40", "[30,", "50]", "2"]


def test_pool_reads_tuning_results_only(checked, tmp_path):
  workdir, _ = checked
  path = tune.tuning_path(workdir, TINY)
  assert tune.pool_paths([os.path.join(os.path.dirname(path), "*")]) == [
      path]
  with pytest.raises(InputError, match="no file matches"):
    tune.pool_paths([str(tmp_path / "*.json")])
  other = tmp_path / "other.json"
  other.write_text('{"schema": "mcbench.record/2"}')
  pooled = run_cli("benchmark.tune", f"--pool={path},{other}")
  assert pooled.returncode == 2
  assert pooled.stderr.strip().splitlines() == [
      f"mcbench: error: {other}: not a benchmark.tune result"]
  alone = run_cli("benchmark.tune", f"--pool={path}")
  assert alone.returncode == 0, alone.stderr[-2000:]
  assert "1 tuning result(s)" in alone.stdout


@pytest.mark.parametrize("factors, message", [
    ([], "no learning-rate factor"),
    (["0.5", "0"], "must be positive and finite, got 0"),
    (["-2"], "must be positive and finite, got -2"),
    (["inf"], "must be positive and finite"),
    (["half"], "'half' is not a number"),
])
def test_bad_factors_are_refused(factors, message):
  with pytest.raises(InputError, match=message):
    tune.parse_factors(factors)


def test_factors_are_sorted_and_unique():
  assert tune.parse_factors(["4", "0.25", "4.0", "2"]) == (0.25, 2.0, 4.0)


def test_bad_input_writes_nothing(tmp_path):
  workdir = tmp_path / "wd"
  for bad in (dict(task_name="nosuch/task"), dict(seeds=0),
              dict(factors=[2, 0]), dict(num_originals=0)):
    with pytest.raises(InputError) as error:
      tune.check_recipe(**{"task_name": TINY, "workdir": str(workdir), **bad})
    assert "\n" not in str(error.value)
  assert not workdir.exists()
  # Through the command: one line, exit status 2, nothing written.
  result = run_cli("benchmark.tune", f"--task={TINY}", "--factors=0.5,-1",
                   f"--workdir={workdir}")
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.strip().splitlines()[-1] == (
      "mcbench: error: learning-rate factors must be positive and finite, "
      "got -1")
  assert not workdir.exists()


def test_written_file_has_no_nan_and_is_sorted_json(checked):
  workdir, _ = checked
  text = open(tune.tuning_path(workdir, TINY)).read()
  assert "NaN" not in text and "Infinity" not in text
  assert text == json.dumps(storage.read_json(tune.tuning_path(workdir, TINY)),
                            indent=1, sort_keys=True) + "\n"
  assert not math.isnan(json.loads(text)["t0"])
