"""docs/USAGE.md's bad-input table, row by row, through the commands.

Each row of `CASES` is a class of bad input in docs/USAGE.md's table (same
name, same order, same message) and one example of it run as a user would
(`python -m ...`): it must print exactly one line `mcbench: error: ...`
holding the message, exit with status 2, and leave every file of its
workdir as it was (the tree is compared before and after). More cases of
each class, run in-process, are in cli_test, records_test, protocol_test
and leaderboard_test.
"""

import hashlib
import json
import os
import shutil

import pytest
from conftest import ROOT, run_cli

from benchmark.science import protocol
from benchmark.sweeps import storage, sweep

SCHEME_MALFORMED = "name: x\nwithhold: [params/head/**\n"
SCHEME_MISSPELT = "name: x\nwithhold: ['params/hed/*']\n"


def _write(path, text):
  path.write_text(text)
  return path


def _truncate_checkpoint(workdir):
  checkpoint = workdir / "originals/digits-mlp/seed-0/checkpoint"
  largest = max((p for p in checkpoint.rglob("*") if p.is_file()),
                key=lambda p: p.stat().st_size)
  largest.write_bytes(largest.read_bytes()[:1000])


def _remove_checkpoint(workdir):
  shutil.rmtree(workdir / "originals/digits-mlp/seed-2/checkpoint")


def _edit_manifest(workdir):
  path = workdir / "originals/digits-mlp/seed-1/manifest.json"
  manifest = json.loads(path.read_text())
  manifest["content_sha256"] = "0" * 64
  path.write_text(json.dumps(manifest))


RECORD_RUN = ["--task=digits/mlp", "--splits=layer.head", "--procedures=T2",
              "--seeds=2", "--alphas=0.5", "--bootstrap_reps=100"]


def _record(workdir):
  """One record of RECORD_RUN in `workdir`; returns its path."""
  settings = sweep.SweepSettings(
      task="digits/mlp", splits=("layer.head",), procedures=("T2",), seeds=2,
      alphas=(0.5,), bootstrap_reps=100, workdir=str(workdir))
  (path,) = sweep.run_sweep(settings, log=lambda _: None)["records"]
  return path


def _edit_record(workdir):
  path = _record(workdir)
  record = storage.read_json(path)
  record["seeds"][0]["performance"][0] = 0.5
  storage.write_json_atomic(path, record)


def _truncate_record(workdir):
  path = _record(workdir)
  text = open(path).read()
  with open(path, "w") as f:
    f.write(text[:len(text) // 2])


# Table class -> (entry point, arguments, set-up of the workdir or None,
# what the line says). `{workdir}` is the case's workdir, `{file}` a file
# the set-up returned; "originals" set-ups start from digits' originals.
CASES = {
    "unknown task, split, procedure or family": (
        "benchmark.run", ["--task=digits/cnn"], None,
        "unknown task 'digits/cnn'"),
    "flag that does not parse": (
        "benchmark.run", ["--seeds=abc"], None,
        "flag --seeds=abc: invalid literal for int() with base 10: 'abc'"),
    "unknown flag": (
        "benchmark.run", ["--no_such_flag=1"], None,
        "Unknown command line flag 'no_such_flag'"),
    "value outside its range": (
        "benchmark.run", ["--alphas=1.5"], None,
        "alpha 1.5 is outside (0, 1]"),
    "malformed scheme file": (
        "benchmark.run", ["--splits={file}"],
        lambda d: _write(d.parent / "scheme.yaml", SCHEME_MALFORMED),
        "scheme.yaml:3:1: malformed scheme file: while parsing a flow sequence"),
    "scheme that names no parameter": (
        "benchmark.run", ["--splits={file}"],
        lambda d: _write(d.parent / "scheme.yaml", SCHEME_MISSPELT),
        "nearest: params/head/"),
    "workdir that cannot be a folder": (
        "benchmark.run", ["--workdir={file}"],
        lambda d: _write(d.parent / "a-file", "x"),
        "cannot be a folder"),
    "missing data": (
        "benchmark.run", ["--task=fashion_mnist/cnn",
                          "--data_dir=/nonexistent"], None,
        "Fashion-MNIST file /nonexistent/train-images-idx3-ubyte.gz not "
        "found"),
    "checkpoint that does not match its manifest": (
        "benchmark.train", ["--task=digits/mlp"], ("originals",
                                                   _edit_manifest),
        "does not match its manifest"),
    "truncated checkpoint": (
        "benchmark.train", ["--task=digits/mlp"], ("originals",
                                                   _truncate_checkpoint),
        "cannot restore checkpoint"),
    "missing checkpoint": (
        "benchmark.train", ["--task=digits/mlp"], ("originals",
                                                   _remove_checkpoint),
        "seed-2/checkpoint not found"),
    "original whose loss becomes NaN": (
        "benchmark.train", ["--task=digits/mlp:peak_learning_rate=1e38",
                            "--seeds=1"], None,
        "diverged"),
    "edited record, at a rerun": (
        "benchmark.run", RECORD_RUN, ("originals", _edit_record),
        "is corrupt or was edited"),
    "corrupt record, at a leaderboard build": (
        "benchmark.leaderboard", ["--task=digits/mlp"],
        ("originals", _truncate_record),
        "cannot read"),
    "settings a published sweep may not use": (
        "benchmark.run", ["--workdir=results", "--seeds=2"], "published",
        "a published sweep uses at least 5 seeds per cell (protocol v2), "
        "got 2"),
}


def usage_table():
  """docs/USAGE.md's bad-input table: [(class, message)], in order."""
  text = open(os.path.join(ROOT, "docs", "USAGE.md")).read()
  section = text.split("### Bad input", 1)[1].split("\n#", 1)[0]
  rows = []
  for line in section.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 3 and not set(cells[0]) <= set("-: ") and (
        cells[0] != "bad input"):
      rows.append((cells[0], cells[2].strip("`")))
  return rows


def test_the_usage_table_is_this_file():
  assert usage_table() == [(name, case[3]) for name, case in CASES.items()]


def tree_state(folder):
  """Every file under `folder`: its size and content hash (or, for the
  published results/, its size and modification time)."""
  published = protocol.is_published_workdir(str(folder))
  state = {}
  for root, _, files in os.walk(folder):
    for name in files:
      path = os.path.join(root, name)
      stat = os.stat(path)
      state[os.path.relpath(path, folder)] = (
          stat.st_size, stat.st_mtime_ns if published else
          hashlib.sha256(open(path, "rb").read()).hexdigest())
  return state


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_exit_2_and_nothing_written(name, tmp_path,
                                                          digits_workdir):
  module, args, setup, message = CASES[name]
  workdir = tmp_path / "wd"
  env = None
  fill = {"workdir": workdir}
  if setup == "published":
    # The tree counts as committed, so that the settings rule is the one
    # that speaks (a dirty tree is refused first, by another rule).
    workdir = protocol.results_dir()
    env = {"MCBENCH_GIT_COMMIT": "0" * 40}
  elif isinstance(setup, tuple):
    shutil.copytree(os.path.join(digits_workdir, "originals"),
                    workdir / "originals")
    setup[1](workdir)
  elif setup:
    fill["file"] = setup(workdir)
  arguments = [arg.format(**fill) for arg in args]
  if not any(arg.startswith("--workdir=") for arg in arguments):
    arguments.append(f"--workdir={workdir}")
  before = tree_state(workdir) if os.path.exists(workdir) else None
  result = run_cli(module, *arguments, env=env)
  assert result.returncode == 2, result.stderr[-2000:]
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr[-2000:]
  assert lines[0].startswith("mcbench: error: ") and message in lines[0], (
      lines[0])
  if before is None:
    assert not os.path.exists(workdir)
  else:
    assert tree_state(workdir) == before
