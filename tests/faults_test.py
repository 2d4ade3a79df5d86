"""Fault injection: a sweep killed (SIGKILL) while its originals are written,
between records or during a record's write resumes, by the same command,
to exactly an uninterrupted run's originals and records; a full disk is one
line and leaves nothing partial."""

import glob
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, run_cli

SWEEP = ["benchmark.run", "--task=digits/mlp", "--procedures=T1,T2",
         "--splits=layer.head", "--seeds=2", "--num_originals=2",
         "--alphas=0.5,0.9", "--bootstrap_reps=100"]
KILL_AT = {"PYTHONPATH": f"{ROOT}{os.pathsep}{os.path.join(ROOT, 'tests')}"}


def outcome(workdir):
  """The originals' content hashes and the records without provenance."""
  hashes = {
      os.path.relpath(path, workdir): json.load(open(path))["content_sha256"]
      for path in glob.glob(f"{workdir}/originals/*/seed-*/manifest.json")}
  bodies = {}
  for path in glob.glob(f"{workdir}/records/*/*.json"):
    record = json.load(open(path))
    record.pop("provenance")
    bodies[os.path.basename(path)] = record
  return hashes, bodies


def test_a_sweep_killed_anywhere_resumes_to_an_uninterrupted_run(tmp_path):
  whole, killed = tmp_path / "whole", tmp_path / "killed"
  result = run_cli(*SWEEP, f"--workdir={whole}")
  assert result.returncode == 0, result.stderr[-2000:]
  expected = outcome(whole)
  assert len(expected[0]) == 2 and len(expected[1]) == 2
  # Each kill happens in the state the previous one left, then the same
  # command runs to the end: 1. one of two seeds written, its training not
  # committed; 2. committed, one seed moved into place; 3. the first
  # record written, the second's temporary file written, not renamed.
  staging = killed / "originals" / "digits-mlp" / "committing"
  left = {  # What each kill leaves: the point was reached.
      "checkpoint": lambda: (sorted(os.listdir(staging)) == ["seed-0"]),
      "commit": lambda: (sorted(os.listdir(staging)) == ["COMMITTED",
                                                         "seed-1"]
                         and (staging.parent / "seed-0").is_dir()),
      "record": lambda: (len(glob.glob(f"{killed}/records/*/*.json")) == 1
                         and len(glob.glob(f"{killed}/records/*/.tmp-*"))
                         == 1),
  }
  for point, count in (("checkpoint", 2), ("commit", 2), ("record", 2)):
    result = run_cli("kill_at", point, str(count), *SWEEP,
                     f"--workdir={killed}", env=KILL_AT)
    assert result.returncode == -9, (point, result.stderr[-2000:])
    assert left[point](), point
  result = run_cli(*SWEEP, f"--workdir={killed}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert outcome(killed) == expected
  assert not list(killed.rglob(".tmp-*"))
  assert not list(killed.rglob("committing"))


def tree(folder):
  """Every file under `folder` with its sha256."""
  return {os.path.relpath(os.path.join(d, f), folder):
          hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
          for d, _, files in os.walk(folder) for f in files}


@pytest.fixture
def small_disk(tmp_path):
  """A 2 MiB tmpfs (root only: skipped where it cannot be mounted)."""
  mount = tmp_path / "disk"
  mount.mkdir()
  made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                         str(mount)], capture_output=True, text=True)
  if made.returncode:
    pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
  yield mount
  subprocess.run(["umount", str(mount)], check=True)


def fill(folder):
  """Writes a file that takes every free block of `folder`'s disk."""
  with open(folder / "filler", "wb", buffering=0) as f:
    for size in (65536, 1):
      try:
        while True:
          f.write(b"\0" * size)
      except OSError:
        pass


def test_a_full_disk_is_one_line_and_leaves_nothing_partial(
    small_disk, digits_workdir):
  # Records: the originals are there, the disk fills before the first.
  workdir = small_disk / "wd"
  shutil.copytree(os.path.join(digits_workdir, "originals"),
                  workdir / "originals")
  fill(small_disk)
  before = tree(small_disk)
  result = run_cli(*SWEEP, f"--workdir={workdir}")
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2, result.stderr[-2000:]
  assert lines[-1].startswith("mcbench: error: No space left on device ("
                              f"{workdir}/records/digits-mlp/"), lines[-1]
  assert "Traceback" not in result.stderr
  assert tree(small_disk) == before
  # Originals: none fits.
  shutil.rmtree(workdir)
  os.remove(small_disk / "filler")
  fill(small_disk)
  before = tree(small_disk)
  result = run_cli(*SWEEP, f"--workdir={workdir}")
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2, result.stderr[-2000:]
  assert lines[-1].startswith("mcbench: error: "), lines[-1]
  assert "No space left on device" in lines[-1], lines[-1]
  assert tree(small_disk) == before and not workdir.exists()
