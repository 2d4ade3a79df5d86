"""Hardness arithmetic on hand-made curves."""

import math

import numpy as np
import pytest

from benchmark.science import hardness
from contract.spec import InputError

COSTS = [0, 10, 20, 40]


def test_first_reach_on_a_four_point_curve():
  curve = [0.0, 0.5, 0.95, 1.0]
  assert hardness.first_reach(COSTS, curve, 0.5) == 10
  assert hardness.first_reach(COSTS, curve, 0.9) == 20
  assert hardness.first_reach(COSTS, curve, 1.0) == 40


def test_first_reach_ignores_unevaluated_points_and_can_fail():
  assert hardness.first_reach(COSTS, [0.0, math.nan, 0.95, math.nan],
                              0.9) == 20
  assert hardness.first_reach(COSTS, [0.0, 0.1, 0.2, 0.3], 0.9) is None


def test_normalise():
  np.testing.assert_allclose(hardness.normalise([0.1, 0.55, 1.0], 0.1, 1.0),
                             [0.0, 0.5, 1.0])
  with pytest.raises(InputError, match="not above the reference"):
    hardness.normalise([0.1], 0.1, 0.1)


def test_reference_is_median_over_originals():
  originals = [[0.0, 0.9, 1.0, 1.0], [0.0, 0.5, 0.9, 1.0],
               [0.0, 0.2, 0.5, 1.0]]
  assert hardness.reference_costs(COSTS, originals, [0.9]) == [20.0]
  assert hardness.reference_costs(COSTS, originals, [0.5, 1.0]) == [10.0, 40.0]


def test_zero_cost_censored_and_ordinary_seeds():
  assert hardness.seed_hardness(0, 20.0, 40.0) == (0.0, False)
  assert hardness.seed_hardness(10, 20.0, 40.0) == (0.5, False)
  assert hardness.seed_hardness(None, 20.0, 40.0) == (2.0, True)
  assert hardness.seed_hardness(10, 0.0, 40.0) == (None, False)


def test_hardness_table_counts_censored_runs_at_the_budget():
  seeds = [[1.0, 1.0, 1.0, 1.0],      # starts recovered: cost 0
           [0.0, 0.95, 1.0, 1.0],     # t = 10
           [0.0, 0.1, 0.2, 0.3]]      # never: censored at B = 40
  (row,) = hardness.hardness_table(COSTS, seeds, [20.0], [0.9], 40.0,
                                   reps=500)
  assert row["t"] == [0, 10, None]
  assert row["hardness"] == [0.0, 0.5, 2.0]
  assert row["censored"] == [False, False, True]
  summary = row["summary"]
  assert summary["median"] == 0.5
  assert summary["censored"] == 1
  assert summary["censored_bound"] == 2.0
  assert summary["iqm_ci"][0] <= summary["iqm"] <= summary["iqm_ci"][1]


def test_intervals_are_reproducible_and_cover_the_estimate():
  values = [0.3, 0.9, 1.1, 1.0, 2.5, 0.8]
  a = hardness.interval_estimates(values, reps=1000, seed=3)
  b = hardness.interval_estimates(values, reps=1000, seed=3)
  assert a == b
  assert a["median"] == pytest.approx(0.95)
  # IQM of six values: trim one from each end, mean of the middle four.
  assert a["iqm"] == pytest.approx(np.mean([0.8, 0.9, 1.0, 1.1]))
  for name in ("median", "iqm"):
    low, high = a[f"{name}_ci"]
    assert low <= a[name] <= high and low < high


@pytest.mark.parametrize("alphas", [[0.0], [1.5], [-0.1, 0.5], []])
def test_alphas_outside_the_unit_interval_are_refused(alphas):
  with pytest.raises(InputError):
    hardness.validate_alphas(alphas)


def test_alphas_are_sorted_and_deduplicated():
  assert hardness.validate_alphas([0.99, 0.5, 0.5, 1]) == (0.5, 0.99, 1.0)
