"""Checks that a task's recipe is tuned (protocol v2, PROTOCOL.md "Recipes must
be tuned"): hardness is relative to the recipe's cost from scratch, so a
recipe that another learning rate beats by far would make every split look
easy.

    python -m benchmark.tune --task=digits/mlp --workdir=results \\
      [--num_originals=3] [--seeds=N] [--factors=0.25,0.5,2,4]
    python -m benchmark.tune --pool='results/tuning/cartpole-ppo-candidates/*'

Trains `--seeds` runs from scratch (default: as many as originals) with the
recipe's learning-rate schedule scaled by each factor (the peak rate times
the factor, the schedule's shape kept), and compares, at the task's headline
alpha, the median over seeds of their first reach `t(alpha)` (normalised by
the median `P*` of the task's originals) with the recipe's own `t0(alpha)`
(the median over the `--num_originals` originals: as many as the task's
sweeps publish). The recipe passes when no factor's median is below
`SHARE_OF_T0` of `t0`; a factor whose median seed never reaches alpha
passes. The task's originals are trained or reused in WORKDIR as by
`benchmark.train`.

`--pool` reads several such results (of one task's candidate recipes, say)
and pools every run by its absolute peak rate (`pool_by_rate`): the median
first reach per rate with a bootstrap interval, and which rate beats which
by the same share. It trains and writes nothing.

Writes WORKDIR/tuning/<task>.json (deterministic content, provenance under
its own key) and prints a table with the verdict. A recipe that fails is a
finding, not an error: the command exits 0 either way. Bad input (unknown
task, a factor <= 0, fewer than one seed or original) is one
`mcbench: error:` line, exit status 2, and nothing written.
"""

from __future__ import annotations

import dataclasses
import glob
import math
import os
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from benchmark.engine import batching, prng, scratch, streaming
from benchmark.science import hardness, statistics
from benchmark.sweeps import originals as originals_lib
from benchmark.sweeps import storage, sweep
from contract import spec
from tasks import registry

SCHEMA = "mcbench.tuning/1"
DEFAULT_FACTORS = (0.25, 0.5, 2.0, 4.0)
# As many seeds per factor as originals: both sides of the comparison are
# medians of equally many runs, so a task whose first reach is noisy
# (CartPole's t(0.9) spans 6,144 to 117,248 frames) publishes more originals
# and is judged with as many seeds.
DEFAULT_NUM_ORIGINALS = 3
# The alphas a sweep ranks at; the headline is the highest one the task's
# evaluation noise allows (`sweep.protocol_fields`), as in its records.
ALPHAS = (0.5, 0.9, 0.99)
# Another peak rate may not reach the headline alpha in less than this share
# of the recipe's t0.
SHARE_OF_T0 = 2.0 / 3.0


def parse_factors(items: Sequence[str]) -> tuple[float, ...]:
  """The learning-rate factors, sorted and de-duplicated.

  Raises:
    spec.InputError: none, one that is not a number, or one <= 0.
  """
  if not items:
    raise spec.InputError("no learning-rate factor given (--factors)")
  factors = []
  for item in items:
    try:
      factor = float(item)
    except ValueError:
      raise spec.InputError(
          f"learning-rate factor {item!r} is not a number") from None
    if not (math.isfinite(factor) and factor > 0):
      raise spec.InputError(
          f"learning-rate factors must be positive and finite, got {item}")
    factors.append(factor)
  return tuple(sorted(set(factors)))


def check_seeds(seeds: int) -> None:
  """Raises `spec.InputError` for fewer than one seed per factor."""
  if seeds < 1:
    raise spec.InputError(f"need at least one seed per factor, got {seeds}")


def scaled_task(task: spec.Task, factor: float) -> spec.Task:
  """The task with its recipe's learning rate scaled by `factor`: the
  schedule's shape (warm-up, decay) kept, its peak times `factor`."""
  recipe = task.recipe
  scaled = dataclasses.replace(
      recipe, schedule=lambda count: factor * recipe.schedule(count),
      peak_learning_rate=factor * recipe.peak_learning_rate)
  return dataclasses.replace(task, recipe=scaled)


def tune_keys(task_name: str, factor: float, seeds: int) -> jax.Array:
  """The from-scratch runs' keys of one factor, one per seed."""
  return jnp.stack([prng.derive_key(task_name, "tune", factor, seed)
                    for seed in range(seeds)])


def train_scaled(task: spec.Task, factor: float, seeds: int,
                 vmap_size: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
  """`(performance [seeds, evals], diverged [seeds])` of `seeds` runs from
  scratch at the recipe's learning rate times `factor`."""
  scaled = scaled_task(task, factor)
  keys = tune_keys(task.name, factor, seeds)
  train = (streaming.make_streamed_scratch_training(scaled) if task.streamed
           else scratch.make_scratch_training(
               scaled, batching.resolve_vmap_size(task, vmap_size)))
  curves, _ = train(keys)
  return (np.asarray(jax.device_get(curves.performance), np.float64),
          np.asarray(jax.device_get(curves.diverged), bool))


def _median(values: Sequence[float | None]) -> float | None:
  """The median with censored values (None) above every reached one; None
  where the median seed never reached."""
  median = float(np.median([math.inf if v is None else v for v in values]))
  return median if math.isfinite(median) else None


def factor_result(costs: Sequence[float], performance: np.ndarray,
                  diverged: np.ndarray, p0: float, p_star: float,
                  alpha: float, t0: float) -> dict[str, Any]:
  """One factor's row: per seed `t(alpha)` (None: never reached), their
  median, its ratio to `t0`, and whether the factor passes the rule."""
  t = [hardness.first_reach(costs, hardness.normalise(curve, p0, p_star),
                            alpha) for curve in performance]
  median = _median(t)
  passes = median is None or median >= SHARE_OF_T0 * t0
  return {
      "t": t,
      "reached": sum(v is not None for v in t),
      "median": median,
      "ratio": (None if median is None or t0 <= 0 else median / t0),
      "diverged": [bool(d) for d in diverged],
      "final_performance": [float(v) if np.isfinite(v) else None
                            for v in performance[:, -1]],
      "passes": bool(passes),
  }


def rule_text(factors: Sequence[float], seeds: int, alpha: float) -> str:
  return (f"from-scratch runs at the recipe's peak learning rate x "
          f"{{{', '.join(f'{f:g}' for f in factors)}}} ({seeds} seed(s) "
          f"each, the schedule's shape kept) must not reach alpha {alpha:g} "
          f"(normalised by the originals' median P*) in less than "
          f"{SHARE_OF_T0:.4g} of the recipe's t0 (the originals' median "
          "first reach), judged by the median over seeds; a factor whose "
          "median seed never reaches alpha passes")


def tuning_path(workdir: str, task_name: str) -> str:
  return os.path.join(workdir, "tuning",
                      originals_lib.task_slug(task_name) + ".json")


def check_recipe(task_name: str, workdir: str,
                 factors: Sequence[float] = DEFAULT_FACTORS,
                 seeds: int | None = None, *,
                 num_originals: int = DEFAULT_NUM_ORIGINALS,
                 data_dir: str | None = None,
                 implementation: dict | None = None,
                 vmap_size: int | None = None,
                 flags: dict | None = None,
                 log: Callable[[str], None] = print
                 ) -> tuple[dict[str, Any], str]:
  """Runs the tuning check of a task's recipe and writes its result.

  Args:
    seeds: from-scratch runs per factor; default: `num_originals`.
    num_originals: the task's originals that give `t0` (seeds
      0..num_originals-1, trained or reused in `workdir`).

  Returns:
    `(result, path)`: the result as written to `path`
    (WORKDIR/tuning/<task>.json).

  Raises:
    spec.InputError: bad input (before anything is trained or written), or
      originals whose evaluation noise leaves no alpha to rank at.
  """
  factors = parse_factors([str(f) for f in factors])
  if num_originals < 1:
    raise spec.InputError(f"need at least one original, got {num_originals}")
  seeds = num_originals if seeds is None else seeds
  check_seeds(seeds)
  task = registry.get_task(task_name, data_dir=data_dir,
                           implementation=implementation)
  batching.over_runs(batching.resolve_vmap_size(task, vmap_size))
  started = time.time()
  originals = originals_lib.ensure_originals(
      task, workdir, num_originals, log, flags, vmap_size)
  protocol_info = sweep.protocol_fields(task, originals, ALPHAS)
  alpha = protocol_info["headline_alpha"]
  if alpha is None:
    raise spec.InputError(
        f"{task.name}: no alpha of {', '.join(f'{a:g}' for a in ALPHAS)} has "
        "a margin of two evaluation standard errors, so the task has no "
        "headline alpha to check its recipe at")
  reference = sweep.reference(task, originals, [alpha])
  costs = reference["eval_costs"]
  t0 = reference["t0"][0]
  p_star = float(np.median([o.p_star for o in originals]))
  rows = []
  for factor in factors:
    log(f"training {seeds} run(s) of {task.name} from scratch at peak "
        f"learning rate x {factor:g} ...")
    performance, diverged = train_scaled(task, factor, seeds, vmap_size)
    rows.append({"factor": factor,
                 "peak_learning_rate": factor * task.recipe.peak_learning_rate,
                 **factor_result(costs, performance, diverged, task.p0,
                                 p_star, alpha, t0)})
  failing = [row["factor"] for row in rows if not row["passes"]]
  result = {
      "schema": SCHEMA,
      "task": task.name,
      "task_config": storage.as_json(task.config),
      "rule": rule_text(factors, seeds, alpha),
      "alpha": alpha,
      "headline_rule": protocol_info["headline_rule"],
      "evaluation_standard_error": protocol_info["evaluation_standard_error"],
      "originals_check": protocol_info["originals_check"],
      "cost_unit": task.recipe.cost_unit,
      "budget": costs[-1],
      "peak_learning_rate": task.recipe.peak_learning_rate,
      "p0": task.p0,
      "p_star": p_star,
      "originals": [{"seed": o.seed, "content_sha256": o.content_hash,
                     "p_star": o.p_star, "t": t[0]}
                    for o, t in zip(originals, reference["originals_t"])],
      "t0": t0,
      "threshold": SHARE_OF_T0 * t0,
      "seeds": seeds,
      "factors": rows,
      "failing_factors": failing,
      "verdict": "fail" if failing else "pass",
      "provenance": storage.provenance(wall_time_s=time.time() - started,
                                       flags=flags or {}),
  }
  path = tuning_path(workdir, task.name)
  storage.write_json_atomic(path, result)
  return result, path


def _cost(value: float | None) -> str:
  return "-" if value is None else f"{value:g}"


def table(result: dict[str, Any]) -> list[str]:
  """The result as a one-screen table, its verdict last."""
  unit = result["cost_unit"]
  originals_t = ", ".join(_cost(o["t"]) for o in result["originals"])
  lines = [
      f"recipe tuning check: {result['task']} (peak learning rate "
      f"{result['peak_learning_rate']:g}, {result['seeds']} seed(s) per "
      "factor)",
      f"headline alpha {result['alpha']:g}; t0 = {result['t0']:g} {unit} "
      f"(originals: {originals_t}); a factor passes unless its median t < "
      f"{SHARE_OF_T0:.3g} t0 = {result['threshold']:.4g} {unit}",
      f"{'factor':>7}  {'peak rate':>10}  {'t per seed (' + unit + ')':<28}"
      f"{'median':>8}  {'t/t0':>6}  {'final P':>8}  check",
  ]
  for row in result["factors"]:
    seeds = ", ".join(_cost(t) for t in row["t"])
    ratio = "-" if row["ratio"] is None else f"{row['ratio']:.3f}"
    median = "never" if row["median"] is None else f"{row['median']:g}"
    final = [v for v in row["final_performance"] if v is not None]
    final = f"{np.median(final):.4f}" if final else "-"
    lines.append(
        f"{row['factor']:>7g}  {row['peak_learning_rate']:>10.4g}  "
        f"{seeds:<28}{median:>8}  {ratio:>6}  {final:>8}  "
        f"{'pass' if row['passes'] else 'FAIL'}")
  lines.append(f"(-: never reached alpha within the budget of "
               f"{result['budget']:g} {unit}; final P: median over seeds "
               f"at the budget, originals' median P* {result['p_star']:.4f})")
  if result["failing_factors"]:
    lines.append(
        "verdict: FAIL: peak learning rate x "
        f"{', '.join(f'{f:g}' for f in result['failing_factors'])} reaches "
        f"alpha {result['alpha']:g} in less than {SHARE_OF_T0:.3g} of the "
        "recipe's t0; retune the recipe and retrain its originals")
  else:
    lines.append("verdict: pass: no factor reaches alpha "
                 f"{result['alpha']:g} in less than {SHARE_OF_T0:.3g} of the "
                 "recipe's t0")
  return lines


def pool_paths(items: Sequence[str]) -> list[str]:
  """`--pool`'s items as files: each a path or a glob pattern (quoted on
  the command line), in sorted order.

  Raises:
    spec.InputError: an item that names no file.
  """
  paths = []
  for item in items:
    matches = sorted(glob.glob(item))
    if not matches:
      raise spec.InputError(f"--pool: no file matches {item}")
    paths.extend(matches)
  return paths


def pool_by_rate(results: Sequence[dict[str, Any]], reps: int = 4000
                 ) -> list[dict[str, Any]]:
  """Every run of several tuning results (originals and factors alike)
  pooled by its absolute peak learning rate: where single checks of a few
  seeds cannot tell rates apart (CartPole's first reach spans 20x), all the
  runs made at one rate by checks of different recipes can.

  Returns:
    Rows sorted by rate: `{"peak_learning_rate", "runs", "median",
    "interval" (95% bootstrap of the median, `reps` resamples, seed 0),
    "beaten_by"}`: the rate whose interval's upper end is lowest among
    those below `SHARE_OF_T0` of this rate's median (beaten beyond the
    noise of the pooled runs), None if none is. Censored runs count as
    later than every reached one; a median that never reached is None.

  Raises:
    spec.InputError: results of other alphas, budgets or cost units.
  """
  if not results:
    raise spec.InputError("no tuning result to pool")
  first = results[0]
  runs: dict[float, list[float]] = {}
  for result in results:
    for key in ("alpha", "budget", "cost_unit"):
      if result[key] != first[key]:
        raise spec.InputError(
            f"cannot pool tuning results of different {key}s: "
            f"{first[key]} ({first['task']}) and {result[key]} "
            f"({result['task']})")
    rate = float(f"{result['peak_learning_rate']:.6g}")
    runs.setdefault(rate, []).extend(o["t"] for o in result["originals"])
    for row in result["factors"]:
      runs.setdefault(float(f"{row['peak_learning_rate']:.6g}"),
                      []).extend(row["t"])
  rows = []
  for rate in sorted(runs):
    t = [math.inf if v is None else v for v in runs[rate]]
    # No interpolation: a bound may be a censored (infinite) median.
    low, high = statistics.stratified_interval(
        [t], lambda strata: np.median(strata[0], axis=1), reps=reps, seed=0,
        method="inverted_cdf")
    rows.append({"peak_learning_rate": rate, "runs": len(t),
                 "median": _median(runs[rate]),
                 "interval": [None if not math.isfinite(v) else float(v)
                              for v in (low, high)]})
  for row in rows:
    own = math.inf if row["median"] is None else row["median"]
    faster = [r for r in rows if r["interval"][1] is not None
              and r["interval"][1] < SHARE_OF_T0 * own]
    row["beaten_by"] = (min(faster, key=lambda r: r["interval"][1])
                        ["peak_learning_rate"] if faster else None)
  return rows


def pooled_table(results: Sequence[dict[str, Any]],
                 rows: Sequence[dict[str, Any]]) -> list[str]:
  """`pool_by_rate`'s rows as a one-screen table."""
  unit = results[0]["cost_unit"]
  lines = [f"runs from scratch pooled by peak learning rate ("
           f"{len(results)} tuning result(s), alpha {results[0]['alpha']:g};"
           f" a rate is beaten when another's 95% interval lies below "
           f"{SHARE_OF_T0:.3g} of its median)",
           f"{'peak rate':>10}  {'runs':>5}  {'median t (' + unit + ')':>18}"
           f"  {'95% interval':>20}  beaten by"]
  for row in rows:
    low, high = (_cost(v) for v in row["interval"])
    median = "never" if row["median"] is None else f"{row['median']:g}"
    beaten = ("-" if row["beaten_by"] is None
              else f"{row['beaten_by']:g}")
    lines.append(f"{row['peak_learning_rate']:>10.3g}  {row['runs']:>5}  "
                 f"{median:>18}  {'[' + low + ', ' + high + ']':>20}  "
                 f"{beaten}")
  return lines
