"""Statistics over runs and tasks, following rliable's conventions.

rliable (Agarwal et al., 2021, "Deep reinforcement learning at the edge of
the statistical precipice") aggregates scores of several runs on several
tasks with the interquartile mean (IQM), gives 95% percentile intervals from
a *stratified* bootstrap (runs resampled within each task, so every task
keeps its weight), and compares two methods by their probability of
improvement. These are the same definitions, vectorised with numpy: rliable
itself loops in Python over resamples and took 0.77 s for one interval here
(BUILD_NOTES), and the leaderboard computes hundreds.

Scores here are MC-hardness values, already normalised by the cost of
training from scratch on their own task, so they aggregate across tasks as
they are (a censored run counts as its budget, as everywhere).

    >>> float(iqm([0.0, 1.0, 2.0, 3.0]))
    1.5
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from scipy import stats

BOOTSTRAP_SEED = 0  # Fixed, so that the same records give the same numbers.


def iqm(scores: Any, axis: int = -1) -> np.ndarray:
  """Interquartile mean: the mean of the middle 50% (25%-trimmed mean)."""
  return stats.trim_mean(np.asarray(scores, np.float64), 0.25, axis=axis)


def _resample(strata: Sequence[np.ndarray], reps: int,
              rng: np.random.Generator) -> list[np.ndarray]:
  """`reps` bootstrap resamples of each stratum: shape (reps, n_stratum)."""
  return [s[rng.integers(0, len(s), size=(reps, len(s)))] for s in strata]


def stratified_interval(strata: Sequence[Sequence[float]],
                        statistic: Callable[[list[np.ndarray]], np.ndarray],
                        reps: int = 2000, seed: int = BOOTSTRAP_SEED,
                        confidence: float = 0.95,
                        method: str = "linear") -> tuple[float, float]:
  """Percentile interval of `statistic` under a stratified bootstrap.

  Args:
    strata: one array of run scores per stratum (task).
    statistic: maps a list of per-stratum arrays of shape (reps, n_i) to
      `reps` values; it is also called on the data itself with reps = 1.
    reps: bootstrap resamples.
    seed: seeds numpy's generator.
    confidence: coverage of the interval.
    method: numpy's percentile method; "inverted_cdf" (no interpolation)
      where a resampled statistic may be infinite.

  Returns:
    `(low, high)`; both equal the point estimate when no resample can
    differ (every stratum constant).
  """
  strata = [np.asarray(s, np.float64) for s in strata]
  if all(np.all(s == s[0]) for s in strata):
    point = float(statistic([s[None, :] for s in strata])[0])
    return point, point
  values = statistic(_resample(strata, reps, np.random.default_rng(seed)))
  tail = (1.0 - confidence) / 2 * 100
  low, high = np.percentile(values, [tail, 100 - tail], method=method)
  return float(low), float(high)


def aggregate_iqm(scores_by_task: Sequence[Sequence[float]],
                  reps: int = 2000) -> dict[str, float]:
  """IQM of every run of every task pooled, with its stratified interval.

  As rliable's aggregate IQM: runs of all tasks pooled, then trimmed, so a
  task with more runs weighs more; give tasks equal numbers of seeds.

  Returns:
    `{"iqm", "lo", "hi"}`.
  """
  def pooled(resampled):
    return iqm(np.concatenate(resampled, axis=-1))

  point = float(pooled([np.asarray(s, np.float64)[None, :]
                        for s in scores_by_task])[0])
  low, high = stratified_interval(scores_by_task, pooled, reps)
  return {"iqm": point, "lo": low, "hi": high}


def min_iqm(scores: Sequence[Sequence[Sequence[float]]],
            reps: int = 2000) -> dict[str, float]:
  """The lowest of several aggregate IQMs, with a stratified interval.

  `scores[m][t]` holds the runs of method m (a procedure) on task t. The
  point is `min_m aggregate_iqm(scores[m])`; the interval resamples every
  (method, task) cell's runs independently and takes the minimum each time,
  so it is the interval of the minimum itself (which sits below the
  interval of the method that attains it when methods are close), as a
  split's security, the adversary's best case, needs.

  Returns:
    `{"iqm", "lo", "hi"}`.
  """
  cells = [np.asarray(runs, np.float64) for method in scores for runs in method]
  bounds = np.cumsum([0] + [len(method) for method in scores])

  def lowest(resampled):
    return np.min([iqm(np.concatenate(resampled[a:b], axis=-1))
                   for a, b in zip(bounds[:-1], bounds[1:])], axis=0)

  point = float(lowest([c[None, :] for c in cells])[0])
  low, high = stratified_interval(cells, lowest, reps)
  return {"iqm": point, "lo": low, "hi": high}


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """P(X > Y) per resample, ties counting half: x (reps, n), y (reps, m)."""
  difference = x[:, :, None] - y[:, None, :]
  return ((difference > 0) + 0.5 * (difference == 0)).mean(axis=(1, 2))


def probability_of_improvement(x_by_task: Sequence[Sequence[float]],
                               y_by_task: Sequence[Sequence[float]],
                               reps: int = 2000) -> dict[str, float]:
  """P(X > Y): the chance that a run of X scores above a run of Y on the
  same task, averaged over tasks (rliable's `probability_of_improvement`,
  the Mann-Whitney U statistic over n x m pairs), with a stratified
  interval (X's and Y's runs resampled independently within each task).

  For hardness, "X > Y" means split X is harder to complete than split Y.

  Returns:
    `{"p", "lo", "hi"}`.

  Raises:
    ValueError: different numbers of tasks.
  """
  if len(x_by_task) != len(y_by_task) or not x_by_task:
    raise ValueError(f"X has {len(x_by_task)} tasks and Y "
                     f"{len(y_by_task)}: need the same, at least one")
  pairs = [(np.asarray(x, np.float64), np.asarray(y, np.float64))
           for x, y in zip(x_by_task, y_by_task)]
  point = float(np.mean([_improvement(x[None], y[None])[0]
                         for x, y in pairs]))
  if all(np.all(x == x[0]) and np.all(y == y[0]) for x, y in pairs):
    return {"p": point, "lo": point, "hi": point}
  rng = np.random.default_rng(BOOTSTRAP_SEED)
  per_task = [_improvement(*_resample([x, y], reps, rng)) for x, y in pairs]
  low, high = np.percentile(np.mean(per_task, axis=0), [2.5, 97.5])
  return {"p": point, "lo": float(low), "hi": float(high)}


def pareto_front(shares: Sequence[float],
                 hardness: Sequence[float]) -> list[bool]:
  """Which splits are on the Pareto frontier of (small share, high hardness).

  A split is on it unless another withholds no more and is at least as hard,
  and is strictly better in one of the two. Splits whose hardness is NaN
  (undefined) are never on it.

    >>> pareto_front([0.1, 0.2, 0.5], [1.0, 0.5, 2.0])
    [True, False, True]
  """
  points = list(zip(shares, hardness))
  front = []
  for share, value in points:
    if value != value:
      front.append(False)
      continue
    dominated = any(
        other_share <= share and other_value >= value and
        (other_share < share or other_value > value)
        for other_share, other_value in points if other_value == other_value)
    front.append(not dominated)
  return front
