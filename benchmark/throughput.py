"""Measures the training throughput of the completion engine for one task.

    python -m benchmark.throughput --task=cifar10/resnet20 --seeds=3 \
        --vmap_sizes=0,1 --updates=300

For each `--vmap_sizes` entry (0: all seeds vmapped), compiles the batched
completion program for `--updates` updates of every seed (procedure T2,
everything withheld, no early stop, evaluations only at the two ends) and
times a second call. Prints, and with `--output` writes as JSON, compile
time, run time, milliseconds per update of one run and aggregate examples
per second. Figures measured with it are in BUILD_NOTES.md.
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
from absl import flags

from benchmark import cli, completion, procedures, storage
from tasks import registry
from tasks.spec import InputError

cli.define_task_flags()
flags.DEFINE_integer("seeds", 3, "Runs in the program.")
flags.DEFINE_list("vmap_sizes", ["0", "1"],
                  "Runs vmapped together, one measurement each (0: all).")
flags.DEFINE_integer("updates", 300, "Updates per run to time.")
flags.DEFINE_string("output", None, "Optional JSON file for the results.")
FLAGS = flags.FLAGS


def measure(task, seeds: int, vmap_size: int | None,
            updates: int) -> dict:
  """Compile and run time of `seeds` runs of `updates` updates each."""
  runs = completion.make_batched_completion(task, (0, updates), vmap_size)
  keys = jnp.stack([completion.derive_key("throughput", s)
                    for s in range(seeds)])
  originals = jax.vmap(task.init)(keys)
  withheld = completion.everything_withheld(task.init(keys[0]))
  args = (keys, originals, completion.stack_runs([withheld] * seeds),
          completion.stack_runs([procedures.settings("T2", task.recipe)]
                                * seeds),
          jnp.full((seeds,), jnp.inf), task.data)
  started = time.perf_counter()
  compiled = runs.lower(*args).compile()
  compile_s = time.perf_counter() - started
  jax.block_until_ready(compiled(*args))  # Warm-up: allocation, autotuning.
  started = time.perf_counter()
  curves = jax.block_until_ready(compiled(*args))
  run_s = time.perf_counter() - started
  if not bool(jnp.all(jnp.isfinite(curves.performance))):
    raise InputError(f"{task.name}: a timed run diverged")
  return {
      "task": task.name, "seeds": seeds, "vmap_size": vmap_size or seeds,
      "updates": updates, "batch_size": task.recipe.batch_size,
      "compile_s": round(compile_s, 3), "run_s": round(run_s, 6),
      "ms_per_update_per_run": round(1e3 * run_s / (updates * seeds), 4),
      "examples_per_s": round(seeds * updates * task.recipe.batch_size
                              / run_s, 1),
  }


def main(argv):
  del argv
  task = registry.get_task(FLAGS.task, data_dir=FLAGS.data_dir)
  try:
    sizes = [int(v) for v in FLAGS.vmap_sizes]
  except ValueError as e:
    raise InputError(f"--vmap_sizes must be integers: {e}") from e
  results = []
  for size in sizes:
    result = measure(task, FLAGS.seeds, size or None, FLAGS.updates)
    print(json.dumps(result), flush=True)
    results.append(result)
  if FLAGS.output:
    storage.write_json_atomic(FLAGS.output, {
        "results": results, "provenance": storage.provenance(
            flags=cli.flag_values())})


if __name__ == "__main__":
  cli.run(main)
