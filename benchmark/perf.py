"""How close a sweep comes to the hardware's limits, per task.

    python -m benchmark.perf --tasks=cifar10/resnet20,digits/mlp --runs=32 \
        --updates=200 --output=results/perf/DEVICE.json

For each task it times, in one process, `--updates` updates (procedure T2,
everything withheld, no early stop) of:

- `one run`: a single run;
- `sweep (vmap)`: `--runs` runs in one program, all vmapped;
- `sweep (in turn)`: the same runs in one program, one after another
  (`--vmap_size=1`);
- `loop`: the one-run program called `--runs` times from Python;
- `big job`: one run doing `--runs` times the work per update, the "one big
  job" limit for the same work: `--runs` times the batch (`batch_size`) of
  a supervised task, `--runs` times the environments (`num_envs`) of an RL
  one (a purejaxrl-style PPO trained alone at the sweep's total number of
  environments);
- `sweep on N device(s)`, for each of `--device_counts`: the faster sweep
  spread over the first N devices (`completion.run_mesh`), with its scaling
  efficiency (throughput on N / (N/N0 x throughput on the first count N0)).

It prints a markdown table of examples (or frames) per second with the
ratios the speed targets are stated in (sweep / big job, sweep / loop),
compile times (and whether the program came from the persistent
compilation cache), and the device's peak memory where the backend reports
it;
`--output` writes the same as JSON with provenance, `--figure` as bars
(`figures.throughput_bars`).
"""

from __future__ import annotations

import jax
from absl import flags

from benchmark import cli, compilation, completion, figures, storage, timing
from tasks import registry
from tasks.spec import InputError

cli.define_task_flags()
flags.DEFINE_list("tasks", ["digits/mlp"], "Tasks to measure.")
flags.DEFINE_integer("runs", 8, "Runs in a sweep.", lower_bound=2)
flags.DEFINE_integer("updates", 100, "Updates per run to time.",
                     lower_bound=1)
flags.DEFINE_list("device_counts", [],
                  "Device counts to spread the faster sweep over, one "
                  "measurement each (e.g. 1,2,4); default: none.")
flags.DEFINE_string("output", None, "Optional JSON file for the results.")
flags.DEFINE_string("figure", None, "Optional PNG of the results as bars.")
flags.DEFINE_list("replot", [], "perf JSON files (from --output) to draw "
                  "into --figure instead of measuring.")
FLAGS = flags.FLAGS


def peak_memory_bytes() -> int | None:
  """The first local device's peak memory so far, None where the backend
  does not report it (CPU)."""
  stats = jax.local_devices()[0].memory_stats() or {}
  return stats.get("peak_bytes_in_use")


# The config value a task's work per update scales with: the big job
# multiplies it by the number of runs.
SCALED_BY = ("batch_size", "num_envs")


def big_job_name(name: str, key: str, value: int) -> str:
  return f"{name}{',' if ':' in name else ':'}{key}={value}"


def measure_task(name: str, runs: int, updates: int,
                 data_dir: str | None,
                 device_counts: tuple[int, ...] = ()) -> dict:
  """Every measurement of one task (module docstring)."""
  task = registry.get_task(name, data_dir=data_dir)
  rows = {}

  def compile_runs(task, seeds, vmap_size, mesh=None):
    """`(compiled, args, compile_s, from_cache)`."""
    before = compilation.compile_stats()
    compiled = timing.compile_runs(task, seeds, vmap_size, updates, mesh)
    from_cache = (compilation.compile_stats() - before).cache_hits > 0
    return (*compiled, from_cache)

  def row(label, seeds, run_s, compile_s, from_cache, batch_size):
    rows[label] = {"measurement": label, "runs": seeds,
                   "run_s": round(run_s, 6),
                   "compile_s": round(compile_s, 3),
                   "compiled_from_cache": from_cache,
                   "examples_per_s": round(seeds * updates * batch_size
                                           / run_s, 1),
                   "peak_memory_bytes": peak_memory_bytes()}

  batch = task.recipe.batch_size
  one, one_args, one_compile_s, one_cached = compile_runs(task, 1, None)
  row("one run", 1, timing.time_calls(task, one, one_args), one_compile_s,
      one_cached, batch)
  # The loop reuses the one-run program: nothing compiled for it.
  row("loop", runs, timing.time_calls(task, one, one_args, calls=runs), 0.0,
      None, batch)
  for label, vmap_size in (("sweep (vmap)", None), ("sweep (in turn)", 1)):
    compiled, args, compile_s, cached = compile_runs(task, runs, vmap_size)
    row(label, runs, timing.time_calls(task, compiled, args), compile_s,
        cached, batch)
  scaled = [key for key in SCALED_BY if key in task.config]
  if scaled:
    big = registry.get_task(
        big_job_name(name, scaled[0], runs * task.config[scaled[0]]),
        data_dir=data_dir)
    compiled, args, compile_s, cached = compile_runs(big, 1, None)
    row("big job", 1, timing.time_calls(big, compiled, args), compile_s,
        cached, big.recipe.batch_size)
  best = max(("sweep (vmap)", "sweep (in turn)"),
             key=lambda k: rows[k]["examples_per_s"])
  scaling = {}
  for count in device_counts:
    label = f"sweep on {count} device(s)"
    compiled, args, compile_s, cached = compile_runs(
        task, runs, None if best == "sweep (vmap)" else 1,
        completion.run_mesh(count))
    row(label, runs, timing.time_calls(task, compiled, args), compile_s,
        cached, batch)
    first = device_counts[0]
    scaling[f"scaling efficiency on {count}"] = round(
        rows[label]["examples_per_s"] / rows[f"sweep on {first} device(s)"]
        ["examples_per_s"] / (count / first), 3)
  ratios = {"best sweep": best,
            "sweep / loop": round(rows[best]["examples_per_s"]
                                  / rows["loop"]["examples_per_s"], 3)}
  if "big job" in rows:
    ratios["sweep / big job"] = round(rows[best]["examples_per_s"]
                                      / rows["big job"]["examples_per_s"], 3)
  ratios.update(scaling)
  return {"task": name, "updates": updates, "batch_size": batch,
          "cost_unit": task.recipe.cost_unit, "rows": list(rows.values()),
          "ratios": ratios}


def markdown(result: dict) -> str:
  lines = [f"### {result['task']} ({result['updates']} updates, batch "
           f"{result['batch_size']})", "",
           "| measurement | runs | examples/s | run s | compile s "
           "(cached?) | peak memory |", "|---|---:|---:|---:|---:|---:|"]
  for r in result["rows"]:
    memory = ("n/a" if r["peak_memory_bytes"] is None
              else f"{r['peak_memory_bytes'] / 2**30:.2f} GiB")
    lines.append(f"| {r['measurement']} | {r['runs']} | {r['examples_per_s']:,.0f} | "
                 f"{r['run_s']:.3f} | {r['compile_s']:.1f}"
                 f"{' (cache)' if r['compiled_from_cache'] else ''} | "
                 f"{memory} |")
  lines.append("")
  lines.append(", ".join(f"{k}: {v}" for k, v in result["ratios"].items()))
  return "\n".join(lines) + "\n"


def replot(paths: list[str], figure: str | None) -> None:
  """Draws earlier `--output` files into `figure`.

  Raises:
    InputError: no `figure`, or a file that is not a perf result.
  """
  if not figure:
    raise InputError("--replot needs --figure")
  results = []
  for path in paths:
    try:
      results.extend(storage.read_json(path)["results"])
    except (KeyError, TypeError) as e:
      raise InputError(f"{path}: not a benchmark.perf result") from e
  print(figures.throughput_bars(results, figure))


def main(argv):
  del argv
  if FLAGS.replot:
    replot(FLAGS.replot, FLAGS.figure)
    return
  if not FLAGS.tasks:
    raise InputError("--tasks: give at least one task")
  try:
    device_counts = tuple(int(c) for c in FLAGS.device_counts)
  except ValueError as e:
    raise InputError(f"--device_counts must be integers: {e}") from e
  for count in device_counts:
    completion.run_mesh(count)  # Validates it before any measurement.
  results = []
  for name in FLAGS.tasks:
    result = measure_task(name, FLAGS.runs, FLAGS.updates, FLAGS.data_dir,
                          device_counts)
    print(markdown(result), flush=True)
    results.append(result)
  if FLAGS.output:
    storage.write_json_atomic(FLAGS.output, {
        "results": results,
        "provenance": storage.provenance(flags=cli.flag_values())})
  if FLAGS.figure:
    print(figures.throughput_bars(results, FLAGS.figure))


if __name__ == "__main__":
  cli.run(main)
