"""DESIGN.md calibration on digits/mlp with the default recipe and seeds.

* Withholding every variable under T2 *is* training from scratch: its
  hardness at alpha = 0.9 is 1 within its bootstrap interval.
* Withholding only the final bias (reset to its initial zeros) barely changes
  the model: hardness at most 0.1 under every procedure.
"""

import pytest

from benchmark.sweeps import records, sweep


@pytest.fixture(scope="module")
def calibration(digits_workdir, tmp_path_factory):
  bias_scheme = tmp_path_factory.mktemp("schemes") / "final-bias.yaml"
  bias_scheme.write_text("name: final-bias\nwithhold: ['params/head/bias']\n")
  settings = sweep.SweepSettings(
      task="digits/mlp", splits=("all", str(bias_scheme)),
      procedures=("T1", "T2", "T3", "T4"), seeds=5, alphas=(0.9,),
      workdir=digits_workdir)
  result = sweep.run_sweep(settings, log=lambda _: None)
  found = {}
  for path in result["records"] + result["skipped"]:
    record = records.read(path)
    found[(record["split"]["name"], record["procedure"]["name"])] = record
  return found


def summary(record):
  (row,) = record["hardness"]
  return row["summary"]


def test_everything_withheld_under_t2_is_scratch_training(calibration):
  result = summary(calibration[("all", "T2")])
  low, high = result["iqm_ci"]
  assert low <= 1.0 <= high, result
  assert result["censored"] == 0


@pytest.mark.parametrize("procedure", ["T1", "T2", "T3", "T4"])
def test_withholding_the_final_bias_is_almost_free(calibration, procedure):
  result = summary(calibration[("final-bias", procedure)])
  assert result["iqm"] <= 0.1 and result["iqm_ci"][1] <= 0.1, result
