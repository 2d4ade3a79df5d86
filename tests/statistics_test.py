"""Statistics over runs and tasks: IQM, stratified intervals, probability of
improvement, Pareto frontier; checked against scipy and hand computations."""

import math

import numpy as np
import pytest
from scipy import stats

from benchmark.science import statistics


def test_iqm_is_the_mean_of_the_middle_half():
  values = [9.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 100.0]
  assert statistics.iqm(values) == pytest.approx(np.mean([2, 3, 4, 5]))


def test_aggregate_pools_runs_and_resamples_within_tasks():
  # Each task is constant, so every stratified resample keeps three 0s and
  # three 10s and the IQM cannot move; an unstratified bootstrap would.
  result = statistics.aggregate_iqm([[0.0, 0.0, 0.0], [10.0, 10.0, 10.0]])
  assert result == {"iqm": 5.0, "lo": 5.0, "hi": 5.0}
  spread = statistics.aggregate_iqm([[0.0, 1.0, 2.0, 3.0], [10.0, 11.0, 13.0]])
  assert spread["lo"] < spread["iqm"] < spread["hi"]
  assert spread["iqm"] == pytest.approx(
      statistics.iqm([0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 13.0]))
  assert statistics.aggregate_iqm([[0.0, 1.0, 2.0, 3.0],
                                   [10.0, 11.0, 13.0]]) == spread


def test_probability_of_improvement_is_mann_whitney_averaged_over_tasks():
  rng = np.random.default_rng(1)
  x = [rng.normal(1.0, 1.0, 5), rng.normal(0.0, 1.0, 4)]
  y = [rng.normal(0.0, 1.0, 5), rng.normal(0.0, 1.0, 6)]
  expected = np.mean([
      stats.mannwhitneyu(a, b).statistic / (len(a) * len(b))
      for a, b in zip(x, y)])
  result = statistics.probability_of_improvement(x, y)
  assert result["p"] == pytest.approx(expected)
  assert result["lo"] <= result["p"] <= result["hi"]
  assert statistics.probability_of_improvement(x, y) == result


def test_probability_of_improvement_counts_ties_half():
  assert statistics.probability_of_improvement([[2.0, 2.0]], [[1.0]])[
      "p"] == 1.0
  assert statistics.probability_of_improvement([[1.0, 1.0]], [[1.0, 1.0]])[
      "p"] == 0.5
  assert statistics.probability_of_improvement([[1.0, 3.0]], [[1.0]])[
      "p"] == 0.75
  with pytest.raises(ValueError, match="same"):
    statistics.probability_of_improvement([[1.0]], [[1.0], [2.0]])


def test_pareto_front():
  shares = [0.1, 0.2, 0.5, 0.5, 0.05, 0.3]
  values = [1.0, 0.5, 2.0, 2.0, math.nan, 1.0]
  # 0.2 is beaten by 0.1 (smaller and harder); 0.3 ties 0.1's hardness with
  # a larger share; the two equal points do not dominate each other.
  assert statistics.pareto_front(shares, values) == [
      True, False, True, True, False, False]


def test_stratified_interval_covers_and_is_reproducible():
  strata = [[0.1, 0.5, 0.9, 1.3], [2.0, 2.5]]

  def pooled_mean(resampled):
    return np.concatenate(resampled, axis=-1).mean(axis=-1)

  a = statistics.stratified_interval(strata, pooled_mean, reps=500)
  b = statistics.stratified_interval(strata, pooled_mean, reps=500)
  assert a == b
  assert a[0] < np.mean([0.1, 0.5, 0.9, 1.3, 2.0, 2.5]) < a[1]


def test_min_iqm_is_the_interval_of_the_minimum():
  close = [[[1.0, 1.2, 0.8, 1.1, 0.9]], [[1.05, 1.25, 0.85, 1.15, 0.95]]]
  result = statistics.min_iqm(close)
  assert result["iqm"] == pytest.approx(statistics.iqm(close[0][0]))
  alone = statistics.aggregate_iqm(close[0])
  # The minimum of two close procedures sits lower than either alone.
  assert result["lo"] <= alone["lo"] and result["hi"] < alone["hi"]
  assert result["lo"] <= result["iqm"] <= result["hi"]
  far = [[[0.0, 0.1, 0.2]], [[5.0, 6.0, 7.0]]]
  assert statistics.min_iqm(far) == {
      **statistics.aggregate_iqm(far[0])}
  pooled = statistics.min_iqm([[[0.0, 0.0], [1.0, 1.0]]])
  assert pooled == {"iqm": 0.5, "lo": 0.5, "hi": 0.5}
