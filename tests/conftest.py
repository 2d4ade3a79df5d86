"""Shared fixtures (the digits task and its originals, trained once) and
helpers."""

import fcntl
import os
import shutil
import subprocess
import sys

import pytest
# First: it limits OpenBLAS before numpy loads it (benchmark/__init__.py).
import benchmark  # pylint: disable=unused-import
# TensorFlow Probability (under rlax, through distrax) loads its TensorFlow
# parts, which need tf_keras, when TensorFlow was imported before it. The
# tfds tests import TensorFlow in the same workers, so rlax comes first.
import rlax  # pylint: disable=unused-import

import jax
import numpy as np

from benchmark.engine import batching, compilation, completion, scratch
from benchmark.sweeps import originals as originals_lib
from tasks import registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def digits_task():
  return registry.get_task("digits/mlp")


@pytest.fixture(scope="session")
def digits_workdir(tmp_path_factory):
  """A workdir holding the three default originals of digits/mlp."""
  workdir = str(tmp_path_factory.mktemp("digits"))
  originals_lib.ensure_originals(registry.get_task("digits/mlp"), workdir, 3,
                                 log=lambda _: None)
  return workdir


@pytest.fixture(scope="session")
def digits_originals(digits_task, digits_workdir):
  return originals_lib.ensure_originals(digits_task, digits_workdir, 3,
                                        log=lambda _: None)


def built_once(tmp_path_factory, name: str, build) -> str:
  """The folder `name`, filled by `build(folder)` once for the whole test
  session: the first test worker (pytest-xdist) to ask builds it under a
  file lock, the others wait for it and find it done. Read it only."""
  root = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    root = root.parent  # The workers' common folder.
  folder, done = root / name, root / f"{name}.done"
  with open(root / f"{name}.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not done.exists():
      shutil.rmtree(folder, ignore_errors=True)  # A failed earlier attempt.
      build(str(folder))
      done.touch()
  return str(folder)


def run_cli(module, *args, timeout=600, env=None):
  """Runs `python -m module args...` from the project root, with `env`
  added to the environment."""
  env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu",
         **(env or {})}
  return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                        env=env, capture_output=True, text=True,
                        timeout=timeout)


class Killed(Exception):
  """Stands in for a process killed at a time limit."""


def interrupt_after(monkeypatch, segments: int) -> None:
  """Makes the next resumable training stop after `segments` segments."""
  make = scratch.make_staged_scratch_training

  def make_interrupted(task, vmap_size=None):
    staged = make(task, vmap_size)
    done = [0]

    def advance(*args):
      if done[0] == segments:
        raise Killed()
      done[0] += 1
      return staged.advance(*args)

    return staged._replace(advance=advance)

  monkeypatch.setattr(scratch, "make_staged_scratch_training",
                      make_interrupted)


def train_interrupted(monkeypatch, task, workdir, seeds, segments):
  """A resumable training of `seeds` stopped after `segments` segments, its
  progress left in `workdir`."""
  with monkeypatch.context() as patch:
    interrupt_after(patch, segments)
    with pytest.raises(Killed):
      originals_lib.train_originals(task, workdir, seeds, resumable=True,
                                    log=lambda _: None)
  assert os.path.isfile(os.path.join(
      originals_lib.progress_dir(workdir, task.name), "progress.json"))


def assert_runs_as_alone(task, budget, runs, keys, originals, masks,
                         settings, stops, atol=1e-6):
  """Runs `runs` (a batched completion engine) on stacked runs and checks
  each curve (within `atol`) and divergence flag against the same run
  alone; returns the batched curves."""
  batched = runs(keys, batching.stack_runs(originals),
                 batching.stack_runs(masks), batching.stack_runs(settings),
                 stops, task.data)
  run = jax.jit(completion.make_completion(task, budget))
  for i in range(len(keys)):
    single, _ = run(keys[i], originals[i], masks[i], settings[i], stops[i],
                    task.data)
    np.testing.assert_allclose(batched.performance[i], single.performance,
                               atol=atol)
    assert bool(batched.diverged[i]) == bool(single.diverged)
  return batched


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
  """JAX's persistent compilation cache, in a folder of this session shared
  by the test workers: a program that several tests (or both workers)
  compile, e.g. the same engine program for other arguments' values, is
  compiled once. (The command-line processes keep their own default.)"""
  root = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    root = root.parent  # The workers' common folder.
  compilation.enable_cache(str(root / "jax-cache"), min_compile_time_s=0.2)
