"""`python -m benchmark.perf`: the command line of
`benchmark.diagnostics.perf`.

How close a sweep comes to the hardware's limits, per task.
"""

from absl import flags

from benchmark import cli
from benchmark.diagnostics import perf
from benchmark.engine import sharding
from benchmark.publishing import figures
from benchmark.sweeps import storage
from contract.spec import InputError

cli.define_task_flags()
flags.DEFINE_list("tasks", ["digits/mlp"],
                  "Tasks to measure. A task's switches are comma-separated "
                  "too, so an item without '/' continues the task before it "
                  "(`a/b:x,y,c/d` is `a/b:x,y` and `c/d`).")
flags.DEFINE_integer("runs", 8, "Runs in a sweep.", lower_bound=2)
flags.DEFINE_integer("updates", 100, "Updates per run to time.",
                     lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Timings of each program; the best "
                     "counts, since noise only ever adds time.",
                     lower_bound=1)
flags.DEFINE_list("measurements", list(perf.MEASUREMENTS),
                  "Which of the single-device measurements to make (some "
                  f"of {', '.join(perf.MEASUREMENTS)}); each compiles its own "
                  "program, so leaving out the known ones saves device "
                  "time.")
flags.DEFINE_list("device_counts", [],
                  "Device counts to spread the faster sweep over, one "
                  "measurement each (e.g. 1,2,4); default: none.")
flags.DEFINE_string("output", None, "Optional JSON file for the results.")
flags.DEFINE_string("trace_dir", None, "Optional folder for a profile of "
                    "each measured program (one more call of it, after its "
                    "timings), for TensorBoard or xprof.")
flags.DEFINE_string("figure", None, "Optional PNG of the results as bars.")
flags.DEFINE_list("replot", [], "perf JSON files (from --output) to draw "
                  "into --figure instead of measuring.")


def main(argv):
  del argv
  if flags.FLAGS.replot:
    perf.replot(flags.FLAGS.replot, flags.FLAGS.figure)
    return
  if not flags.FLAGS.tasks:
    raise InputError("--tasks: give at least one task")
  try:
    device_counts = tuple(int(c) for c in flags.FLAGS.device_counts)
  except ValueError as e:
    raise InputError(f"--device_counts must be integers: {e}") from e
  for count in device_counts:
    sharding.run_mesh(count)  # Validates it before any measurement.
  unknown = sorted(set(flags.FLAGS.measurements) - set(perf.MEASUREMENTS))
  if unknown:
    raise InputError(f"--measurements: unknown {', '.join(unknown)}; "
                     f"known: {', '.join(perf.MEASUREMENTS)}")
  results = []
  for name in perf.task_names(flags.FLAGS.tasks):
    result = perf.measure_task(
        name, flags.FLAGS.runs, flags.FLAGS.updates, flags.FLAGS.data_dir,
        device_counts, tuple(flags.FLAGS.measurements), flags.FLAGS.repeats,
        cli.implementation(), flags.FLAGS.trace_dir)
    print(perf.markdown(result), flush=True)
    results.append(result)
  if flags.FLAGS.output:
    storage.write_json_atomic(flags.FLAGS.output, {
        "results": results,
        "provenance": storage.provenance(flags=cli.flag_values())})
  if flags.FLAGS.figure:
    print(figures.throughput_bars(results, flags.FLAGS.figure))


if __name__ == "__main__":
  cli.run(main)
