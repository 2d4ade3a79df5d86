"""Measurement protocol v2: the rules a published number obeys, as code.

Pure functions over numbers and settings (PROTOCOL.md says why each
rule exists):

* `check_published_settings`: what a published sweep may not do (fewer than
  5 seeds, a budget below the recipe's, fewer than 3 originals);
* `convergence`: originals that have converged and agree;
* `headline_alpha`: the highest alpha whose margin `(1 - alpha)(P* - P0)` is
  at least two standard errors of the task's evaluation;
* `repeated_standard_error`: the error of an evaluation measured by
  repeating it (RL returns; supervised tasks declare a binomial one).

Example:

  >>> headline_alpha([0.5, 0.9, 0.99], p_star=0.97, p0=0.1,
  ...                standard_error=0.009)
  0.9
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np

from contract.spec import InputError

VERSION = 2
MIN_PUBLISHED_SEEDS = 5
MIN_PUBLISHED_ORIGINALS = 3
# Convergence of originals: over the last PLATEAU_SHARE of training the
# normalised score (against the original's own P*) averages within
# PLATEAU_TOLERANCE of 1, and the originals' P* lie within SPREAD_TOLERANCE
# of the recovery range (median P* - P0); each tolerance widened by
# MARGIN_STANDARD_ERRORS standard errors of the evaluation (a P* is one
# noisy evaluation: RL returns over a few dozen episodes).
PLATEAU_SHARE = 0.2
PLATEAU_TOLERANCE = 0.05
SPREAD_TOLERANCE = 0.1
# A margin counts for ranking when it is at least this many standard errors.
MARGIN_STANDARD_ERRORS = 2.0


def results_dir() -> str:
  """The repository's published `results/` folder."""
  # This file is benchmark/science/protocol.py.
  return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))), "results")


def is_published_workdir(workdir: str) -> bool:
  """Whether `workdir` is the published `results/` folder."""
  return os.path.realpath(workdir) == os.path.realpath(results_dir())


def check_published_settings(*, seeds: int, budget_fraction: float,
                             num_originals: int) -> None:
  """Raises `InputError` naming the first protocol rule a published sweep's
  settings break."""
  if seeds < MIN_PUBLISHED_SEEDS:
    raise InputError(
        f"a published sweep uses at least {MIN_PUBLISHED_SEEDS} seeds per "
        f"cell (protocol v2), got {seeds}")
  if budget_fraction < 1.0:
    raise InputError(
        "a published sweep's budget is at least the recipe's, so that 'as "
        "hard as training from scratch' is observable (protocol v2), got "
        f"budget fraction {budget_fraction:g}")
  if num_originals < MIN_PUBLISHED_ORIGINALS:
    raise InputError(
        f"a published task has at least {MIN_PUBLISHED_ORIGINALS} originals "
        f"(protocol v2), got {num_originals}")


def convergence(costs: Sequence[float], curves: Sequence[Sequence[float]],
                p0: float, standard_error: float = 0.0) -> dict[str, Any]:
  """Whether originals have converged and agree (PROTOCOL.md).

  Args:
    costs: the evaluation costs of the recipe's schedule.
    curves: each original's raw performance on them (last point: its P*).
    p0: the task's reference performance.
    standard_error: of one evaluation; widens the tolerances by
      `MARGIN_STANDARD_ERRORS` errors (of a difference of two evaluations
      for the spread), so that evaluation noise alone does not fail them.

  Returns:
    `{"converged": bool, "plateau_gap": [per original], "spread": float,
    "plateau_tolerance": [per original], "spread_tolerance": float,
    "rule": text}`: `plateau_gap` is |1 - the mean normalised score over
    the last `PLATEAU_SHARE` of training|; `spread` is (max P* - min P*) /
    (median P* - P0).
  """
  costs = np.asarray(costs, np.float64)
  window = costs >= (1.0 - PLATEAU_SHARE) * costs[-1]
  p_stars = np.asarray([curve[-1] for curve in curves], np.float64)
  noise = MARGIN_STANDARD_ERRORS * standard_error
  gaps, gap_tolerances = [], []
  for curve, p_star in zip(curves, p_stars):
    normalised = (np.asarray(curve, np.float64)[window] - p0) / (p_star - p0)
    gaps.append(float(abs(1.0 - np.mean(normalised))))
    gap_tolerances.append(PLATEAU_TOLERANCE + noise / (p_star - p0))
  scale = float(np.median(p_stars)) - p0
  spread = float((p_stars.max() - p_stars.min()) / scale) if scale > 0 else (
      math.inf)
  spread_tolerance = SPREAD_TOLERANCE + math.sqrt(2.0) * noise / scale
  return {
      "converged": bool(all(g < t for g, t in zip(gaps, gap_tolerances))
                        and spread <= spread_tolerance),
      "plateau_gap": gaps,
      "plateau_tolerance": gap_tolerances,
      "spread": spread,
      "spread_tolerance": spread_tolerance,
      "rule": (f"mean normalised score over the last {PLATEAU_SHARE:.0%} of "
               f"training within {PLATEAU_TOLERANCE:g} of 1 for every "
               f"original, and (max P* - min P*) / (median P* - P0) <= "
               f"{SPREAD_TOLERANCE:g}, each widened by "
               f"{MARGIN_STANDARD_ERRORS:g} standard errors of the "
               "evaluation (sqrt 2 x that for the spread)"),
  }


def convergence_line(check: dict[str, Any]) -> str:
  """One line saying whether `convergence` holds and by how much."""
  verdict = "hold" if check["converged"] else "FAIL"
  gaps = ", ".join(f"{g:.3f} (< {t:.3f})" for g, t in zip(
      check["plateau_gap"], check["plateau_tolerance"]))
  return (f"originals converged and agree: {verdict} (plateau gaps {gaps}; "
          f"spread {check['spread']:.3f} (<= "
          f"{check['spread_tolerance']:.3f}); rule: {check['rule']})")


def repeated_standard_error(evaluations: Sequence[Sequence[float]]) -> float:
  """The standard error of one evaluation from repeats of it on several
  models (rows: models, columns: independent evaluation keys): the root
  mean within-model variance."""
  values = np.asarray(evaluations, np.float64)
  return float(np.sqrt(np.mean(np.var(values, axis=1, ddof=1))))


def headline_alpha(alphas: Sequence[float], p_star: float, p0: float,
                   standard_error: float) -> float | None:
  """The highest alpha whose margin `(1 - alpha)(P* - P0)` is at least
  `MARGIN_STANDARD_ERRORS` standard errors; None if no alpha qualifies."""
  usable = [a for a in alphas if (1.0 - a) * (p_star - p0)
            >= MARGIN_STANDARD_ERRORS * standard_error]
  return max(usable) if usable else None
