"""The findings, computed from real records of a tiny supervised sweep and a
tiny RL sweep, and the committed FINDINGS.md rebuilt from its records."""

import copy
import os
import shutil

import numpy as np
import pytest
from conftest import ROOT, built_once, run_cli

from benchmark.publishing import findings
from benchmark.science import statistics
from benchmark.sweeps import records, sweep
from contract.spec import InputError

REPS = 200  # Bootstrap resamples: enough to exercise every interval.
SUPERVISED = "digits/mlp:num_updates=60"
# Long enough for its returns to clear their evaluation noise at some
# alpha (a headline alpha: finding 1 compares tasks there).
RL = "cartpole/ppo:smoke,total_frames=65536,eval_episodes=16"


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
  """Both sweeps (about 50 s on two cores), run once for all workers: the
  roles (and, on digits, the layers) under T1 and T2, 3 seeds."""
  def build(folder):
    for task, splits in ((SUPERVISED, ("roles", "layers")), (RL, ("roles",))):
      sweep.run_sweep(sweep.SweepSettings(
          task=task, splits=splits, procedures=("T1", "T2"), seeds=3,
          bootstrap_reps=REPS, jobs_per_program=16, workdir=folder),
                      log=lambda _: None)
  return built_once(tmp_path_factory, "findings", build)


def records_copy(workdir, tmp_path):
  """A fresh results folder holding the sweeps' records only."""
  shutil.copytree(os.path.join(workdir, "records"),
                  os.path.join(tmp_path, "records"))
  return str(tmp_path)


def sweeps_of(workdir):
  current, older = findings.read_records(workdir)
  assert older == 0
  sweeps, notes = findings.select_sweeps(current)
  assert not notes
  return {s.task: s for s in sweeps}


def per_seed_security(sweep_, role, alpha):
  """Independently of the module: per seed, min over T1 and T2."""
  rows = [next(h for h in r["hardness"] if h["alpha"] == alpha)
          for r in sweep_.records if role in r["split"]["roles"]]
  assert {len(r["hardness"]) for r in rows} == {3}
  return np.min([r["hardness"] for r in rows], axis=0)


def test_build_is_deterministic(workdir, tmp_path):
  first = findings.build(workdir, REPS)
  assert first == findings.build(workdir, REPS)
  assert all(first[name] for name in findings.FIGURES)
  folder = records_copy(workdir, tmp_path)
  written = findings.write(folder, REPS)
  assert sorted(os.path.relpath(p, folder) for p in written) == sorted(
      [findings.MARKDOWN, *findings.FIGURES])
  for name, data in first.items():
    with open(os.path.join(folder, name), "rb") as f:
      assert f.read() == data, name
  findings.check(folder, REPS)  # Rebuilds to the same text.


def test_finding1_is_rl_minus_supervised_over_matched_roles(workdir):
  sweeps = sweeps_of(workdir)
  assert sweeps[RL].kind == "RL" and sweeps[SUPERVISED].kind == "supervised"
  result = findings.finding1(list(sweeps.values()), REPS)
  # The lowest headline alpha of the two tasks.
  alpha = min(s.headline_alpha for s in sweeps.values())
  assert result["alpha"] == alpha
  assert set(result["roles"]) >= {"all", "head", "first-layer"}
  expected = np.mean([
      statistics.iqm(per_seed_security(sweeps[RL], role, alpha)) -
      statistics.iqm(per_seed_security(sweeps[SUPERVISED], role, alpha))
      for role in result["roles"]])
  difference = result["difference"]
  assert difference.value == pytest.approx(expected)  # RL - supervised.
  assert difference.lo <= difference.value <= difference.hi
  assert difference.lo < difference.hi
  for role, _, _, rl, supervised, value in result["roles_table"]:
    assert value.value == pytest.approx(rl - supervised), role
  # Every alpha both grids have, the headline one among them.
  assert [row[0] for row in result["by_alpha"]] == [0.5, 0.9, 0.99]
  at = {row[0]: row[1] for row in result["by_alpha"]}
  assert at[alpha] == difference


def test_trajectory_access_is_not_measured_without_its_records(workdir):
  result = findings.finding1(list(sweeps_of(workdir).values()), REPS)
  assert result["trajectory"]["reason"].startswith("not measured")
  text, _ = findings.markdown(workdir, REPS)
  assert "Trajectory access: not measured" in text


def test_share_of_the_gap_that_trajectory_access_closes(workdir, tmp_path):
  """Trajectory records made from the RL ones (every seed twice as fast),
  against supervised values scaled down so that there is a gap."""
  folder = records_copy(workdir, tmp_path)
  rl_dir = sweep.records_dir(folder, RL)
  for record in records.read_all(rl_dir)[0]:
    faster = copy.deepcopy(record)
    faster["adversary"].update(variant=faster["adversary"]["variant"] +
                               "-traj2", trajectory_episodes=2)
    for row in faster["hardness"]:
      row["hardness"] = [h / 2 for h in row["hardness"]]
      row["censored"] = [False] * len(row["censored"])
    del faster["content_sha256"]
    records.write(rl_dir, records.finalise(faster))
  sweeps = sweeps_of(folder)
  assert [v for v, _ in sweeps[RL].trajectory] == [
      sweeps[RL].variant + "-traj2"]
  result = findings.finding1(list(sweeps.values()), REPS)
  alpha = result["alpha"]
  scaled = [c._replace(security=c.security._replace(
      values=c.security.values / 10),
                       estimate=c.estimate._replace(
                           value=c.estimate.value / 10))
            if c.kind == "supervised" else c for c in result["cells"]]
  share = findings.trajectory_share(list(sweeps.values()), scaled, alpha,
                                    REPS)
  roles = share["roles"]
  without = np.mean([statistics.iqm(per_seed_security(sweeps[RL], r, alpha))
                     for r in roles])
  supervised = np.mean([statistics.iqm(per_seed_security(
      sweeps[SUPERVISED], r, alpha)) / 10 for r in roles])
  expected = (without - without / 2) / (without - supervised)
  estimate = share["share"]
  assert estimate.value == pytest.approx(expected)
  assert estimate.lo <= estimate.value <= estimate.hi


def test_finding2_has_rows_per_task_and_pooled(workdir):
  result = findings.finding2(list(sweeps_of(workdir).values()), REPS)
  assert not result["left_out"]
  by_task = {s.task: (points, r) for s, points, r, _ in result["tasks"]}
  assert set(by_task) == {RL, SUPERVISED}
  points, stats_ = by_task[SUPERVISED]
  # The whole model is left out; the sweep ran layer.head as role.head
  # (one split per mask) and layer.hidden2, which plays no role.
  names = {p.name for p in points}
  assert names == {"role.all-but-head", "role.head", "role.first-layer",
                   "role.kernels", "role.biases", "layer.hidden2"}
  from scipy import stats  # pylint: disable=g-import-not-at-top
  security = [statistics.iqm(p.security.values) for p in points]
  rho = stats.spearmanr([p.share for p in points], security).statistic
  assert stats_["rho"]["share"].value == pytest.approx(rho)
  for factor in findings.FACTORS:
    shapley = stats_["shapley"][factor]
    assert shapley.lo <= shapley.value + 1e-12
    assert shapley.value <= shapley.hi + 1e-12
  total = sum(stats_["shapley"][f].value for f in findings.FACTORS)
  assert total == pytest.approx(stats_["r2"].value)
  assert result["pooled"]["tasks"] == sorted(by_task)
  text, _ = findings.markdown(workdir, REPS)
  assert f"### {SUPERVISED} at alpha = 0.9" in text
  assert "| **pooled** |" in text


def test_check_fails_on_an_edited_file(workdir, tmp_path):
  folder = records_copy(workdir, tmp_path)
  findings.write(folder)
  path = os.path.join(folder, findings.MARKDOWN)
  with open(path, "a", encoding="utf-8") as f:
    f.write("edited\n")
  result = run_cli("benchmark.findings", f"--workdir={folder}", "--check")
  assert result.returncode == 2, result.stderr
  [line] = result.stderr.strip().splitlines()
  assert line.startswith("mcbench: error: ") and "does not match" in line


def test_bad_input_writes_nothing(workdir, tmp_path):
  with pytest.raises(InputError, match="no records folder"):
    findings.write(str(tmp_path / "missing"), REPS)
  folder = records_copy(workdir, tmp_path)
  path = sorted(os.listdir(sweep.records_dir(folder, RL)))[0]
  path = os.path.join(sweep.records_dir(folder, RL), path)
  with open(path, encoding="utf-8") as f:
    text = f.read()
  with open(path, "w", encoding="utf-8") as f:
    f.write(text.replace('"p0": ', '"p0": 1', 1))
  with pytest.raises(InputError, match="corrupt or was edited"):
    findings.write(folder, REPS)
  assert sorted(os.listdir(folder)) == ["records"]


def test_the_committed_findings_rebuild_from_the_committed_records():
  results = os.path.join(ROOT, "results")
  if not os.path.isfile(os.path.join(results, findings.MARKDOWN)):
    pytest.skip("results/FINDINGS.md is not committed yet")
  findings.check(results)


def test_only_splits_measured_under_every_procedure_of_their_sweep_enter():
  def record(mask, procedure):
    return {"split": {"mask_sha256": mask}, "procedure": {"name": procedure}}

  whole = [record("a", p) for p in ("T1", "T2", "T3")]
  short = [record("b", "T1"), record("b", "T2")]
  complete, left_out = findings.complete_splits(whole + short)
  assert complete == tuple(whole) and left_out == 1
  assert findings.complete_splits(short) == (tuple(short), 0)
