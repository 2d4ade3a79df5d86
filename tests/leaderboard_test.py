"""The whole leaderboard build on a real digits sweep: tables, Pareto marks,
links, figures, the page, determinism, and records that must be refused."""

import glob
import json
import os
import re
import shutil

import pytest

from benchmark import board, leaderboard, records, statistics, sweep
from conftest import run_cli
from tasks.spec import InputError


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory, digits_workdir):
  """A results folder: the digits originals and a small sweep of them."""
  workdir = str(tmp_path_factory.mktemp("results"))
  shutil.copytree(os.path.join(digits_workdir, "originals"),
                  os.path.join(workdir, "originals"))
  sweep.run_sweep(sweep.SweepSettings(
      task="digits/mlp", splits=("layer.head", "type.biases", "all",
                                 "layer.hidden1"),
      procedures=("T1", "T2"), seeds=3, alphas=(0.5, 0.9, 0.99),
      workdir=workdir, bootstrap_reps=200), log=lambda _: None)
  return workdir


def built(results_dir, tmp_path):
  """A copy of `results_dir` with every output rebuilt."""
  target = str(tmp_path / "copy")
  shutil.copytree(results_dir, target)
  written, bad = leaderboard.build_all(target)
  return target, written, bad


def test_markdown_ranks_by_security_with_intervals_pareto_and_links(
    results_dir, tmp_path):
  target, written, bad = built(results_dir, tmp_path)
  assert not bad
  text = open(os.path.join(target, "LEADERBOARD.md")).read()
  rows = [line.split(" | ") for line in text.splitlines()
          if line.startswith("| ") and not line.startswith("| rank")]
  assert [row[1] for row in rows] and len(rows) == 4
  good, _ = records.read_all(os.path.join(target, "records", "digits-mlp"))
  entry = board.build(good)["tasks"][0]
  securities = [r["by_alpha"]["0.99"]["security"]["iqm"] for r in
                entry["rows"]]
  assert securities == sorted(securities, reverse=True)
  assert [row[1] for row in rows] == [r["split"] for r in entry["rows"]]
  front = statistics.pareto_front([r["share"] for r in entry["rows"]],
                                  securities)
  assert [row[-3] == "★" for row in rows] == front
  assert any(front) and not all(front)
  for row, expected in zip(rows, entry["rows"]):
    security = expected["by_alpha"]["0.99"]["security"]
    assert row[5].startswith(f"{security['iqm']:.3f} [{security['lo']:.3f}")
  for link in re.findall(r"\]\((records/[^)]+)\)", text):
    assert os.path.isfile(os.path.join(target, link)), link
  for link in re.findall(r"\]\((leaderboard/[^)]+\.png)\)", text):
    assert open(os.path.join(target, link), "rb").read(4) == b"\x89PNG"
  page = open(os.path.join(target, "site", "index.html")).read()
  assert "layer.hidden1" in page and "../records/digits-mlp/" in page
  assert os.path.join(target, "site", "index.html") in written


def test_rebuild_is_byte_identical(results_dir, tmp_path):
  first, written, _ = built(results_dir, tmp_path / "a")
  second, _, _ = built(results_dir, tmp_path / "b")
  assert len(written) >= 6
  for path in written:
    relative = os.path.relpath(path, first)
    assert open(path, "rb").read() == open(
        os.path.join(second, relative), "rb").read(), relative


def test_bad_records_are_named_the_rest_is_built_and_the_command_fails(
    results_dir, tmp_path):
  target = str(tmp_path / "copy")
  shutil.copytree(results_dir, target)
  paths = sorted(glob.glob(os.path.join(target, "records", "*", "*.json")))
  edited = json.load(open(paths[0]))
  edited["seeds"][0]["performance"][0] = 0.5
  json.dump(edited, open(paths[0], "w"))
  other = json.load(open(paths[1]))  # Measured against other originals.
  other["originals_sha256"] = "0" * 64
  other["content_sha256"] = records.content_hash(other)
  json.dump(other, open(paths[1], "w"))
  open(paths[2], "w").write("{ not json")

  result = run_cli("benchmark.leaderboard", f"--workdir={target}")
  assert result.returncode == 1, result.stderr[-2000:]
  errors = [line for line in result.stderr.splitlines()
            if line.startswith("mcbench: invalid record left out")]
  assert len(errors) == 3
  assert any("corrupt or was edited" in e and os.path.basename(paths[0]) in e
             for e in errors)
  assert any("not the published" in e and "000000000000" in e
             for e in errors)
  assert any("cannot read" in e and os.path.basename(paths[2]) in e
             for e in errors)
  text = open(os.path.join(target, "LEADERBOARD.md")).read()
  assert text.count("digits/mlp") >= 1 and "| 1 |" in text


def test_records_without_published_originals_are_refused(results_dir,
                                                         tmp_path):
  target = str(tmp_path / "copy")
  shutil.copytree(os.path.join(results_dir, "records"),
                  os.path.join(target, "records"))
  result = run_cli("benchmark.leaderboard", f"--workdir={target}")
  assert result.returncode == 2
  assert "has no published originals" in result.stderr


def test_cross_task_entry_aggregates_shared_splits(results_dir):
  good, _ = records.read_all(os.path.join(results_dir, "records",
                                          "digits-mlp"))
  twin = []  # The same sweep under another task name: a second task.
  for record in good:
    copy = json.loads(json.dumps(record))
    copy["task"] = "digits/mlp:twin"
    twin.append(copy)
  data = board.build(good + twin)
  assert len(data["tasks"]) == 2
  cross = data["cross_task"]
  single = {r["split"]: r for r in data["tasks"][0]["rows"]}
  for row in cross["rows"]:
    assert row["tasks"] == ["digits/mlp", "digits/mlp:twin"]
    at = row["by_alpha"]["0.99"]
    if at["security"] is None:
      continue
    alone = single[row["split"]]["by_alpha"]["0.99"]["security"]
    # Two identical tasks: every seed counts once per task.
    assert at["security"]["seeds"] == 2 * alone["seeds"]
    assert at["security"]["lo"] <= at["security"]["iqm"] <= at[
        "security"]["hi"]
  assert board.build(good)["cross_task"] is None


def test_compare_two_splits(results_dir):
  good, _ = records.read_all(os.path.join(results_dir, "records",
                                          "digits-mlp"))
  result = board.compare(good, "all", "type.biases", 0.9)
  assert result["tasks"] == ["digits/mlp"]
  by_key = {(r["split"]["name"], r["procedure"]["name"]): r for r in good}
  entry = board.task_entry(good, [0.9], 0.9, "")
  rows = {row["split"]: row["by_alpha"]["0.9"]["security"]
          for row in entry["rows"]}
  seeds = [next(h["hardness"] for h in by_key[name, rows[name]["procedure"]][
      "hardness"] if h["alpha"] == 0.9) for name in ("all", "type.biases")]
  assert result["p"] == statistics.probability_of_improvement(
      [seeds[0]], [seeds[1]])["p"]
  printed = run_cli("benchmark.leaderboard", f"--workdir={results_dir}",
                    "--compare=all,type.biases", "--alpha=0.9")
  assert printed.returncode == 0, printed.stderr[-2000:]
  assert printed.stdout.startswith(
      f"P(all harder to complete than type.biases) at alpha 0.9 = "
      f"{result['p']:.3f}")
  # What `--compare=all,nothing` calls, in this process (the command's
  # one-line refusal: test_records_without_published_originals_are_refused).
  with pytest.raises(InputError,
                     match="no task has records of both 'all' and 'nothing'"):
    leaderboard.compare_line(results_dir, ["all", "nothing"], 0.99)
