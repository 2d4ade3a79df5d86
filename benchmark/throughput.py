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

from absl import flags

from benchmark import cli
from benchmark.engine import timing
from benchmark.sweeps import storage
from contract.spec import InputError
from tasks import registry

cli.define_task_flags()
flags.DEFINE_integer("seeds", 3, "Runs in the program.")
flags.DEFINE_list("vmap_sizes", ["0", "1"],
                  "Runs vmapped together, one measurement each (0: all).")
flags.DEFINE_integer("updates", 300, "Updates per run to time.")
flags.DEFINE_string("output", None, "Optional JSON file for the results.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  task = registry.get_task(FLAGS.task, data_dir=FLAGS.data_dir,
                           implementation=cli.implementation())
  try:
    sizes = [int(v) for v in FLAGS.vmap_sizes]
  except ValueError as e:
    raise InputError(f"--vmap_sizes must be integers: {e}") from e
  results = []
  for size in sizes:
    result = timing.measure(task, FLAGS.seeds, size or None, FLAGS.updates)
    print(json.dumps(result), flush=True)
    results.append(result)
  if FLAGS.output:
    storage.write_json_atomic(FLAGS.output, {
        "results": results, "provenance": storage.provenance(
            flags=cli.flag_values())})


if __name__ == "__main__":
  cli.run(main)
