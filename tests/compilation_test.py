"""The persistent compilation cache, and compile time apart from run time."""

import glob
import json
import os

import jax
import jax.numpy as jnp
from conftest import run_cli

from benchmark.engine import compilation


def test_compile_stats_count_what_was_compiled():
  before = compilation.compile_stats()
  jax.jit(lambda x: jnp.tanh(x) * 3.0 + x.sum())(jnp.arange(7.0))
  spent = compilation.compile_stats() - before
  assert spent.compile_time_s > 0
  assert spent.cache_hits == 0


def program_of_record(workdir, cache):
  result = run_cli("benchmark.run", "--task=digits/mlp:num_updates=60",
                   "--splits=layer.head", "--procedures=T1", "--seeds=2",
                   "--num_originals=1", f"--workdir={workdir}",
                   f"--compilation_cache_dir={cache}")
  assert result.returncode == 0, result.stderr[-2000:]
  [path] = glob.glob(os.path.join(workdir, "records", "*", "*.json"))
  with open(path) as f:
    record = json.load(f)
  return record["provenance"]["program"], record["seeds"]


def test_a_second_sweep_reuses_the_compiled_program(tmp_path):
  cache = str(tmp_path / "cache")
  first, seeds = program_of_record(str(tmp_path / "a"), cache)
  assert first["compile_cache_hits"] == 0 < first["compile_cache_misses"]
  assert os.listdir(cache)
  second, same_seeds = program_of_record(str(tmp_path / "b"), cache)
  assert second["compile_cache_misses"] == 0 < second["compile_cache_hits"]
  assert second["compile_time_s"] < first["compile_time_s"]
  assert same_seeds == seeds
