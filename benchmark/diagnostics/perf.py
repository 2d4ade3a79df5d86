"""How close a sweep comes to the hardware's limits, per task.

    python -m benchmark.perf --tasks=cifar10/resnet20,digits/mlp --runs=32 \
        --updates=200 --output=results/perf/DEVICE.json

For each task it times, in one process, `--updates` updates (procedure T2,
everything withheld, no early stop) of each measurement below. A completion
program also evaluates (at both ends of the schedule) and sets up, which
would weigh on `--runs` runs more than on one big job; so each measurement
compiles its runs for `--updates` and for twice as many updates, and the
difference of the two times is what the examples per second count (the
whole call's rate is reported beside it); each time is the best of
`--repeats` timings after one warm-up call. The measurements:

- `one run`: a single run;
- `sweep (vmap)`: `--runs` runs in one program, all vmapped;
- `sweep (in turn)`: the same runs in one program, one after another
  (`--vmap_size=1`);
- `loop`: the one-run program called `--runs` times from Python;
- `big job`: one run doing `--runs` times the work per update, the "one big
  job" limit for the same work: `--runs` times the batch (`batch_size`) of
  a supervised task, `--runs` times the environments (`num_envs`) of an RL
  one (a purejaxrl-style PPO trained alone at the sweep's total number of
  environments); where the task cannot be built that big (a dataset
  smaller than the big batch), the table says why and goes on; on a GPU it
  is compiled without deterministic ops (`BIG_JOB_OPTIONS`), whatever
  `XLA_FLAGS` says, since it is the hardware's limit and those ops cut a
  big batch's convolutions by up to 35x (BUILD_NOTES); and it computes the
  task's default way, without `--implementation`'s options or the XLA
  options they set, which are there for batched runs (a Pallas kernel
  gradient, and matrix products without Triton, made big jobs slower);
- `sweep on N device(s)`, for each of `--device_counts`: the faster sweep
  spread over the first N devices (`sharding.run_mesh`), with its scaling
  efficiency (throughput on N / (N/N0 x throughput on the first count N0)).

It prints a markdown table of examples (or frames) per second with the
ratios the speed targets are stated in (sweep / big job, sweep / loop),
compile times (and whether the program came from the persistent
compilation cache), and the device's peak memory where the backend reports
it;
`--output` writes the same as JSON with provenance, `--figure` as bars
(`figures.throughput_bars`), `--trace_dir` a profile of each measured
program.
"""

from __future__ import annotations

import os

import jax

from benchmark.engine import compilation, sharding, timing
from benchmark.publishing import figures
from benchmark.sweeps import originals, storage
from contract.spec import InputError
from tasks import registry

# The single-device measurements, by flag value (module docstring).
MEASUREMENTS = ("one_run", "loop", "vmap", "in_turn", "big_job")



def peak_memory_bytes() -> int | None:
  """The first local device's peak memory so far, None where the backend
  does not report it (CPU)."""
  stats = jax.local_devices()[0].memory_stats() or {}
  return stats.get("peak_bytes_in_use")


# XLA options of the big job on a GPU (module docstring): the same process
# can time sweeps with deterministic ops and the limit without them.
BIG_JOB_OPTIONS = {"gpu": {"xla_gpu_deterministic_ops": False}}

# The config value a task's work per update scales with: the big job
# multiplies it by the number of runs.
SCALED_BY = ("batch_size", "num_envs")


def task_names(items: list[str]) -> list[str]:
  """`--tasks` items -> task names: an item without "/" is another switch
  of the task before it."""
  names = []
  for item in items:
    if "/" in item or not names:
      names.append(item)
    else:
      names[-1] += "," + item
  return names


def big_job_name(name: str, key: str, value: int) -> str:
  return f"{name}{',' if ':' in name else ':'}{key}={value}"


class _Programs:
  """The timed programs of one measurement: the same runs compiled for
  `updates` and for `2 x updates` updates (each also evaluates at both
  ends and sets up once), so that the difference of their times is
  `updates` updates and nothing else."""

  def __init__(self, task, seeds: int, vmap_size: int | None, updates: int,
               mesh=None, compiler_options: dict | None = None):
    self.task = task
    self.programs, self.compile_s, self.from_cache = [], 0.0, False
    for count in (updates, 2 * updates):
      before = compilation.compile_stats()
      compiled, args, compile_s = timing.compile_runs(
          task, seeds, vmap_size, count, mesh, compiler_options)
      self.from_cache |= (compilation.compile_stats() - before).cache_hits > 0
      self.programs.append((compiled, args))
      self.compile_s += compile_s

  def trace(self, log_dir: str) -> None:
    """One more call of the longer program under `jax.profiler.trace`."""
    compiled, args = self.programs[-1]
    with jax.profiler.trace(log_dir):
      jax.block_until_ready(compiled(*args))

  def seconds(self, calls: int, repeats: int) -> tuple[float, float]:
    """`(updates_s, total_s)`: seconds of `calls` calls' updates alone, and
    of the `updates` program's calls whole (evaluations and set-up
    included); each program's time is the best of `repeats`."""
    short, long = (timing.time_calls(self.task, compiled, args, calls,
                                     repeats)
                   for compiled, args in self.programs)
    return long - short, short


def measure_task(name: str, runs: int, updates: int,
                 data_dir: str | None,
                 device_counts: tuple[int, ...] = (),
                 measurements: tuple[str, ...] = MEASUREMENTS,
                 repeats: int = 3,
                 implementation: dict[str, str] | None = None,
                 trace_dir: str | None = None) -> dict:
  """The `measurements` of one task, then its sweep on each of
  `device_counts` (module docstring); every program computed as
  `implementation` says (`registry.get_task`); with `trace_dir`, a profile
  of each measured program's longer call in
  `trace_dir/<task>/<measurement>` (TensorBoard's or xprof's format)."""
  task = registry.get_task(name, data_dir=data_dir,
                           implementation=implementation)
  return measure(task, runs, updates, data_dir, device_counts, measurements,
                 repeats, trace_dir)


# Why a task whose environments live on the host (an envpool pool) has no
# vmapped measurement: its sweeps run their runs in turn.
NOT_VMAPPABLE = ("not measured: its runs cannot be vmapped (environments on "
                 "the host); its sweeps run them in turn")


def measure(task, runs: int, updates: int, data_dir: str | None = None,
            device_counts: tuple[int, ...] = (),
            measurements: tuple[str, ...] = MEASUREMENTS,
            repeats: int = 3, trace_dir: str | None = None) -> dict:
  """`measure_task` of a built task (`data_dir`: for its big job)."""
  name = task.name
  # A single run is vmapped (a batch of one) where the task allows it, and
  # mapped otherwise: an environment pool's callbacks cannot sit under a
  # batched loop predicate.
  one_vmap_size = None if task.shardable else 1
  rows = {}

  def row(label, seeds, programs, batch_size, calls=1, compiled_here=True):
    updates_s, total_s = programs.seconds(calls, repeats)
    if updates_s <= 0:
      raise InputError(f"{name}: {label}: {updates} more updates took no "
                       "measurable time; raise --updates")
    examples = seeds * updates * batch_size
    print(f"{name}: {label}: {examples / updates_s:,.0f} examples/s",
          flush=True)  # Progress: a long measurement cut short still says.
    if trace_dir and compiled_here:
      programs.trace(os.path.join(trace_dir, originals.task_slug(name),
                                  originals.task_slug(label)))
    rows[label] = {"measurement": label, "runs": seeds,
                   "updates_s": round(updates_s, 6),
                   "run_s": round(total_s, 6),
                   "compile_s": round(programs.compile_s, 3)
                                if compiled_here else 0.0,
                   "compiled_from_cache": programs.from_cache
                                          if compiled_here else None,
                   "examples_per_s": round(examples / updates_s, 1),
                   "examples_per_s_with_evaluations": round(
                       examples / total_s, 1),
                   "peak_memory_bytes": peak_memory_bytes()}

  batch = task.recipe.batch_size
  if "one_run" in measurements or "loop" in measurements:
    one = _Programs(task, 1, one_vmap_size, updates)
  if "one_run" in measurements:
    row("one run", 1, one, batch)
  if "loop" in measurements:
    # The loop reuses the one-run programs: nothing compiled for it.
    row("loop", runs, one, batch, calls=runs, compiled_here=False)
  sweeps = {"vmap": ("sweep (vmap)", None), "in_turn": ("sweep (in turn)", 1)}
  missing = {}
  for measurement, (label, vmap_size) in sweeps.items():
    if measurement not in measurements:
      continue
    if vmap_size is None and not task.shardable:
      missing[label] = NOT_VMAPPABLE
      print(f"{name}: {label}: {NOT_VMAPPABLE}", flush=True)
      continue
    row(label, runs, _Programs(task, runs, vmap_size, updates), batch)
  scaled = [key for key in SCALED_BY if key in task.config]
  if scaled and "big_job" in measurements:
    try:
      big = registry.get_task(
          big_job_name(name, scaled[0], runs * task.config[scaled[0]]),
          data_dir=data_dir)
    except InputError as e:  # E.g. a dataset smaller than the big batch.
      missing["big job"] = f"not measured: {e}"
      print(f"{name}: big job: {missing['big job']}", flush=True)
    else:
      row("big job", 1, _Programs(
          big, 1, one_vmap_size, updates,
          compiler_options=BIG_JOB_OPTIONS.get(jax.default_backend())),
          big.recipe.batch_size)
  measured_sweeps = [label for label, _ in sweeps.values() if label in rows]
  best = max(measured_sweeps, key=lambda k: rows[k]["examples_per_s"],
             default=None)
  scaling = {}
  if device_counts and not task.shardable:
    missing["sweep on several devices"] = (
        "not measured: its runs cannot be spread over devices (environments "
        "on the host)")
    device_counts = ()
  for count in device_counts:
    label = f"sweep on {count} device(s)"
    row(label, runs, _Programs(task, runs,
                               1 if best == "sweep (in turn)" else None,
                               updates, sharding.run_mesh(count)), batch)
    first = device_counts[0]
    scaling[f"scaling efficiency on {count}"] = round(
        rows[label]["examples_per_s"] / rows[f"sweep on {first} device(s)"]
        ["examples_per_s"] / (count / first), 3)
  ratios = {"best sweep": best}
  for limit, key in (("loop", "sweep / loop"), ("big job", "sweep / big job")):
    if best and limit in rows:
      ratios[key] = round(rows[best]["examples_per_s"]
                          / rows[limit]["examples_per_s"], 3)
  ratios.update(missing)
  ratios.update(scaling)
  return {"task": name, "updates": updates, "batch_size": batch,
          "cost_unit": task.recipe.cost_unit, "rows": list(rows.values()),
          "ratios": ratios}


def markdown(result: dict) -> str:
  lines = [f"### {result['task']} ({result['updates']} updates, batch "
           f"{result['batch_size']})", "",
           "| measurement | runs | examples/s (updates) | examples/s (with "
           "2 evaluations) | updates s | compile s (cached?) | peak memory |",
           "|---|---:|---:|---:|---:|---:|---:|"]
  for r in result["rows"]:
    memory = ("n/a" if r["peak_memory_bytes"] is None
              else f"{r['peak_memory_bytes'] / 2**30:.2f} GiB")
    lines.append(f"| {r['measurement']} | {r['runs']} | "
                 f"{r['examples_per_s']:,.0f} | "
                 f"{r['examples_per_s_with_evaluations']:,.0f} | "
                 f"{r['updates_s']:.3f} | {r['compile_s']:.1f}"
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
