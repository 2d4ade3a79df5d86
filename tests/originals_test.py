"""Training originals: resumable (checkpointed per evaluation segment,
continued by a later call as if never stopped), and the report of whether
they converged and agree."""

import os
import subprocess
import sys
import types

import numpy as np
import pytest
from conftest import ROOT, run_cli, train_interrupted

from benchmark.engine import scratch
from benchmark.science import protocol
from benchmark.sweeps import originals as originals_lib
from benchmark.sweeps import storage, sweep
from contract import spec
from tasks import registry


def test_resumed_training_is_the_uninterrupted_one(monkeypatch, tmp_path):
  # PPO on gymnax CartPole: typed PRNG keys and environment states in the
  # learner state, both of which must survive the checkpoint exactly.
  task = registry.get_task("cartpole/ppo:smoke")
  whole = originals_lib.train_originals(task, str(tmp_path / "whole"), [0, 1])
  workdir = str(tmp_path / "resumed")
  train_interrupted(monkeypatch, task, workdir, [0, 1], segments=2)
  messages = []
  resumed = originals_lib.train_originals(task, workdir, [0, 1],
                                          resumable=True,
                                          log=messages.append)
  segments = len(task.recipe.eval_updates) - 1
  assert messages[0] == (f"resuming {task.name} seeds [0, 1] after "
                         f"evaluation segment 2 of {segments}")
  # Then one line per segment trained: cost so far, performance, speed.
  assert [m.split(":")[0] for m in messages[1:]] == [
      f"segment {i} of {segments}" for i in range(3, segments + 1)]
  recipe = task.recipe
  assert messages[-1].startswith(
      f"segment {segments} of {segments}: "
      f"{recipe.num_updates * recipe.cost_per_update:.4g} {recipe.cost_unit}, "
      f"{task.performance_name} "
      f"{np.round([r.performance[-1] for r in resumed], 4).tolist()}, ")
  for a, b in zip(whole, resumed):
    np.testing.assert_array_equal(a.performance, b.performance)
    assert a.content_hash == b.content_hash
    assert b.manifest["provenance"]["training_processes"] == 2
  assert not os.path.exists(originals_lib.progress_dir(workdir, task.name))
  # And the result is an ordinary cached original.
  assert originals_lib.load_original(task, workdir, 1).content_hash == (
      resumed[1].content_hash)


def test_progress_of_another_training_or_corrupt_is_refused(monkeypatch,
                                                            tmp_path):
  task = registry.get_task("digits/mlp:num_updates=40")
  workdir = str(tmp_path)
  train_interrupted(monkeypatch, task, workdir, [0, 1], segments=1)
  with pytest.raises(spec.InputError, match="continues another training "
                     r"\(seeds differs"):
    originals_lib.train_originals(task, workdir, [0], resumable=True)
  progress = originals_lib.progress_dir(workdir, task.name)
  [state] = [e for e in os.listdir(progress) if e.startswith("state-")]
  for folder, _, files in os.walk(os.path.join(progress, state)):
    for name in files:
      with open(os.path.join(folder, name), "wb") as f:
        f.write(b"corrupt")
  with pytest.raises(spec.InputError, match="cannot restore checkpoint"):
    originals_lib.train_originals(task, workdir, [0, 1], resumable=True)
  assert not os.path.exists(originals_lib.original_dir(workdir, task.name, 0))


def test_time_limit_pauses_at_a_segment_boundary(tmp_path):
  # A limit of 0 s pauses as soon as the pace is known: after one segment.
  task = registry.get_task("digits/mlp:num_updates=40")
  whole = originals_lib.train_originals(task, str(tmp_path / "whole"), [0])
  workdir = str(tmp_path / "paused")
  with pytest.raises(originals_lib.Paused,
                     match="after evaluation segment 1 of"):
    originals_lib.train_originals(task, workdir, [0], resumable=True,
                                  log=lambda _: None, time_limit_s=0)
  # Progress files of the first format (before pauses within a segment)
  # lack the position within the segment, and continue as well.
  path = os.path.join(originals_lib.progress_dir(workdir, task.name),
                      "progress.json")
  progress = storage.read_json(path)
  assert progress.pop("updates_into_segment") == 0
  storage.write_json_atomic(path, progress)
  [resumed] = originals_lib.train_originals(task, workdir, [0],
                                            resumable=True,
                                            log=lambda _: None)
  assert resumed.content_hash == whole[0].content_hash
  np.testing.assert_array_equal(resumed.performance, whole[0].performance)


def test_updates_that_fit_take_what_the_time_allows():
  assert originals_lib.updates_that_fit(10.0, 1.0, 5) == 5
  assert originals_lib.updates_that_fit(5.0, 1.0, 5) == 5
  assert originals_lib.updates_that_fit(2.5, 1.0, 5) == 2
  assert originals_lib.updates_that_fit(0.5, 1.0, 5) == 0
  assert originals_lib.updates_that_fit(-3.0, 1.0, 5) == 0


def test_time_limit_within_a_segment_trains_what_fits(monkeypatch, tmp_path):
  # A clock that moves one second per update makes the pace exact: with
  # segments of 1, 5, 5 and 5 updates and 8.5 s, the call trains segments
  # 1 and 2 (6 s) and 2 of segment 3's 5 updates, checkpoints them and
  # pauses; the calls after it finish as if it had never stopped.
  task = registry.get_task("cartpole/ppo:smoke")
  assert task.recipe.eval_updates == (0, 1, 6, 11, 16)
  whole = originals_lib.train_originals(task, str(tmp_path / "whole"), [0, 1])
  clock = [0.0]
  monkeypatch.setattr(originals_lib, "time",
                      types.SimpleNamespace(time=lambda: clock[0]))
  make = scratch.make_staged_scratch_training

  def make_timed(task, vmap_size=None):
    staged = make(task, vmap_size)

    def advance(states, keys, lengths):
      clock[0] += float(np.sum(lengths))
      return staged.advance(states, keys, lengths)

    def train(states, keys, num_updates):
      clock[0] += num_updates
      return staged.train(states, keys, num_updates)

    return staged._replace(advance=advance, train=train)

  monkeypatch.setattr(scratch, "make_staged_scratch_training", make_timed)
  workdir = str(tmp_path / "paused")
  with pytest.raises(originals_lib.Paused, match=(
      r"after evaluation segment 2 of 4 of cartpole/ppo:smoke, 2 of the 5 "
      r"updates into segment 3; rerun")):
    originals_lib.train_originals(task, workdir, [0, 1], resumable=True,
                                  log=lambda _: None, time_limit_s=8.5)
  progress_dir = originals_lib.progress_dir(workdir, task.name)
  assert sorted(os.listdir(progress_dir)) == ["progress.json", "state-2+2"]
  # A resumed call knows the pace before its first segment (8 s for 8
  # updates so far), so it too stops within that segment.
  with pytest.raises(originals_lib.Paused, match="4 of the 5 updates into "
                     "segment 3; rerun"):
    originals_lib.train_originals(task, workdir, [0, 1], resumable=True,
                                  log=lambda _: None, time_limit_s=2.5)
  # Every call trains something, even with no time at all: here the last
  # update of segment 3, then it pauses at the boundary.
  with pytest.raises(originals_lib.Paused, match=(
      "after evaluation segment 3 of 4 of cartpole/ppo:smoke; rerun")):
    originals_lib.train_originals(task, workdir, [0, 1], resumable=True,
                                  log=lambda _: None, time_limit_s=0)
  messages = []
  resumed = originals_lib.train_originals(task, workdir, [0, 1],
                                          resumable=True, log=messages.append)
  assert messages[0] == (f"resuming {task.name} seeds [0, 1] after evaluation "
                         "segment 3 of 4")
  for a, b in zip(whole, resumed):
    np.testing.assert_array_equal(a.performance, b.performance)
    assert a.content_hash == b.content_hash


def test_processes_sharing_a_workdir_train_each_original_once(tmp_path):
  # Two processes that need the same missing original (say, sweeps of two
  # splits), started together on one workdir: one trains it, the other
  # waits for it and loads it. Without the lock both trained it, and one
  # crashed or hung on the other's checkpoint files.
  command = [sys.executable, "-m", "benchmark.train",
             "--task=digits/mlp:num_updates=100", "--seeds=1",
             f"--workdir={tmp_path}"]
  env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
  processes = [subprocess.Popen(command, cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT) for _ in range(2)]
  try:
    outputs = [p.communicate(timeout=120)[0] for p in processes]
  finally:  # A hung process must not outlive the test.
    for p in processes:
      p.kill()
  assert [p.returncode for p in processes] == [0, 0], outputs
  assert sum("training 1 original(s)" in out for out in outputs) == 1
  digests = {line.split("sha256=")[1] for out in outputs
             for line in out.splitlines() if "sha256=" in line}
  assert len(digests) == 1


def test_training_reports_whether_the_originals_converged(tmp_path):
  # A recipe still warming up at its end: the originals are climbing over
  # the last 20% of training and disagree. Training succeeds all the same
  # (the originals are saved); the report says FAIL and warns that two
  # originals are fewer than a published task needs.
  name = "digits/mlp:num_updates=60,warmup_updates=59,peak_learning_rate=1e-3"
  workdir = tmp_path / "wd"
  trained = run_cli("benchmark.train", f"--task={name}", "--seeds=2",
                    f"--workdir={workdir}")
  assert trained.returncode == 0, trained.stderr[-2000:]
  task = registry.get_task(name)
  found = [originals_lib.load_original(task, str(workdir), s) for s in (0, 1)]
  costs = [u * task.recipe.cost_per_update for u in task.recipe.eval_updates]
  # The tolerances widen by the evaluation's error: this call's originals'.
  check = protocol.convergence(costs, [o.performance for o in found], task.p0,
                               sweep.evaluation_standard_error(task, found))
  assert not check["converged"]
  lines = trained.stdout.splitlines()
  assert lines[-2] == (
      f"mcbench: warning: {workdir} holds 2 original(s) of {name}; a "
      f"published task has at least {protocol.MIN_PUBLISHED_ORIGINALS} "
      "(protocol v2)")
  assert lines[-1] == protocol.convergence_line(check)
  assert lines[-1].startswith("originals converged and agree: FAIL")
  # Every original of the recipe in the workdir is judged, also those
  # trained by other calls: a third seed, trained alone, silences the
  # warning and joins the check.
  third = run_cli("benchmark.train", f"--task={name}", "--seeds=1",
                  "--first_seed=2", f"--workdir={workdir}")
  assert third.returncode == 0, third.stderr[-2000:]
  assert "warning" not in third.stdout
  found.append(originals_lib.load_original(task, str(workdir), 2))
  assert third.stdout.splitlines()[-1] == protocol.convergence_line(
      protocol.convergence(costs, [o.performance for o in found], task.p0,
                           sweep.evaluation_standard_error(task, found[2:])))


def test_the_default_digits_originals_converge(digits_workdir):
  # Loads the three originals (nothing to train): no warning, and the
  # published recipe passes.
  loaded = run_cli("benchmark.train", "--task=digits/mlp", "--seeds=3",
                   f"--workdir={digits_workdir}")
  assert loaded.returncode == 0, loaded.stderr[-2000:]
  assert "original(s) of" not in loaded.stdout and (
      "warning" not in loaded.stdout)
  assert loaded.stdout.splitlines()[-1].startswith(
      "originals converged and agree: hold"), loaded.stdout
