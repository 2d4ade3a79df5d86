"""CI regression of metric values against committed reference files.

    # CI: rerun every configuration of results/reference/ and compare.
    python -m benchmark.regression --check
    python -m benchmark.regression --check --configs=digits \
        --reference_dir=results/reference
    # After a reviewed change of the numbers: rerun and rewrite the files.
    python -m benchmark.regression --refresh
    python -m benchmark.regression --refresh --configs=digits,cartpole

A *reference configuration* is one file `<reference_dir>/<name>.json`. Its
`settings` are the `benchmark.sweeps.sweep.SweepSettings` fields of a small,
CPU-fast completion sweep (task, splits, procedures, seeds, alphas, ...); which
tasks are checked is data in these files, never code. To add one, write a file
holding only `{"name": "<name>", "settings": {"task": ...}}` and run `--refresh
--configs=<name>`.

`--refresh` runs each sweep in a fresh temporary workdir (originals trained
from scratch, then one record per (split, procedure)) and rewrites the file
atomically with the settings, the environment it was made in (jax, jaxlib,
flax, optax, Python, backend, device and machine) and, per (split, procedure,
alpha), the per-seed hardness values, their IQM and a tolerance band
`[lo, hi]`. Keys are sorted and metrics ordered by (split, procedure, alpha),
so a refresh with unchanged code and versions rewrites the same bytes and a
change is a diff to review. Cells whose `t0(alpha)` is 0 have no hardness and
are left out.

`--check` reruns the same sweeps and compares each IQM with its band. It
exits 0 when every metric is inside; otherwise it prints one line per metric
out of band or missing on either side, then a summary, and exits 1. A bad
configuration name or a missing or malformed file is a one-line
`mcbench: error: ...` with exit status 2, before anything runs.

Tolerance bands come from the seeds' spread, not from hand-picked margins:

* Seed variance. On the CPU a rerun with the same versions is bit-identical
  and lands on the reference IQM exactly. A numerical drift (a new jax or
  XLA, another CPU) changes every trajectory after the first differing bit,
  so the rerun's seeds behave like new seeds, and so do its originals,
  whose median first reach is the t0 every hardness value is divided by.
  The band is where the IQM of an equally sized rerun of new seeds and new
  originals is expected to land: a two-sample bootstrap draws two
  independent resamples (with replacement) of the reference seeds' hardness
  values, and of its originals' first reaches (each resample's seeds are
  rescaled by t0 / t0 of its originals), and takes IQM(first) -
  IQM(second), `BAND_REPS` = 20,000 times with
  `numpy.random.default_rng(BAND_SEED)`; the
  band is the reference IQM plus the a/2 and 1 - a/2 percentiles of that
  difference. `a` is Bonferroni's `FAMILY_LEVEL / M` for the M metrics of a
  configuration, so that after a drift that only acts like new seeds, the
  chance that *any* metric of the configuration leaves its band is at most
  5%: a per-metric 95% band would flag about 4 of digits' 60 metrics by
  chance alone. IQM is rliable's, the 25%-trimmed mean
  (`benchmark.science.statistics.iqm`).
* Resolution. Hardness is quantised to the evaluation grid
  `eval_costs[k] / t0` (a censored seed sits at `budget / t0`, the last
  point), so a cell whose seeds agree has a zero-width bootstrap band, yet a
  drift may still move it by one evaluation. The band is widened, where
  narrower, to the range of IQMs obtained when the seeds' hardness moves one
  evaluation point earlier or later on the record's grid (a seed at either
  end of the grid stays). Every seed moves together: with five seeds the
  trimmed mean drops a single seed that leaves a tie, so moving one seed at a
  time would leave an agreeing cell no room at all. The IQM is monotone in
  each value, so this range contains that of every single-seed move, and a
  zero-variance cell gets exactly one evaluation step either way.

The band is cut to where a rerun's IQM can lie, `[0, budget / t0*]` for the
smallest t0* its originals may give (the bootstrap's tails may pass both).

A flagged metric is then a real change (or, at most 5% of the time per
configuration, chance after a numerical drift): read the diff, then refresh
in a reviewed change.
"""

from __future__ import annotations

import dataclasses
import glob
import math
import os
import platform
import sys
import tempfile
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from benchmark.science import statistics
from benchmark.sweeps import records as records_lib
from benchmark.sweeps import storage
from contract.spec import InputError

SCHEMA_ID = "mcbench.regression/2"
BAND_REPS = 20000  # Enough draws in the Bonferroni tails (a/2 ~ 4e-4).
BAND_SEED = 0
FAMILY_LEVEL = 0.05  # Chance of any false flag per configuration.
DEFAULT_REFERENCE_DIR = os.path.join("results", "reference")
# SweepSettings fields that say where, not what: never in a reference.
LOCAL_FIELDS = ("workdir", "data_dir")
# Settings whose JSON lists become the tuples SweepSettings holds.
TUPLE_FIELDS = ("splits", "procedures", "alphas")
NAME_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")
# Slack for comparing floats that went through JSON and different sums.
RELATIVE_SLACK = 1e-9


class Key(NamedTuple):
  """One metric: a cell of the sweep."""

  split: str
  procedure: str
  alpha: float


class Difference(NamedTuple):
  """A metric out of its band (`got` and `band` set), missing from the rerun
  (`got` None) or absent from the reference (`band` None)."""

  config: str
  key: Key
  reference_iqm: float | None
  band: tuple[float, float] | None
  got: float | None

  @property
  def line(self) -> str:
    """One readable line, e.g. `digits: split layer.head, T1, alpha 0.9:
    expected IQM in [0.412, 0.588] (reference 0.500), got 0.731`."""
    where = (f"{self.config}: split {self.key.split}, {self.key.procedure}, "
             f"alpha {self.key.alpha:g}")
    if self.got is None:
      return (f"{where}: missing from the rerun (reference IQM "
              f"{_number(self.reference_iqm)})")
    if self.band is None:
      return f"{where}: not in the reference (got {_number(self.got)})"
    lo, hi = self.band
    digits = _digits_to_tell(self.got, (lo, hi, self.reference_iqm))
    return (f"{where}: expected IQM in [{lo:.{digits}f}, {hi:.{digits}f}] "
            f"(reference {self.reference_iqm:.{digits}f}), got "
            f"{self.got:.{digits}f}")


def _number(value: float | None) -> str:
  return "none" if value is None else f"{value:.3f}"


def _digits_to_tell(value: float, others: Sequence[float]) -> int:
  """Decimals (at least 3) at which `value` reads differently from each of
  `others` that it differs from."""
  for digits in range(3, 13):
    if all(f"{value:.{digits}f}" != f"{o:.{digits}f}" for o in others
           if o != value):
      return digits
  return 12


iqm = statistics.iqm


def band_percentiles(num_metrics: int) -> tuple[float, float]:
  """The percentiles of a band among `num_metrics` (Bonferroni): together
  the bands miss with probability at most `FAMILY_LEVEL`."""
  tail = 100.0 * FAMILY_LEVEL / max(num_metrics, 1) / 2
  return tail, 100.0 - tail


def bootstrap_band(values: Sequence[float],
                   percentiles: Sequence[float] = (2.5, 97.5),
                   reps: int = BAND_REPS,
                   seed: int = BAND_SEED,
                   originals: Sequence[float] | None = None
                   ) -> tuple[float, float]:
  """Where the IQM of an equally sized rerun of new seeds lands.

  Args:
    values: the reference seeds' hardness values.
    percentiles: of the difference distribution (`band_percentiles`).
    reps: pairs of resamples.
    seed: the numpy generator's seed (fixed: the band is reproducible).
    originals: each original's first reach of the metric's alpha (`inf`
      if never), whose median is the reference cost t0 the values are
      relative to; None holds t0 fixed. A rerun trains new originals, so
      its t0 is drawn anew too: each resample then also draws the originals
      and rescales its seeds by `t0 / t0*`. A resample whose t0* is 0 has
      no hardness (the rerun would leave the metric out) and is skipped.

  Returns:
    `IQM(values)` plus the `percentiles` of
    `IQM(resample 1) - IQM(resample 2)` over `reps` pairs of independent
    resamples with replacement, vectorised.
  """
  scores = np.asarray(values, np.float64)
  rng = np.random.default_rng(seed)
  draws = rng.integers(0, len(scores), size=(2, reps, len(scores)))
  resampled = iqm(scores[draws[0]]), iqm(scores[draws[1]])
  if originals is not None:
    firsts = np.asarray(originals, np.float64)
    t0 = np.median(firsts)
    picks = rng.integers(0, len(firsts), size=(2, reps, len(firsts)))
    drawn_t0 = np.median(firsts[picks], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
      scales = np.where(drawn_t0 > 0, t0 / drawn_t0, np.nan)
    resampled = resampled[0] * scales[0], resampled[1] * scales[1]
  differences = resampled[0] - resampled[1]
  lo, hi = np.nanpercentile(differences, percentiles)
  centre = float(iqm(scores))
  return centre + float(lo), centre + float(hi)


def resolution_band(grid: Sequence[float],
                    positions: Sequence[int]) -> tuple[float, float]:
  """The IQMs with every seed one evaluation point earlier and later.

  Args:
    grid: the hardness values a seed can take, `eval_costs / t0`, ascending.
    positions: each seed's index into `grid` (the last one if censored).

  Returns:
    `(IQM one point earlier, IQM one point later)`; a seed at an end of the
    grid stays there.
  """
  grid = np.asarray(grid, np.float64)
  positions = np.asarray(positions, int)
  earlier = grid[np.maximum(positions - 1, 0)]
  later = grid[np.minimum(positions + 1, len(grid) - 1)]
  return float(iqm(earlier)), float(iqm(later))


def tolerance_band(values: Sequence[float], grid: Sequence[float],
                   positions: Sequence[int],
                   percentiles: Sequence[float] = (2.5, 97.5),
                   reps: int = BAND_REPS,
                   seed: int = BAND_SEED,
                   originals: Sequence[float] | None = None
                   ) -> dict[str, list[float]]:
  """The band of one metric: bootstrap, widened to the resolution.

  `originals` (each original's first reach, see `bootstrap_band`) lets the
  rerun's t0 vary too.

  Returns:
    `{"band": [lo, hi], "bootstrap": [lo, hi], "resolution": [lo, hi]}`;
    `band` spans both parts and `IQM(values)`, cut to the range where a
    rerun's IQM can be: from 0 to the budget over the smallest t0 a rerun
    may draw (the bootstrap's tails may pass both).
  """
  boot = bootstrap_band(values, percentiles, reps, seed, originals)
  resolution = resolution_band(grid, positions)
  centre = float(iqm(values))
  top = max(grid)
  if originals is not None:
    firsts = np.asarray(originals, np.float64)
    if np.any(firsts > 0):  # t0 * top is the budget.
      top *= float(np.median(firsts) / np.min(firsts[firsts > 0]))
  # The centre last: an IQM of equal values may differ from them by a bit.
  lo = min(max(min(boot[0], resolution[0]), min(grid)), centre)
  hi = max(min(max(boot[1], resolution[1]), top), centre)
  return {"band": [lo, hi], "bootstrap": list(boot),
          "resolution": list(resolution)}


def grid_positions(eval_costs: Sequence[float],
                   ts: Sequence[float | None]) -> list[int]:
  """Each seed's index on the evaluation grid; censored (None): the last."""
  costs = np.asarray(eval_costs, np.float64)
  return [len(costs) - 1 if t is None else int(np.argmin(np.abs(costs - t)))
          for t in ts]


def record_metrics(record: dict[str, Any],
                   percentiles: Sequence[float] = (2.5, 97.5)
                   ) -> dict[Key, dict[str, Any]]:
  """The metrics of one record: per alpha with a hardness summary, the
  per-seed values, their IQM and tolerance band at `percentiles`.

  Rows whose `t0` is 0 (no hardness, `summary` None) are left out.
  """
  metrics = {}
  for row in record["hardness"]:
    if row["summary"] is None:
      continue
    values = [float(v) for v in row["hardness"]]
    grid = [c / row["t0"] for c in record["eval_costs"]]
    originals_t = originals_first_reach(record, row["alpha"])
    band = tolerance_band(
        values, grid, grid_positions(record["eval_costs"], row["t"]),
        percentiles, originals=None if originals_t is None else [
            math.inf if t is None else t for t in originals_t])
    key = Key(record["split"]["name"], record["procedure"]["name"],
              float(row["alpha"]))
    metrics[key] = {
        "split": key.split, "procedure": key.procedure, "alpha": key.alpha,
        "t0": row["t0"],
        **({} if originals_t is None else {"originals_t": originals_t}),
        "hardness": values, "censored": row["censored"],
        "iqm": float(row["summary"]["iqm"]), **band}
  return metrics


def originals_first_reach(record: dict[str, Any],
                          alpha: float) -> list[float | None] | None:
  """Each original's first reach of `alpha` (None if never), from the
  record's reference; None for a record without them."""
  reference = record.get("reference") or {}
  if "originals_t" not in reference:
    return None
  column = list(record["alphas"]).index(alpha)
  return [None if ts[column] is None else float(ts[column])
          for ts in reference["originals_t"]]


def collect_metrics(
    records: Sequence[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
  """Every metric of a sweep's records, sorted by (split, procedure,
  alpha), with bands corrected for their number (`band_percentiles`)."""
  count = sum(row["summary"] is not None for record in records
              for row in record["hardness"])
  metrics = {}
  for record in records:
    metrics.update(record_metrics(record, band_percentiles(count)))
  return dict(sorted(metrics.items()))


def compare(reference: dict[str, Any],
            records: Sequence[dict[str, Any]]) -> list[Difference]:
  """What a rerun's records change against a reference file's metrics.

  Args:
    reference: a reference file's content (`name` and `metrics`).
    records: the rerun's records.

  Returns:
    One `Difference` per metric whose IQM is outside its band, missing from
    the rerun or absent from the reference, in (split, procedure, alpha)
    order; empty when the rerun agrees.
  """
  name = reference["name"]
  expected = {Key(m["split"], m["procedure"], float(m["alpha"])): m
              for m in reference["metrics"]}
  fresh = collect_metrics(records)
  differences = []
  for key in sorted(set(expected) | set(fresh)):
    old, new = expected.get(key), fresh.get(key)
    if new is None:
      differences.append(Difference(name, key, old["iqm"],
                                    tuple(old["band"]), None))
    elif old is None:
      differences.append(Difference(name, key, None, None, new["iqm"]))
    elif not inside(new["iqm"], old["band"]):
      differences.append(Difference(name, key, old["iqm"],
                                    tuple(old["band"]), new["iqm"]))
  return differences


def inside(value: float, band: Sequence[float]) -> bool:
  """`lo <= value <= hi`, with a relative slack of `RELATIVE_SLACK`."""
  lo, hi = band
  slack = RELATIVE_SLACK * max(1.0, abs(lo), abs(hi))
  return lo - slack <= value <= hi + slack


# The x86-64 instruction set XLA:CPU compiles reference runs for. Its code
# follows the machine's instruction set (AVX, AVX2, AVX-512), the rounding
# of the sums with it, and a trajectory of training with the rounding; so
# references refreshed on one CPU failed their check on an AVX2-only one
# with the same versions (BUILD_NOTES 2026-12-02). Pinned, x86-64 machines
# with AVX2 or more compile for the same instructions (shown here only on
# the AVX2 machine: the pin, not the machine, decides the numbers). Other
# machines (ARM) fall back on the bands.
CPU_ISA = "AVX2"


def pin_cpu_isa() -> None:
  """Adds `--xla_cpu_max_isa=CPU_ISA` to `XLA_FLAGS` (before JAX starts its
  backends, which read them once); a user's own setting wins."""
  flags = os.environ.get("XLA_FLAGS", "")
  if "--xla_cpu_max_isa" not in flags:
    os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_max_isa={CPU_ISA}".strip()


def environment() -> dict[str, str]:
  """The versions and machine that a reference's numbers depend on."""
  import flax  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jaxlib  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  return {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
          "flax": flax.__version__, "optax": optax.__version__,
          "python": platform.python_version(), "platform": device.platform,
          "device_kind": device.device_kind, "machine": platform.machine(),
          "xla_flags": os.environ.get("XLA_FLAGS", "")}


def environment_notes(reference: dict[str, Any],
                      current: dict[str, str]) -> list[str]:
  """One line per environment entry that differs from the reference's
  (a reason for drift, not a failure)."""
  old = reference.get("environment", {})
  return [f"{reference['name']}: {name} is {current.get(name)} here, "
          f"{old.get(name)} in the reference"
          for name in sorted(set(old) | set(current))
          if old.get(name) != current.get(name)]


def settings_fields() -> tuple[str, ...]:
  """The `SweepSettings` fields a reference may set."""
  from benchmark.sweeps import sweep  # pylint: disable=g-import-not-at-top
  return tuple(f.name for f in dataclasses.fields(sweep.SweepSettings)
               if f.name not in LOCAL_FIELDS)


def sweep_settings(settings: dict[str, Any], workdir: str):
  """A reference's settings as `SweepSettings` in `workdir`.

  Raises:
    InputError: an unknown field or a missing task.
  """
  from benchmark.sweeps import sweep  # pylint: disable=g-import-not-at-top
  known = settings_fields()
  unknown = sorted(set(settings) - set(known))
  if unknown:
    raise InputError(f"unknown setting(s) {', '.join(unknown)}; known: "
                     f"{', '.join(known)}")
  if not isinstance(settings.get("task"), str):
    raise InputError("settings need a task name")
  values = {name: tuple(value) if name in TUPLE_FIELDS and isinstance(
      value, list) else value for name, value in settings.items()}
  return sweep.SweepSettings(**values, workdir=workdir)


def settings_json(settings) -> dict[str, Any]:
  """Every reference field of `SweepSettings`, as it reads back from JSON."""
  values = dataclasses.asdict(settings)
  return storage.as_json({name: values[name] for name in settings_fields()})


def build_reference(name: str, settings: dict[str, Any],
                    records: Sequence[dict[str, Any]],
                    env: dict[str, str]) -> dict[str, Any]:
  """A reference file's content from one run of its sweep."""
  metrics = collect_metrics(records)
  return {
      "schema": SCHEMA_ID,
      "name": name,
      "settings": settings,
      "environment": env,
      "band": {"method": "two-sample bootstrap of the IQM over seeds "
                         "and originals (t0), "
                         "Bonferroni over the configuration's metrics, "
                         "widened to one evaluation step",
               "reps": BAND_REPS, "seed": BAND_SEED,
               "family_level": FAMILY_LEVEL,
               "percentiles": list(band_percentiles(len(metrics)))},
      "metrics": list(metrics.values()),
  }


def validate_reference(data: Any, path: str, name: str,
                       need_metrics: bool) -> dict[str, Any]:
  """Checks a reference file's shape; returns it.

  Raises:
    InputError: not an object, a name other than the file's, no settings,
      or (with `need_metrics`) malformed or missing metrics.
  """
  def fail(what):
    raise InputError(f"reference {path} is malformed: {what}")

  if not isinstance(data, dict):
    fail("not a JSON object")
  if data.get("name") != name:
    fail(f"its name {data.get('name')!r} is not the file's, {name!r}")
  if not isinstance(data.get("settings"), dict):
    fail("no settings object")
  if not need_metrics:
    return data
  metrics = data.get("metrics")
  if not isinstance(metrics, list) or not metrics:
    fail("no metrics (write them with --refresh)")
  for i, metric in enumerate(metrics):
    if not (isinstance(metric, dict) and isinstance(metric.get("split"), str)
            and isinstance(metric.get("procedure"), str)
            and _is_number(metric.get("alpha"))
            and _is_number(metric.get("iqm"))
            and isinstance(metric.get("band"), list)
            and len(metric["band"]) == 2
            and all(_is_number(b) for b in metric["band"])):
      fail(f"metric {i} needs split, procedure, alpha, iqm and band [lo, hi]")
  return data


def _is_number(value: Any) -> bool:
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value))


def config_name(path: str) -> str:
  return os.path.splitext(os.path.basename(path))[0]


def reference_paths(reference_dir: str,
                    configs: Sequence[str] | None) -> list[str]:
  """The reference files to use: the named ones, else all of the folder.

  Raises:
    InputError: an unknown name, or no reference file at all.
  """
  found = sorted(glob.glob(os.path.join(reference_dir, "*.json")))
  known = [config_name(p) for p in found]
  if not configs:
    if not found:
      raise InputError(f"no reference file (*.json) in {reference_dir}")
    return found
  for name in configs:
    if not set(name) <= NAME_CHARACTERS or name not in known:
      raise InputError(f"unknown configuration {name!r} in {reference_dir}; "
                       f"known: {', '.join(known) or 'none'}")
  return [os.path.join(reference_dir, f"{name}.json")
          for name in dict.fromkeys(configs)]


def load_references(paths: Sequence[str],
                    need_metrics: bool) -> list[dict[str, Any]]:
  """Reads and validates every file before anything runs."""
  references = []
  for path in paths:
    data = validate_reference(storage.read_json(path), path,
                              config_name(path), need_metrics)
    try:
      sweep_settings(data["settings"], workdir="")  # Validates the fields.
    except InputError as e:
      raise InputError(f"reference {path} is malformed: {e}") from e
    references.append(data)
  return references


def run_config(reference: dict[str, Any],
               log: Callable[[str], None]) -> list[dict[str, Any]]:
  """Runs a reference's sweep in a fresh temporary workdir; its records."""
  from benchmark.sweeps import sweep  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory(prefix="mcbench-regression-") as workdir:
    settings = sweep_settings(reference["settings"], workdir)
    result = sweep.run_sweep(settings, log=log)
    return [records_lib.read(path)
            for path in result["records"] + result["skipped"]]


def _log_for(name: str) -> Callable[[str], None]:
  return lambda line: print(f"[{name}] {line}", file=sys.stderr, flush=True)


def refresh(reference_dir: str, configs: Sequence[str] | None) -> list[str]:
  """Reruns each configuration and rewrites its file; the paths written."""
  paths = reference_paths(reference_dir, configs)
  references = load_references(paths, need_metrics=False)
  env = environment()
  for path, reference in zip(paths, references):
    records = run_config(reference, _log_for(reference["name"]))
    settings = settings_json(sweep_settings(reference["settings"], ""))
    data = storage.as_json(build_reference(reference["name"], settings,
                                           records, env))
    what = "unchanged" if data == reference else "rewritten"
    storage.write_json_atomic(path, data)
    print(f"{path}: {len(data['metrics'])} metrics, {what}", flush=True)
  return paths


def check(reference_dir: str,
          configs: Sequence[str] | None) -> list[Difference]:
  """Reruns each configuration and compares; prints the diff and summary."""
  paths = reference_paths(reference_dir, configs)
  references = load_references(paths, need_metrics=True)
  env = environment()
  differences, total = [], 0
  for reference in references:
    for note in environment_notes(reference, env):
      print(f"note: {note}", flush=True)
    found = compare(reference, run_config(reference,
                                          _log_for(reference["name"])))
    for difference in found:
      print(difference.line, flush=True)
    differences += found
    total += len(reference["metrics"])
  print(summary_line(differences, total, len(references)), flush=True)
  return differences


def summary_line(differences: Sequence[Difference], total: int,
                 num_configs: int) -> str:
  """The last line of a check."""
  if not differences:
    return (f"mcbench regression: all {total} metrics of {num_configs} "
            "configuration(s) inside their bands")
  out = sum(d.got is not None and d.band is not None for d in differences)
  missing = len(differences) - out
  configs = len({d.config for d in differences})
  return (f"mcbench regression: FAILED: {out} of {total} metrics out of band"
          f", {missing} missing on one side, in {configs} of {num_configs} "
          "configuration(s)")
