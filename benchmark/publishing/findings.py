"""The paper's two findings, computed from records alone.

PROTOCOL.md names the two findings of Martic et al. (2018) that the benchmark
must be able to test on its own tasks:

1. completion is harder in reinforcement learning than in supervised
   learning, because the agent's trajectories are not available;
2. hardness depends less on how many parameters are withheld than on their
   type and location.

    python -m benchmark.findings                  # writes results/FINDINGS.md
    python -m benchmark.findings --check          # fails if it is stale (CI)
    python -m benchmark.findings --workdir=DIR    # another results folder

reads every record under `WORKDIR/records/*/` (records of protocol v1 are
counted and left out, never mixed with v2) and writes `WORKDIR/FINDINGS.md`
and one figure per finding, `WORKDIR/findings/finding1.png` and
`finding2.png`, deterministically: the same records give the same bytes.
Bad input (no records folder, a record that cannot be read or was edited)
is one line, exit 2, and nothing written. A finding that the records cannot
answer (no RL task yet, too few splits) is one line in the file, not an
error.

Which records. Per task, its *sweep*: the (originals, adversary variant)
without trajectory access that has the most records (ties: the variant's
label), and that sweep's trajectory-access variants (the same label with
`-traj<N>`). Splits that share a mask are one split (`split.mask_sha256`).
A split enters only once every procedure its sweep measured is measured
for it: security is the minimum over them, so a split short of one (a sweep
in progress) would overstate it; the file says which were left out, and
which sweeps lack a procedure of the protocol altogether (their security,
over fewer procedures, is an upper bound on the protocol's).

Security per seed. Per split and procedure, the record's per-seed hardness
at alpha; a censored seed counts at its cap `B / t0(alpha)` and is flagged.
Seeds of one split share their keys across procedures (seed i starts every
procedure from the same re-initialisation), so they are paired by index and
a seed's security is the minimum over procedures; it is a lower bound
(flagged) when every procedure attaining it is censored. A split's security
is the IQM over its seeds of these values. This is the per-seed minimum, not
the leaderboard's minimum over procedures of the IQM; both are the
adversary's best case, chosen in hindsight.

Alpha. Each task ranks at its headline alpha (`protocol.headline_alpha`).
Finding 1 compares tasks at one alpha: the lowest headline alpha of the
tasks that enter it, which every one of them can rank at (a lower alpha has
a wider margin); it also shows every alpha all of them measured. Finding 2
uses each task's own headline alpha (ranks are within a task).

Finding 1 (statistics). A task is RL when its costs are frames, supervised
when they are updates. Roles (`split.roles`) measured on both kinds are
*matched*. Per role, the mean over RL tasks of the task's IQM security minus
the same mean over supervised tasks; the headline difference is the mean of
these over matched roles: tasks weigh the same within a role, and roles the
same (so two kinds are compared on the same roles, whatever other roles a
task has). Positive: RL is harder. The 95% interval is a percentile
stratified bootstrap (rliable's convention, numpy, `REPS` resamples, fixed
seed): seeds resampled within each (task, role) cell. The share of the gap
that trajectory access closes is `(RL without - RL with) / (RL without -
supervised)` over the RL (task, role) cells measured with and without
trajectories, each over the procedures both measured, with the same
bootstrap; "not measured" where no such record exists.

Finding 2 (statistics). Per task at its headline alpha, over its splits but
the whole model and the random scalar shares (which touch every layer, so
depth says nothing of them; `benchmark.analysis` shows them): share
withheld, depth and dominant type as `benchmark.analysis` defines them.
Spearman's rho of security with share and with depth (p-values exact up to
8 splits), and an ordinary least-squares regression of rank(security) on
rank(share), rank(depth) and dummies of the dominant type. Each factor's
share of the explained variance is its Shapley share of R^2 (the mean gain
in R^2 from adding it over every order of entry: the shares add up to R^2
however correlated share and depth are); its partial R^2 is the variance it
explains of what the other two leave. Pooled: ranks within each task scaled
by the task's size and centred within it (type dummies too), weighted by
1 / splits so that tasks weigh the same; pooled rho is the mean of the tasks'
rhos. Intervals: percentile bootstrap, splits resampled within each task,
then seeds within each split, so they cover which splits were measured as
well as seed noise.
"""

from __future__ import annotations

import collections
import glob
import io
import itertools
import math
import os
import re
import warnings
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
from scipy import stats

from benchmark.publishing import analysis
from benchmark.publishing import board as board_lib
from benchmark.science import procedures as procedures_lib
from benchmark.science import splitter, statistics
from benchmark.sweeps import records as records_lib
from benchmark.sweeps import storage
from contract.spec import InputError

REPS = 2000
CONFIDENCE = 0.95
MARKDOWN = "FINDINGS.md"
FIGURES = ("findings/finding1.png", "findings/finding2.png")
KINDS = ("RL", "supervised")
FACTORS = ("share", "depth", "type")
FACTOR_NAMES = {"share": "share withheld", "depth": "depth",
                "type": "dominant type"}
_TRAJECTORY = re.compile(r"-traj\d+")


class Sweep(NamedTuple):
  """The records of one task that the findings read."""

  task: str
  kind: str  # `RL` or `supervised`.
  variant: str
  originals: str
  headline_alpha: float | None
  records: tuple[dict[str, Any], ...]  # Without trajectory access.
  # (variant, records) of the trajectory-access variants of this sweep.
  trajectory: tuple[tuple[str, tuple[dict[str, Any], ...]], ...]


class Security(NamedTuple):
  """A split's per-seed security at one alpha."""

  values: np.ndarray  # Per seed: min over procedures, censored at the cap.
  censored: np.ndarray  # Per seed: the minimum is a lower bound.
  procedures: tuple[str, ...]
  cap: float


class Estimate(NamedTuple):
  value: float  # NaN: undefined.
  lo: float
  hi: float


class Cell(NamedTuple):
  """One (task, role) of finding 1."""

  task: str
  kind: str
  role: str
  split: str
  security: Security
  estimate: Estimate  # IQM over seeds and its interval.


# Reading.


def kind_of(record: Mapping[str, Any]) -> str:
  """`RL` when the record counts frames, `supervised` when updates."""
  return "RL" if record["budget"]["cost_unit"] == "frames" else "supervised"


def trajectory_episodes(record: Mapping[str, Any]) -> int:
  return int(record["adversary"].get("trajectory_episodes") or 0)


def read_records(workdir: str) -> tuple[list[dict[str, Any]], int]:
  """Every protocol v2 record under `workdir/records/*/`, and how many of
  protocol v1 were left out.

  Raises:
    InputError: no records folder, or a record that cannot be read, does
      not match its schema or was edited.
  """
  root = os.path.join(workdir, "records")
  if not os.path.isdir(root):
    raise InputError(f"no records folder {root}")
  current, older = [], 0
  for directory in sorted(glob.glob(os.path.join(root, "*"))):
    if not os.path.isdir(directory):
      continue
    good, bad = records_lib.read_all(directory)
    if bad:
      more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
      raise InputError(bad[0] + more)
    for record in good:
      if records_lib.is_current(record):
        current.append(record)
      else:
        older += 1
  return current, older


def select_sweeps(records: Sequence[dict[str, Any]]
                  ) -> tuple[list[Sweep], list[str]]:
  """Per task its sweep (module docstring), and one line per left-out group.

  Raises:
    InputError: records of one sweep that disagree on its headline alpha.
  """
  by_task = collections.defaultdict(list)
  for record in records:
    by_task[record["task"]].append(record)
  sweeps, notes = [], []
  for task in sorted(by_task):
    groups = board_lib.sweep_groups(by_task[task])
    plain = {k: g for k, g in groups.items()
             if not any(trajectory_episodes(r) for r in g)}
    if not plain:
      notes.append(f"{task}: only records with trajectory access, no sweep "
                   "without it to compare them with: left out.")
      continue
    key = min(plain, key=lambda k: (-len(plain[k]), k))
    _, variant, originals = key
    trajectory = tuple(
        (k[1], tuple(g)) for k, g in sorted(groups.items())
        if k[2] == originals and k not in plain and
        _TRAJECTORY.sub("", k[1]) == variant)
    used = {key} | {(task, v, originals) for v, _ in trajectory}
    for k in sorted(set(groups) - used):
      notes.append(f"{task}: variant `{k[1]}` with originals `{k[2][:12]}` "
                   f"({len(groups[k])} records) left out; the findings use "
                   f"`{variant}` with originals `{originals[:12]}`, the "
                   "sweep without trajectory access with the most records.")
    complete, short = complete_splits(plain[key])
    if short:
      notes.append(f"{task}: {short} split(s) without every procedure "
                   "its sweep measured left out (a split's security is the "
                   "minimum over them).")
    trajectory = tuple((v, complete_splits(g)[0]) for v, g in trajectory)
    trajectory = tuple((v, g) for v, g in trajectory if g)
    plain[key] = complete
    headlines = {r["protocol"]["headline_alpha"] for r in plain[key]}
    if len(headlines) > 1:
      raise InputError(f"the records of {task} (variant {variant}) disagree "
                       "on the headline alpha: " +
                       ", ".join(str(h) for h in sorted(
                           headlines, key=lambda h: (h is None, h or 0))))
    sweeps.append(Sweep(task, kind_of(plain[key][0]), variant, originals,
                        headlines.pop(), tuple(plain[key]), trajectory))
  return sweeps, notes


def complete_splits(records: Sequence[dict[str, Any]]
                    ) -> tuple[tuple[dict[str, Any], ...], int]:
  """The records of the splits (by mask) measured under every procedure
  that any split of `records` was, and how many splits are not."""
  found = collections.defaultdict(set)
  for record in records:
    found[record["split"]["mask_sha256"]].add(record["procedure"]["name"])
  every = set().union(*found.values()) if found else set()
  full = {mask for mask, names in found.items() if names == every}
  return (tuple(r for r in records if r["split"]["mask_sha256"] in full),
          len(found) - len(full))


def by_split(records: Sequence[dict[str, Any]]
             ) -> dict[str, dict[str, dict[str, Any]]]:
  """Split name -> procedure -> record, one split per mask.

  Splits with the same mask have the same keys and so the same numbers
  (protocol v2): they are one split, under its first name (`role.<role>`
  names last, so that a family's own name shows), with the procedures of
  every name.
  """
  names = collections.defaultdict(set)
  for record in records:
    names[record["split"]["mask_sha256"]].add(record["split"]["name"])
  order = {mask: sorted(found, key=lambda n: (
      n.startswith(splitter.ROLE_PREFIX), n)) for mask, found in names.items()}
  result = collections.defaultdict(dict)
  for record in sorted(records, key=lambda r: order[
      r["split"]["mask_sha256"]].index(r["split"]["name"])):
    mask = record["split"]["mask_sha256"]
    result[order[mask][0]].setdefault(record["procedure"]["name"], record)
  return dict(sorted(result.items()))


def roles_played(records: Sequence[dict[str, Any]]) -> set[str]:
  return {role for r in records for role in r["split"]["roles"]}


def seed_security(by_procedure: Mapping[str, dict[str, Any]], alpha: float,
                  procedures: Sequence[str] | None = None
                  ) -> Security | None:
  """The per-seed security of one split (module docstring) over
  `procedures` (default: every one it has); None where a procedure lacks
  `alpha` or its hardness is undefined there (t0 = 0)."""
  names = sorted(by_procedure if procedures is None else procedures)
  rows = [board_lib.hardness_row(by_procedure[name], alpha) for name in names]
  if not rows or any(row is None or None in row["hardness"] for row in rows):
    return None
  seeds = min(len(row["hardness"]) for row in rows)  # Paired by index.
  values = np.array([row["hardness"][:seeds] for row in rows], np.float64)
  censored = np.array([row["censored"][:seeds] for row in rows], bool)
  lowest = values.min(axis=0)
  # A bound equal to an exact value does not make the minimum a bound.
  bound = np.all(censored | (values > lowest), axis=0)
  return Security(lowest, bound, tuple(names), float(rows[0]["cap"]))


# Bootstrap.


def _seed_resamples(values: np.ndarray, reps: int,
                    rng: np.random.Generator) -> np.ndarray:
  """`reps` IQMs of `values` resampled with replacement."""
  index = rng.integers(0, len(values), size=(reps, len(values)))
  return statistics.iqm(values[index], axis=-1)


def _estimate(point: float, samples: np.ndarray) -> Estimate:
  """The point with the percentile interval of its finite resamples."""
  samples = np.asarray(samples, np.float64)
  samples = samples[np.isfinite(samples)]
  if point != point or not samples.size:
    return Estimate(float(point), math.nan, math.nan)
  tail = (1.0 - CONFIDENCE) / 2 * 100
  lo, hi = np.percentile(samples, [tail, 100 - tail])
  return Estimate(float(point), float(lo), float(hi))


# Finding 1.


def role_cells(records: Sequence[dict[str, Any]], alpha: float,
               procedures: Sequence[str] | None = None
               ) -> dict[str, tuple[str, Security | None]]:
  """Role -> (split playing it, its security at `alpha` over `procedures`,
  default every one it has) in the records of one task."""
  result = {}
  for name, by_procedure in by_split(records).items():
    for role in next(iter(by_procedure.values()))["split"]["roles"]:
      result[role] = (name, seed_security(by_procedure, alpha, procedures))
  return dict(sorted(result.items()))


def _role_order(role: str) -> tuple[int, str]:
  known = splitter.ROLES
  return (known.index(role) if role in known else len(known), role)


def _mean_difference(first: Sequence[np.ndarray],
                     second: Sequence[np.ndarray]) -> np.ndarray:
  return np.mean(first, axis=0) - np.mean(second, axis=0)


def _compare(cells: Sequence[Cell], roles: Sequence[str],
             point: Mapping[int, float], samples: Mapping[int, np.ndarray]):
  """Per role and pooled: RL mean - supervised mean, point and resamples.

  `point[i]` and `samples[i]` are cell i's IQM and its resamples.
  """
  rows = []
  for role in roles:
    rl = [i for i, c in enumerate(cells) if c.role == role and c.kind == "RL"]
    sup = [i for i, c in enumerate(cells)
           if c.role == role and c.kind == "supervised"]
    rows.append((role, rl, sup,
                 float(np.mean([point[i] for i in rl]) -
                       np.mean([point[i] for i in sup])),
                 _mean_difference([samples[i] for i in rl],
                                  [samples[i] for i in sup])))
  return rows


def _cells_at(sweeps: Sequence[Sweep], alpha: float, roles: Sequence[str]
              ) -> tuple[list[tuple[str, str, str, str, Security]], list[str]]:
  """(task, kind, role, split, security) at `alpha` for `roles`, and one
  line per (task, role) whose security is undefined there."""
  found, notes = [], []
  for sweep in sweeps:
    for role, (split, security) in role_cells(sweep.records, alpha).items():
      if role not in roles:
        continue
      if security is None:
        notes.append(f"{sweep.task} {role} ({split}): no security at alpha "
                     f"{alpha:g} (not measured there, or t0 = 0): left out.")
        continue
      found.append((sweep.task, sweep.kind, role, split, security))
  return found, notes


def _difference_at(sweeps: Sequence[Sweep], alpha: float,
                   roles: Sequence[str], reps: int):
  """Cells, per-role rows and the pooled difference at `alpha`."""
  found, notes = _cells_at(sweeps, alpha, roles)
  kinds = {role: {kind for _, kind, r, _, _ in found if r == role}
           for role in roles}
  matched = [r for r in roles if kinds[r] == set(KINDS)]
  found = [f for f in found if f[2] in matched]
  rng = np.random.default_rng(statistics.BOOTSTRAP_SEED)
  point, samples, cells = {}, {}, []
  for i, (task, kind, role, split, security) in enumerate(found):
    point[i] = float(statistics.iqm(security.values))
    samples[i] = _seed_resamples(security.values, reps, rng)
    cells.append(Cell(task, kind, role, split, security,
                      _estimate(point[i], samples[i])))
  if not matched:
    return cells, [], None, notes
  rows = _compare(cells, matched, point, samples)
  pooled = _estimate(float(np.mean([r[3] for r in rows])),
                     np.mean([r[4] for r in rows], axis=0))
  role_rows = [(role, len(rl), len(sup),
                float(np.mean([point[i] for i in rl])),
                float(np.mean([point[i] for i in sup])),
                _estimate(value, draws))
               for role, rl, sup, value, draws in rows]
  return cells, role_rows, pooled, notes


def finding1(sweeps: Sequence[Sweep], reps: int = REPS) -> dict[str, Any]:
  """RL vs supervised security over matched roles (module docstring).

  Returns:
    `{"reason"}` where it cannot be computed, else `{"alpha", "roles",
    "tasks", "cells", "roles_table", "difference", "by_alpha",
    "trajectory", "notes"}`.
  """
  ranked = [s for s in sweeps if s.headline_alpha is not None]
  kinds = {kind: [s for s in ranked if s.kind == kind] for kind in KINDS}
  missing = [kind for kind in KINDS if not kinds[kind]]
  if not sweeps:
    return {"reason": "no protocol v2 record."}
  if missing:
    have = " and ".join(f"{len(kinds[k])} {k}" for k in KINDS)
    return {"reason": "needs RL and supervised tasks with a headline alpha; "
                      f"the records have {have} task(s) with one."}
  roles_of = {s.task: roles_played(s.records) for s in ranked}
  by_kind = {kind: set().union(*(roles_of[s.task] for s in kinds[kind]))
             for kind in KINDS}
  roles = sorted(by_kind["RL"] & by_kind["supervised"], key=_role_order)
  if not roles:
    return {"reason": "no role (`split.roles`) was measured on both an RL "
                      "and a supervised task."}
  entering = [s for s in ranked if roles_of[s.task] & set(roles)]
  alpha = min(s.headline_alpha for s in entering)
  cells, role_rows, pooled, notes = _difference_at(entering, alpha, roles,
                                                   reps)
  notes = [f"{s.task}: no headline alpha (no alpha's margin is 2 standard "
           "errors of its evaluation): left out." for s in sweeps
           if s.headline_alpha is None] + notes
  if pooled is None:
    return {"reason": f"no role has a security on both kinds at alpha "
                      f"{alpha:g}.", "notes": notes}
  grids = [set(r["alphas"]) for s in entering for r in s.records]
  by_alpha = []
  for other in sorted(set.intersection(*grids)):
    _, _, value, _ = _difference_at(entering, other, roles, reps)
    beyond = [s.task for s in entering if other > s.headline_alpha]
    by_alpha.append((other, value, beyond))
  return {"alpha": alpha, "roles": [r[0] for r in role_rows], "reps": reps,
          "tasks": entering, "cells": cells, "roles_table": role_rows,
          "difference": pooled, "by_alpha": by_alpha,
          "trajectory": trajectory_share(entering, cells, alpha, reps),
          "notes": notes}


def trajectory_share(sweeps: Sequence[Sweep], cells: Sequence[Cell],
                     alpha: float, reps: int = REPS) -> dict[str, Any]:
  """The share of the RL - supervised gap that trajectory access closes.

  Over the RL (task, role) pairs measured with and without trajectory
  access, each over the procedures both have: per role the mean over pairs,
  then the mean over roles, of RL without (A) and with (B) access, and of
  the supervised cells of those roles (S); share = (A - B) / (A - S).

  Returns:
    `{"reason"}` where it is not measured or there is no gap, else
    `{"rows": [(task, variant, role, split, procedures, without, with,
    estimate without, estimate with)], "roles", "gap", "closed", "share",
    "undefined_resamples"}`.
  """
  supervised = collections.defaultdict(list)
  for cell in cells:
    if cell.kind == "supervised":
      supervised[cell.role].append(cell)
  pairs = []
  for sweep in sweeps:
    if sweep.kind != "RL":
      continue
    plain = {next(iter(procs.values()))["split"]["mask_sha256"]: procs
             for procs in by_split(sweep.records).values()}
    for variant, records in sweep.trajectory:
      for name, procs in by_split(records).items():
        split = next(iter(procs.values()))["split"]
        without = plain.get(split["mask_sha256"])
        roles = [r for r in split["roles"] if supervised.get(r)]
        shared = sorted(set(procs) & set(without or ()))
        if not roles or not shared:
          continue
        a = seed_security(without, alpha, shared)
        b = seed_security(procs, alpha, shared)
        if a is not None and b is not None:
          pairs += [(sweep.task, variant, role, name, tuple(shared), a, b)
                    for role in roles]
  if not pairs:
    return {"reason": "not measured: no RL record with trajectory access "
                      "(`adversary.trajectory_episodes` > 0) shares a task, "
                      "role and procedure with one without it at alpha "
                      f"{alpha:g}."}
  pairs.sort(key=lambda p: (p[0], p[1], _role_order(p[2]), p[3]))
  rng = np.random.default_rng(statistics.BOOTSTRAP_SEED)
  roles = sorted({p[2] for p in pairs}, key=_role_order)
  rows, by_role = [], collections.defaultdict(list)
  for task, variant, role, split, shared, without, within in pairs:
    draws = [_seed_resamples(s.values, reps, rng) for s in (without, within)]
    points = [float(statistics.iqm(s.values)) for s in (without, within)]
    rows.append((task, variant, role, split, shared, without, within,
                 _estimate(points[0], draws[0]),
                 _estimate(points[1], draws[1])))
    by_role[role].append((points, draws))
  supervised_draws = {role: [_seed_resamples(c.security.values, reps, rng)
                             for c in supervised[role]] for role in roles}

  def mean_over_roles(value_of):
    return np.mean([np.mean([value_of(item) for item in found], axis=0)
                    for found in ([by_role[r] for r in roles])], axis=0)

  a, b = mean_over_roles(lambda i: i[0][0]), mean_over_roles(lambda i: i[0][1])
  a_draws = mean_over_roles(lambda i: i[1][0])
  b_draws = mean_over_roles(lambda i: i[1][1])
  sup = float(np.mean([np.mean([c.estimate.value for c in supervised[r]])
                     for r in roles]))
  sup_draws = np.mean([np.mean(supervised_draws[r], axis=0) for r in roles],
                      axis=0)
  result = {"rows": rows, "roles": roles,
            "gap": _estimate(float(a - sup), a_draws - sup_draws),
            "closed": _estimate(float(a - b), a_draws - b_draws)}
  if not a - sup > 0:
    result["reason"] = (
        f"undefined: on these roles ({', '.join(roles)}) RL security "
        f"without trajectories ({float(a):.3f}) is not above the supervised "
        f"one ({sup:.3f}), so there is no gap to close.")
    return result
  with np.errstate(divide="ignore", invalid="ignore"):
    ratios = (a_draws - b_draws) / (a_draws - sup_draws)
  undefined = ~(a_draws - sup_draws > 0)  # No gap in that resample.
  ratios[undefined] = np.nan
  result["share"] = _estimate(float((a - b) / (a - sup)), ratios)
  result["undefined_resamples"] = int(undefined.sum())
  return result


# Finding 2.


class SplitPoint(NamedTuple):
  name: str
  share: float
  depth: float
  dominant: str
  security: Security


def task_splits(sweep: Sweep) -> tuple[list[SplitPoint], str]:
  """The splits of finding 2 at the task's headline alpha, and why there
  are none ("" if there are)."""
  if sweep.headline_alpha is None:
    return [], "no headline alpha (no alpha's margin is 2 standard errors)"
  splits = by_split(sweep.records)
  records = [r for procs in splits.values() for r in procs.values()]
  try:
    rows = analysis.split_rows(records, sweep.headline_alpha)
  except InputError as e:
    return [], str(e)
  points = []
  for row in rows:
    if row.whole_model or row.family in analysis.PARTIAL_FAMILIES:
      continue
    security = seed_security(splits[row.name], sweep.headline_alpha)
    if security is not None:
      points.append(SplitPoint(row.name, row.share, row.depth, row.dominant,
                               security))
  return sorted(points, key=lambda p: p.name), ""


def _ranks(values: np.ndarray) -> np.ndarray:
  """Average ranks along the last axis, centred and divided by the count."""
  ranks = stats.rankdata(values, axis=-1)
  n = values.shape[-1]
  return (ranks - (n + 1) / 2) / n


def _pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """Row-wise correlation of centred rows; NaN where a row is constant."""
  x = x - x.mean(axis=-1, keepdims=True)
  y = y - y.mean(axis=-1, keepdims=True)
  with np.errstate(divide="ignore", invalid="ignore"):
    return (x * y).sum(-1) / np.sqrt((x * x).sum(-1) * (y * y).sum(-1))


def _r_squared(y: np.ndarray, columns: Sequence[np.ndarray],
               weights: np.ndarray) -> np.ndarray:
  """Weighted least-squares R^2 of y (reps, n) on an intercept and
  `columns` (each (reps, n, c)), row by row; NaN where y is constant.
  Collinear columns (an absent type) are handled by the pseudo-inverse."""
  if not columns:
    return np.zeros(y.shape[0])
  design = np.concatenate(
      [np.ones(y.shape + (1,))] + list(columns), axis=-1)
  root = np.sqrt(weights)[None, :]
  fitted_w = design * root[..., None]
  target = y * root
  beta = np.linalg.pinv(fitted_w) @ target[..., None]
  residual = target - (fitted_w @ beta)[..., 0]
  mean = (y * weights).sum(-1, keepdims=True) / weights.sum()
  total = (weights * (y - mean)**2).sum(-1)
  with np.errstate(divide="ignore", invalid="ignore"):
    value = 1.0 - (residual**2).sum(-1) / total
  value[total <= 1e-12] = np.nan  # Ranks are scaled: only ties get here.
  return value


def _decomposition(y: np.ndarray, factors: Mapping[str, np.ndarray],
                   weights: np.ndarray) -> dict[str, np.ndarray]:
  """R^2, each factor's Shapley share of it, and its partial R^2."""
  names = list(factors)
  r2 = {}
  for size in range(len(names) + 1):
    for subset in itertools.combinations(names, size):
      r2[subset] = _r_squared(y, [factors[n] for n in subset], weights)
  full = tuple(names)
  result = {"r2": r2[full], "r2_alone": {n: r2[(n,)] for n in names}}
  shapley, partial = {}, {}
  p = len(names)
  for name in names:
    others = [n for n in names if n != name]
    value = 0.0
    for size in range(p):
      weight = math.factorial(size) * math.factorial(p - size - 1) / (
          math.factorial(p))
      for subset in itertools.combinations(others, size):
        grown = tuple(n for n in names if n in subset or n == name)
        value = value + weight * (r2[grown] - r2[subset])
    shapley[name] = value
    rest = r2[tuple(others)]
    with np.errstate(divide="ignore", invalid="ignore"):
      partial[name] = np.where(rest < 1.0 - 1e-12,
                               (r2[full] - rest) / (1.0 - rest), np.nan)
  result["shapley"], result["partial"] = shapley, partial
  return result


class TaskData(NamedTuple):
  """One task's finding-2 arrays, point (reps = 1) or resampled."""

  security: np.ndarray  # (reps, n) IQM security per split.
  share: np.ndarray
  depth: np.ndarray
  types: np.ndarray  # (reps, n, number of types) one-hot dominant type.


def _task_data(points: Sequence[SplitPoint], types: Sequence[str], reps: int,
               rng: np.random.Generator | None) -> TaskData:
  """The point values (rng None) or `reps` resamples: splits with
  replacement, then each chosen split's seeds."""
  share = np.array([p.share for p in points])
  depth = np.array([p.depth for p in points])
  onehot = np.array([[p.dominant == t for t in types] for p in points],
                    np.float64)
  if rng is None:
    security = np.array([statistics.iqm(p.security.values) for p in points])
    return TaskData(security[None], share[None], depth[None], onehot[None])
  n = len(points)
  chosen = rng.integers(0, n, size=(reps, n))
  per_split = np.stack([_seed_resamples(p.security.values, reps, rng)
                        for p in points], axis=1)  # (reps, n)
  security = np.take_along_axis(per_split, chosen, axis=1)
  return TaskData(security, share[chosen], depth[chosen], onehot[chosen])


def _task_statistics(data: TaskData) -> dict[str, Any]:
  y = _ranks(data.security)
  share, depth = _ranks(data.share), _ranks(data.depth)
  out = _decomposition(y, {"share": share[..., None],
                           "depth": depth[..., None],
                           "type": data.types}, np.ones(y.shape[-1]))
  out["rho"] = {"share": _pearson(share, y), "depth": _pearson(depth, y)}
  return out


def _pooled_statistics(datas: Sequence[TaskData]) -> dict[str, Any]:
  """Ranks within each task, centred within it, weighted 1 / splits."""
  def centred(values):
    return values - values.mean(axis=-2 if values.ndim == 3 else -1,
                                keepdims=True)
  y = np.concatenate([_ranks(d.security) for d in datas], axis=-1)
  share = np.concatenate([_ranks(d.share) for d in datas], axis=-1)
  depth = np.concatenate([_ranks(d.depth) for d in datas], axis=-1)
  types = np.concatenate([centred(d.types) for d in datas], axis=-2)
  weights = np.concatenate([np.full(d.security.shape[-1],
                                    1.0 / d.security.shape[-1])
                            for d in datas])
  out = _decomposition(y, {"share": share[..., None],
                           "depth": depth[..., None], "type": types},
                       weights)
  return out


def _coefficients(points: Sequence[SplitPoint]) -> int:
  """Coefficients of the regression: intercept, share, depth, types - 1."""
  return 3 + len({p.dominant for p in points}) - 1


def _estimates(point: dict[str, Any], draws: dict[str, Any]) -> dict:
  """The same nested dict with an `Estimate` at every leaf."""
  if isinstance(point, dict):
    return {k: _estimates(point[k], draws[k]) for k in point}
  return _estimate(float(np.asarray(point).ravel()[0]), draws)


def finding2(sweeps: Sequence[Sweep], reps: int = REPS) -> dict[str, Any]:
  """Share, depth and type against security (module docstring).

  Returns:
    `{"reason", "left_out"}` where no task has 3 splits, else `{"tasks":
    [(sweep, splits, statistics, why no regression or "")], "pooled",
    "left_out", "reps"}`; statistics hold `Estimate`s.
  """
  rng = np.random.default_rng(statistics.BOOTSTRAP_SEED)
  found, left_out = [], []
  for sweep in sweeps:
    points, why = task_splits(sweep)
    if why:
      left_out.append(f"{sweep.task}: {why}.")
    elif len(points) < 3:
      left_out.append(f"{sweep.task}: {len(points)} split(s) with a security "
                      "besides the whole model and random scalar shares; 3 "
                      "needed.")
    else:
      found.append((sweep, points))
  if not sweeps:
    return {"reason": "no protocol v2 record.", "left_out": []}
  if not found:
    return {"reason": "no task has 3 splits with a security besides the "
                      "whole model and random scalar shares.",
            "left_out": left_out}
  types = sorted({p.dominant for _, points in found for p in points},
                 key=_type_order)
  tasks, usable, rho_draws = [], [], collections.defaultdict(list)
  for sweep, points in found:
    data = (_task_data(points, types, 1, None),
            _task_data(points, types, reps, rng))
    point, draws = (_task_statistics(d) for d in data)
    result = {"rho": _estimates(point["rho"], draws["rho"])}
    for factor in ("share", "depth"):
      rho_draws[factor].append(draws["rho"][factor])
    exact = {f: analysis.spearman(
        [getattr(p, f) for p in points],
        [statistics.iqm(p.security.values) for p in points])
             for f in ("share", "depth")}
    result["p"] = {f: exact[f].p for f in exact}
    result["method"] = {f: exact[f].method for f in exact}
    k = _coefficients(points)
    why = ""
    if len(points) > k:
      for name in ("r2", "r2_alone", "shapley", "partial"):
        result[name] = _estimates(point[name], draws[name])
      usable.append(data)
    else:
      why = f"{len(points)} splits for {k} coefficients"
    tasks.append((sweep, points, result, why))
  pooled = {"tasks": [s.task for (s, _, _, why) in tasks if not why],
            "rho_tasks": len(tasks), "rho": {}}
  for factor in ("share", "depth"):
    points = [r["rho"][factor].value for _, _, r, _ in tasks]
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", RuntimeWarning)  # All-NaN resamples.
      draws = np.nanmean(rho_draws[factor], axis=0)
    pooled["rho"][factor] = _estimate(float(np.mean(points)), draws)
  if usable:
    point = _pooled_statistics([d[0] for d in usable])
    draws = _pooled_statistics([d[1] for d in usable])
    for name in ("r2", "r2_alone", "shapley", "partial"):
      pooled[name] = _estimates(point[name], draws[name])

    def contrast(values):
      shapley = values["shapley"]
      return shapley["depth"] + shapley["type"] - shapley["share"]

    pooled["contrast"] = _estimate(float(contrast(point)[0]), contrast(draws))
  return {"tasks": tasks, "pooled": pooled, "left_out": left_out,
          "reps": reps}


def _type_order(kind: str) -> tuple[int, str]:
  order = analysis.TYPE_ORDER
  return (order.index(kind) if kind in order else len(order), kind)


# Markdown.


def _number(value: float, spec: str = ".3f") -> str:
  if value is None or value != value:
    return "n/a"
  text = format(value, spec)
  # -0.000 (a rounding residue below zero) reads as a sign: drop it.
  return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def _interval(estimate: Estimate | None, spec: str = ".3f") -> str:
  if estimate is None or estimate.value != estimate.value:
    return "n/a"
  if estimate.lo != estimate.lo:
    return _number(estimate.value, spec)
  return (f"{_number(estimate.value, spec)} [{_number(estimate.lo, spec)}, "
          f"{_number(estimate.hi, spec)}]")


def _security_text(security: Security, estimate: Estimate) -> str:
  censored = int(security.censored.sum())
  text = _interval(estimate)
  if censored:
    text = f">{text} c={censored}/{len(security.values)}"
  return text


def _verdict(estimate: Estimate, above: str, below: str, neither: str) -> str:
  if estimate.lo > 0:
    return above
  if estimate.hi < 0:
    return below
  return neither


def _tasks_table(sweeps: Sequence[Sweep]) -> list[str]:
  """Which sweep of each task the findings read, and its alpha and cap."""
  out = ["| task | kind | variant | originals | headline alpha | splits | "
         "procedures | seeds | cap at headline alpha |",
         "|---|---|---|---|---:|---:|---|---:|---:|"]
  for s in sweeps:
    procedures = sorted({r["procedure"]["name"] for r in s.records})
    seeds = sorted({len(r["seeds"]) for r in s.records})
    headline, cap = "none", None
    if s.headline_alpha is not None:
      headline = f"{s.headline_alpha:g}"
      cap = board_lib.cap_of(s.records, s.headline_alpha)
    variants = "".join(f" (+ `{v}`)" for v, _ in s.trajectory)
    out.append(
        f"| {s.task} | {s.kind} | `{s.variant}`{variants} | "
        f"`{s.originals[:12]}` | {headline} | {len(by_split(s.records))} | "
        f"{', '.join(procedures)} | "
        f"{'-'.join(str(n) for n in sorted({seeds[0], seeds[-1]}))} | "
        f"{_number(cap)} |")
  return out


def _not_computed(reason: str, notes: Sequence[str]) -> list[str]:
  """The lines of a finding that could not be computed: why, then its
  notes as a list."""
  return ([f"Not computed: {reason}", ""] + [f"- {n}" for n in notes]
          + ([""] if notes else []))


def _finding1_markdown(result: dict[str, Any]) -> list[str]:
  """Finding 1's section of FINDINGS.md."""
  out = ["## Finding 1: is completion harder in RL than in supervised "
         "learning?", ""]
  if "reason" in result:
    return out + _not_computed(result["reason"], result.get("notes", []))
  alpha, difference = result["alpha"], result["difference"]
  resamples = f"{result['reps']} resamples"
  n_kind = {k: len({c.task for c in result["cells"] if c.kind == k})
            for k in KINDS}
  verdict = _verdict(
      difference,
      "RL completion is harder: the interval lies above 0.",
      "RL completion is easier: the interval lies below 0, against the "
      "paper's finding on these tasks.",
      "The interval contains 0: these records cannot tell RL from "
      "supervised hardness.")
  out += [f"At alpha = {alpha:g}, over the roles measured on both kinds "
          f"({', '.join(result['roles'])}), the security of RL tasks minus "
          f"that of supervised tasks is **{_interval(difference)}** "
          f"({n_kind['RL']} RL and {n_kind['supervised']} supervised "
          f"task(s)). {verdict}", ""]
  trajectory = result["trajectory"]
  if trajectory.get("share"):
    out += [f"Trajectory access closes **{_interval(trajectory['share'])}** "
            "of that gap (share of RL security without trajectories minus "
            "supervised, removed by giving the adversary the agent's "
            f"episodes; {len(trajectory['rows'])} RL (task, role) cell(s)).",
            ""]
  else:
    out += [f"Trajectory access: {trajectory['reason']}", ""]
  out += [
      "Security per seed: the minimum over procedures of the seed's "
      "hardness (seeds share keys across procedures); a cell's value is "
      "the IQM over seeds. Difference: per role, the mean over RL tasks "
      "minus the mean over supervised tasks (tasks weigh the same), then "
      "the mean over roles (roles weigh the same). 95% percentile "
      f"interval of a stratified bootstrap ({resamples}): seeds "
      "resampled within each (task, role) cell, fixed seed. Alpha: the "
      "lowest headline alpha of the tasks that enter, where every one of "
      "them can rank.", "",
      "| role | RL tasks | supervised tasks | RL (mean of IQMs) | "
      "supervised (mean of IQMs) | RL − supervised |",
      "|---|---:|---:|---:|---:|---:|"]
  for role, n_rl, n_sup, rl, sup, value in result["roles_table"]:
    out.append(f"| {role} | {n_rl} | {n_sup} | {rl:.3f} | {sup:.3f} | "
               f"{_interval(value)} |")
  out += [f"| **pooled** (mean over roles) | {n_kind['RL']} | "
          f"{n_kind['supervised']} | | | **{_interval(difference)}** |", "",
          "### Cells", "",
          "| task | kind | role | split | procedures | seeds | security "
          "(IQM [95%]) | cap |",
          "|---|---|---|---|---|---:|---:|---:|"]
  for c in sorted(result["cells"], key=lambda c: (
      _role_order(c.role), KINDS.index(c.kind), c.task)):
    out.append(f"| {c.task} | {c.kind} | {c.role} | {c.split} | "
               f"{', '.join(c.security.procedures)} | "
               f"{len(c.security.values)} | "
               f"{_security_text(c.security, c.estimate)} | "
               f"{c.security.cap:.3f} |")
  out += ["", "### Every alpha the entering tasks share", "",
          "| alpha | RL − supervised | above the headline alpha of |",
          "|---:|---:|---|"]
  for other, value, beyond in result["by_alpha"]:
    out.append(f"| {other:g} | {_interval(value)} | "
               f"{', '.join(beyond) or '—'} |")
  out += ["", "Above a task's headline alpha, its margin is under two "
          "standard errors of its evaluation: read those rows as noise-"
          "limited.", ""]
  if trajectory.get("rows"):
    out += ["### Trajectory access", "",
            f"Gap (RL without trajectories − supervised, these roles): "
            f"{_interval(trajectory['gap'])}; closed (without − with): "
            f"{_interval(trajectory['closed'])}" +
            (f"; {trajectory['undefined_resamples']} of {resamples} had no "
             "gap and were left out of the share's interval"
             if trajectory.get("undefined_resamples") else "") + ".", "",
            "| task | variant | role | split | procedures | without | with |",
            "|---|---|---|---|---|---:|---:|"]
    for (task, variant, role, split, shared, without, within, a,
         b) in trajectory["rows"]:
      out.append(f"| {task} | `{variant}` | {role} | {split} | "
                 f"{', '.join(shared)} | {_security_text(without, a)} | "
                 f"{_security_text(within, b)} |")
    out.append("")
  if result["notes"]:
    out += [f"- {n}" for n in result["notes"]] + [""]
  return out


def _finding2_markdown(result: dict[str, Any]) -> list[str]:
  """Finding 2's section of FINDINGS.md."""
  out = ["## Finding 2: what explains a split's security: how much is "
         "withheld, or its type and location?", ""]
  if "reason" in result:
    return out + _not_computed(result["reason"], result["left_out"])
  pooled, reps = result["pooled"], result["reps"]
  if "contrast" in pooled:
    shapley = pooled["shapley"]
    verdict = _verdict(
        pooled["contrast"],
        "Type and location explain more than the share withheld, as the "
        "paper found.",
        "The share withheld explains more than type and location together, "
        "against the paper's finding on these tasks.",
        "The interval of (depth + type − share) contains 0: these records "
        "cannot tell which explains more.")
    out += [f"Pooled over {len(pooled['tasks'])} task(s) "
            f"({', '.join(pooled['tasks'])}), each at its headline alpha, "
            f"the ranks of security have R² = {_interval(pooled['r2'])} on "
            "share withheld, depth and dominant type; of it, share withheld "
            "explains "
            f"**{_interval(shapley['share'])}**, depth "
            f"**{_interval(shapley['depth'])}** and type "
            f"**{_interval(shapley['type'])}** (Shapley shares of R²). "
            f"Depth + type − share: {_interval(pooled['contrast'])}. "
            f"{verdict}", ""]
  else:
    out += ["Pooled regression not computed: no task has more splits than "
            "the regression's coefficients.", ""]
  out += [f"Mean over {pooled['rho_tasks']} task(s) of Spearman's rho of "
          f"security with share withheld: {_interval(pooled['rho']['share'])}"
          f"; with depth: {_interval(pooled['rho']['depth'])}.", "",
          "Splits: every split but the whole model and the random scalar "
          "shares (depth says nothing of splits that touch every layer; "
          "`python -m benchmark.analysis` shows them), one per mask. "
          "Security: IQM over seeds of the per-seed minimum over "
          "procedures, at the task's headline alpha. Share, depth "
          "(unweighted mean normalised forward position of the withheld "
          "layers, 0 = first) and dominant type (kernels if a kernel is "
          "withheld, else the most frequent type) as in "
          "`benchmark.analysis`. Regression: ordinary least squares of "
          "rank(security) on rank(share), rank(depth) and dominant-type "
          "dummies; a factor's share of R² is its Shapley value (mean gain "
          "in R² over every order of entry; the three add up to R²), its "
          "partial R² the variance it explains of what the other two leave; "
          "type's rank association is η², the R² of type alone. Pooled: "
          "ranks within each task, centred within it, each task weighted "
          "1 / splits so that tasks weigh the same. 95% percentile "
          f"intervals ({reps} resamples): splits resampled within each task, "
          "then seeds within each split (fixed seed). Spearman p-values: "
          f"exact up to {analysis.EXACT_MAX_N} splits, else scipy's t "
          "approximation.", "",
          "| task | alpha | splits | censored | factor | rank association "
          "| p | share of R² | partial R² |",
          "|---|---:|---:|---:|---|---:|---:|---:|---:|"]
  for sweep, points, r, why in result["tasks"]:
    censored = sum(bool(p.security.censored.any()) for p in points)
    lead = (f"| {sweep.task} | {sweep.headline_alpha:g} | {len(points)} | "
            f"{censored} |")
    for factor in FACTORS:
      if factor == "type":
        association = ("η² " + _interval(r["r2_alone"]["type"])
                       if "r2_alone" in r else "n/a")
        p = "—"
      else:
        association = "ρ " + _interval(r["rho"][factor])
        p = f"{_number(r['p'][factor], '.3g')} ({r['method'][factor] or '—'})"
      share = _interval(r["shapley"][factor]) if "shapley" in r else "n/a"
      partial = _interval(r["partial"][factor]) if "partial" in r else "n/a"
      out.append(f"{lead} {FACTOR_NAMES[factor]} | {association} | {p} | "
                 f"{share} | {partial} |")
      lead = "| | | | |"
    out.append(f"{lead} all three | R² "
               f"{_interval(r['r2']) if 'r2' in r else 'n/a (' + why + ')'}"
               " | | | |")
  if "r2" in pooled:
    lead = "| **pooled** | each | | |"
    for factor in FACTORS:
      association = ("ρ " + _interval(pooled["rho"][factor]) + " (mean)"
                     if factor != "type" else
                     "η² " + _interval(pooled["r2_alone"]["type"]))
      out.append(f"{lead} {FACTOR_NAMES[factor]} | {association} | — | "
                 f"{_interval(pooled['shapley'][factor])} | "
                 f"{_interval(pooled['partial'][factor])} |")
      lead = "| | | | |"
    out.append(f"{lead} all three | R² {_interval(pooled['r2'])} | | | |")
  out.append("")
  for sweep, points, _, _ in result["tasks"]:
    out += [f"### {sweep.task} at alpha = {sweep.headline_alpha:g}", "",
            "| split | withheld | depth | dominant type | security (IQM "
            "[95%]) | procedures |", "|---|---:|---:|---|---:|---|"]
    rng = np.random.default_rng(statistics.BOOTSTRAP_SEED)
    for p in sorted(points, key=lambda p: (-statistics.iqm(
        p.security.values), p.name)):
      estimate = _estimate(float(statistics.iqm(p.security.values)),
                           _seed_resamples(p.security.values, reps, rng))
      out.append(f"| {p.name} | {p.share:.2%} | {p.depth:.3f} | "
                 f"{p.dominant} | {_security_text(p.security, estimate)} | "
                 f"{', '.join(p.security.procedures)} |")
    out.append("")
  if result["left_out"]:
    out += [f"- {n}" for n in result["left_out"]] + [""]
  return out


def markdown(workdir: str, reps: int = REPS) -> tuple[str, dict[str, Any]]:
  """FINDINGS.md for the records under `workdir`, and the two findings.

  Raises:
    InputError: see `read_records` and `select_sweeps`.
  """
  records, older = read_records(workdir)
  sweeps, notes = select_sweeps(records)
  first = finding1(sweeps, reps)
  second = finding2(sweeps, reps)
  out = ["# Findings, computed from the records", "",
         "The paper's two findings (docs/PROTOCOL.md), tested on this "
         "benchmark's own tasks from its records alone. Generated by "
         "`python -m benchmark.findings`; do not edit (CI checks that it "
         "rebuilds).", "",
         f"Records: {len(records)} of protocol v2 from {len(sweeps)} "
         f"task(s)" + (f"; {older} of protocol v1 left out, never mixed "
                       "with v2" if older else "") + ".", ""]
  if sweeps:
    out += ["## Tasks", ""] + _tasks_table(sweeps) + [""]
  out += [f"- {n}" for n in notes] + ([""] if notes else [])
  out += _finding1_markdown(first)
  if "reason" not in first:
    out += [f"![Finding 1]({FIGURES[0]})", ""]
  out += _finding2_markdown(second)
  if "reason" not in second:
    out += [f"![Finding 2]({FIGURES[1]})", ""]
  out += [
      "## Caveats", "",
      "- Censored values (`>`, c=k/n: k of n seeds never recovered within "
      "the budget) count at their cap B / t0(alpha): they are lower bounds, "
      "and so is any mean that contains them. Caps differ between tasks.",
      "- T3/T4 take the best schedule of their fine-tuning grid in "
      "hindsight, and a seed's security is its best procedure in hindsight: "
      "oracle choices, so every security here is a lower bound on a real "
      "adversary's cost (the conservative side for security).",
      "- Intervals cover seed noise (and, for finding 2, which splits were "
      "measured), not which tasks: a statement pooled over few tasks is "
      "about those tasks.",
      "- Security here is the IQM of the per-seed minimum over procedures; "
      "the leaderboard's is the minimum over procedures of the IQM, which "
      "can differ."]
  fewer = [f"{s.task} ({', '.join(sorted(missing))} not measured)"
           for s in sweeps if (missing := set(procedures_lib.PROCEDURES)
                               - {r["procedure"]["name"] for r in s.records})]
  if fewer:
    out.append("- Sweeps over fewer procedures than the protocol's T1-T4: "
               f"{'; '.join(fewer)}. Their security, a minimum over fewer "
               "procedures, is an upper bound on the protocol's.")
  return "\n".join(out) + "\n", {"finding1": first, "finding2": second}


# Figures.


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _png(figure) -> bytes:
  """The figure as PNG bytes with fixed metadata (no timestamp)."""
  plt = _pyplot()
  buffer = io.BytesIO()
  figure.tight_layout()
  figure.savefig(buffer, format="png", dpi=120, metadata={"Software": None})
  plt.close(figure)
  return buffer.getvalue()


def _error(estimate: Estimate) -> list[list[float]]:
  lo = estimate.lo if estimate.lo == estimate.lo else estimate.value
  hi = estimate.hi if estimate.hi == estimate.hi else estimate.value
  return [[estimate.value - lo], [hi - estimate.value]]


def figure1(result: dict[str, Any]) -> bytes:
  """Per matched role, each task's security (RL orange, supervised blue,
  with trajectory access green; hollow: censored), and the differences."""
  plt = _pyplot()
  roles = result["roles"]
  figure, (left, right) = plt.subplots(
      1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [3, 2]})
  colours = {"RL": "tab:orange", "supervised": "tab:blue"}
  tasks = sorted({c.task for c in result["cells"]})
  offsets = {t: (i - (len(tasks) - 1) / 2) * 0.8 / max(len(tasks), 1)
             for i, t in enumerate(tasks)}
  markers = {t: "osDv^<>pPX"[i % 10] for i, t in enumerate(tasks)}
  for c in result["cells"]:
    x = roles.index(c.role) + offsets[c.task]
    colour = colours[c.kind]
    left.errorbar([x], [c.estimate.value], yerr=_error(c.estimate),
                  fmt=markers[c.task], color=colour, ecolor=colour, capsize=2,
                  linewidth=1, markerfacecolor="none"
                  if c.security.censored.any() else colour)
  for row in result["trajectory"].get("rows", []):
    task, _, role, _, _, _, within, _, b = row
    if role in roles:
      x = roles.index(role) + offsets.get(task, 0.0) + 0.05
      left.errorbar([x], [b.value], yerr=_error(b), fmt="*",
                    color="tab:green", ecolor="tab:green", capsize=2,
                    markerfacecolor="none" if within.censored.any()
                    else "tab:green")
  for task in tasks:
    kind = next(c.kind for c in result["cells"] if c.task == task)
    left.scatter([], [], color=colours[kind], marker=markers[task],
                 label=f"{task} ({kind})")
  if result["trajectory"].get("rows"):
    left.scatter([], [], color="tab:green", marker="*",
                 label="RL with trajectory access")
  left.axhline(1.0, color="grey", linestyle="--", linewidth=1)
  left.set_xticks(range(len(roles)), roles)
  left.set_yscale("symlog", linthresh=0.1)
  left.set_ylabel(f"security at alpha = {result['alpha']:g} (IQM, 95%)")
  left.set_title("each task; hollow: censored (lower bound)",
                 fontsize="medium")
  left.legend(fontsize="small", loc="best")
  labels = [r[0] for r in result["roles_table"]] + ["pooled"]
  values = [r[5] for r in result["roles_table"]] + [result["difference"]]
  for y, value in enumerate(values):
    right.errorbar([value.value], [y], xerr=_error(value), fmt="o",
                   color="black" if y == len(values) - 1 else "tab:grey",
                   capsize=3)
  right.axvline(0.0, color="grey", linestyle="--", linewidth=1)
  right.set_yticks(range(len(labels)), labels)
  right.invert_yaxis()
  right.set_xlabel("RL − supervised (95% interval)")
  right.set_title("difference of securities", fontsize="medium")
  figure.suptitle("Finding 1: RL vs supervised completion hardness")
  return _png(figure)


def figure2(result: dict[str, Any]) -> bytes:
  """Security against share withheld per task (hollow: censored), and each
  factor's share of the explained variance with its interval."""
  plt = _pyplot()
  figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
  colours = plt.get_cmap("tab10")(range(10))
  for i, (sweep, points, _, _) in enumerate(result["tasks"]):
    colour = colours[i % 10]
    for p in points:
      value = float(statistics.iqm(p.security.values))
      left.plot([p.share], [value], "o", color=colour,
                markerfacecolor="none" if p.security.censored.any()
                else colour)
    left.scatter([], [], color=colour, label=sweep.task)
  left.axhline(1.0, color="grey", linestyle="--", linewidth=1)
  left.set_xscale("log")
  left.set_yscale("symlog", linthresh=0.1)
  left.set_xlabel("share of parameters withheld")
  left.set_ylabel("security at the task's headline alpha (IQM)")
  left.set_title("hollow: censored (lower bound)", fontsize="medium")
  left.legend(fontsize="small", loc="best")
  groups = [(s.task, r) for s, _, r, _ in result["tasks"] if "shapley" in r]
  if "shapley" in result["pooled"]:
    groups.append(("pooled", result["pooled"]))
  width = 0.8 / len(FACTORS)
  factor_colours = {"share": "tab:grey", "depth": "tab:purple",
                    "type": "tab:red"}
  for j, factor in enumerate(FACTORS):
    xs = [i + (j - 1) * width for i in range(len(groups))]
    values = [g["shapley"][factor] for _, g in groups]
    right.bar(xs, [v.value if v.value == v.value else 0 for v in values],
              width, color=factor_colours[factor], label=factor)
    right.errorbar(xs, [v.value if v.value == v.value else 0
                        for v in values],
                   yerr=np.concatenate([_error(v) for v in values], axis=1)
                   if values else None, fmt="none", ecolor="black",
                   capsize=2, linewidth=1)
  right.set_xticks(range(len(groups)), [g for g, _ in groups],
                   rotation=20, fontsize="small")
  right.set_ylabel("share of R² of rank(security) (Shapley, 95%)")
  right.set_title("what explains security", fontsize="medium")
  right.legend(fontsize="small", loc="best")
  figure.suptitle("Finding 2: share withheld, depth and type")
  return _png(figure)


# Writing.


def build(workdir: str, reps: int = REPS) -> dict[str, bytes | None]:
  """Every output, in memory: relative path -> bytes (None: a figure whose
  finding is not computed, to remove)."""
  text, results = markdown(workdir, reps)
  first, second = results["finding1"], results["finding2"]
  return {MARKDOWN: text.encode("utf-8"),
          FIGURES[0]: None if "reason" in first else figure1(first),
          FIGURES[1]: None if "reason" in second else figure2(second)}


def write(workdir: str, reps: int = REPS) -> list[str]:
  """Builds every output, then writes them (nothing on bad input).

  Returns:
    The paths written.
  """
  outputs = build(workdir, reps)
  written = []
  for name, data in outputs.items():
    path = os.path.join(workdir, name)
    if data is None:
      if os.path.exists(path):
        os.unlink(path)  # A figure of a finding no longer computed.
      continue
    if name.endswith(".md"):
      storage.write_text_atomic(path, data.decode("utf-8"))
    else:
      storage.write_bytes_atomic(path, data)
    written.append(path)
  return written


def check(workdir: str, reps: int = REPS) -> str:
  """Raises `InputError` unless `workdir/FINDINGS.md` is what the records
  give; returns its path."""
  path = os.path.join(workdir, MARKDOWN)
  if not os.path.isfile(path):
    raise InputError(f"{path} does not exist; build it with `python -m "
                     "benchmark.findings`")
  text, _ = markdown(workdir, reps)
  with open(path, encoding="utf-8") as f:
    if f.read() != text:
      raise InputError(f"{path} does not match its records; rebuild it "
                       "with `python -m benchmark.findings` and commit it")
  return path
