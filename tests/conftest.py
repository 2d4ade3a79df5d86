"""Shared fixtures: the digits task and its originals, trained once."""

import os
import subprocess
import sys

import pytest
# TensorFlow Probability (under rlax, through distrax) loads its TensorFlow
# parts, which need tf_keras, when TensorFlow was imported before it. The
# tfds tests import TensorFlow in the same workers, so rlax comes first.
import rlax  # pylint: disable=unused-import

from benchmark import originals as originals_lib
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


def run_cli(module, *args, timeout=600):
  """Runs `python -m module args...` from the project root."""
  env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
  return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                        env=env, capture_output=True, text=True,
                        timeout=timeout)
