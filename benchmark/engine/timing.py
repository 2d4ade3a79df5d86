"""Timing the completion engine's compiled programs (`benchmark.throughput`,
`benchmark.perf`)."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from benchmark.engine import batching, compilation, prng, scratch
from benchmark.science import procedures
from contract.spec import InputError


def timed_program(task, seeds: int, vmap_size: int | None, updates: int,
                  mesh: jax.sharding.Mesh | None = None):
  """`(runs, args)`: the batched completion program of `seeds` runs of
  `updates` updates each (T2, everything withheld, no early stop,
  evaluations at the two ends), spread over `mesh` if given, and its
  arguments."""
  runs = batching.make_batched_completion(task, (0, updates), vmap_size,
                                          mesh=mesh)
  keys = jnp.stack([prng.derive_key("throughput", s)
                    for s in range(seeds)])
  originals = jax.vmap(task.init)(keys)
  withheld = scratch.everything_withheld(task.init(keys[0]))
  args = (keys, originals, batching.stack_runs([withheld] * seeds),
          batching.stack_runs([procedures.settings("T2", task.recipe)]
                              * seeds),
          jnp.full((seeds,), jnp.inf), task.data)
  return runs, args


def compile_runs(task, seeds: int, vmap_size: int | None, updates: int,
                 mesh: jax.sharding.Mesh | None = None,
                 compiler_options: dict | None = None):
  """`(compiled, args, compile_s)`: `timed_program` compiled ahead of time
  with XLA's `compiler_options` (over the process's `XLA_FLAGS`); over
  several devices it is compiled by a first call instead (its compile
  time is the backend's, from `compilation.compile_stats`)."""
  runs, args = timed_program(task, seeds, vmap_size, updates, mesh)
  if not hasattr(runs, "lower"):  # Over several devices (`shard_runs`).
    if compiler_options:
      raise ValueError("compiler_options: one device only")
    before = compilation.compile_stats()
    jax.block_until_ready(runs(*args))
    return runs, args, (compilation.compile_stats() - before).compile_time_s
  started = time.perf_counter()
  compiled = runs.lower(*args).compile(compiler_options)
  return compiled, args, time.perf_counter() - started


def time_calls(task, compiled, args, calls: int = 1,
               repeats: int = 1) -> float:
  """Seconds for `calls` calls one after another, after a warm-up call
  (allocation, autotuning); with `repeats` > 1, the best of that many such
  timings (noise only ever adds time).

  Raises:
    InputError: a timed run diverged.
  """
  jax.block_until_ready(compiled(*args))
  best = float("inf")
  for _ in range(repeats):
    started = time.perf_counter()
    for _ in range(calls):
      curves = jax.block_until_ready(compiled(*args))
    best = min(best, time.perf_counter() - started)
    if not bool(jnp.all(jnp.isfinite(curves.performance))):
      raise InputError(f"{task.name}: a timed run diverged")
  return best


def measure(task, seeds: int, vmap_size: int | None,
            updates: int) -> dict:
  """Compile and run time of `seeds` runs of `updates` updates each."""
  compiled, args, compile_s = compile_runs(task, seeds, vmap_size, updates)
  run_s = time_calls(task, compiled, args)
  return {
      "task": task.name, "seeds": seeds, "vmap_size": vmap_size or seeds,
      "updates": updates, "batch_size": task.recipe.batch_size,
      "compile_s": round(compile_s, 3), "run_s": round(run_s, 6),
      "ms_per_update_per_run": round(1e3 * run_s / (updates * seeds), 4),
      "examples_per_s": round(seeds * updates * task.recipe.batch_size
                              / run_s, 1),
  }
