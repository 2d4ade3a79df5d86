"""CI regression of metric values: the check on the committed references,
a perturbed reference, the comparison and the tolerance bands."""

import json
import os
import re
import shutil

import numpy as np
import pytest

from benchmark.diagnostics import regression
from benchmark.sweeps import storage
from conftest import ROOT, run_cli
from contract.spec import InputError

REFERENCE_DIR = os.path.join(ROOT, "results", "reference")
CHEAPEST = "digits"  # The configuration the perturbed CLI check reruns.
# A hand-made evaluation grid (costs) and reference cost t0.
COSTS = [0, 1, 2, 4, 8, 16, 24, 32, 40]
T0 = 8.0
GRID = [c / T0 for c in COSTS]


def assert_one_line_error(result, message):
  assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
  lines = result.stderr.strip().splitlines()
  assert lines[-1].startswith("mcbench: error: "), result.stderr[-2000:]
  assert message in lines[-1], lines[-1]


# The CI regression step.


# One test per committed configuration, so that CI's workers share them.
@pytest.mark.parametrize("config", sorted(
    regression.config_name(path)
    for path in os.listdir(REFERENCE_DIR) if path.endswith(".json")))
def test_check_passes_on_the_committed_references(config):
  result = run_cli("benchmark.regression", "--check", f"--configs={config}",
                   timeout=900)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  last = result.stdout.strip().splitlines()[-1]
  assert "inside their bands" in last and "1 configuration(s)" in last, last


def test_a_changed_setting_is_caught_with_a_readable_diff(tmp_path):
  # The committed reference, checked against a sweep whose withheld
  # parameters restart from zeros instead of their initialisers: a change
  # of the completion alone (BUILD_NOTES: 40 of digits' 60 metrics move
  # out of band). On any CPU: the lines' numbers are read, not expected.
  data = json.load(open(os.path.join(REFERENCE_DIR, f"{CHEAPEST}.json")))
  data["settings"]["reinit"] = "zeros"
  (tmp_path / f"{CHEAPEST}.json").write_text(json.dumps(data))

  result = run_cli("benchmark.regression", "--check",
                   f"--reference_dir={tmp_path}", f"--configs={CHEAPEST}")
  assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
  # Notes name environment differences (another machine's CI), if any.
  lines = [line for line in result.stdout.strip().splitlines()
           if not line.startswith("note: ")]
  metrics = {(m["split"], m["procedure"], m["alpha"]): m
             for m in data["metrics"]}
  for line in lines[:-1]:
    found = re.fullmatch(
        rf"{CHEAPEST}: split (\S+), (T\d), alpha ([\d.]+): expected IQM in "
        r"\[([\d.]+), ([\d.]+)\] \(reference ([\d.]+)\), got ([\d.]+)", line)
    assert found, line
    split, procedure, alpha, lo, hi, reference, got = found.groups()
    metric = metrics[split, procedure, float(alpha)]
    assert (float(lo), float(hi), float(reference)) == tuple(
        round(v, len(lo.split(".")[1])) for v in (*metric["band"],
                                                  metric["iqm"]))
    assert not float(lo) <= float(got) <= float(hi), line
  assert lines[-1] == (f"mcbench regression: FAILED: {len(lines) - 1} of "
                       f"{len(data['metrics'])} metrics out of band, 0 "
                       "missing on one side, in 1 of 1 configuration(s)")
  assert len(lines) - 1 >= 10  # Not one stray metric: the sweep changed.


# Bad input.


def test_unknown_configuration_is_a_one_line_error():
  result = run_cli("benchmark.regression", "--check", "--configs=nope")
  assert_one_line_error(result, "unknown configuration 'nope'")
  assert "digits" in result.stderr  # The known ones are listed.


def test_malformed_reference_file_is_a_one_line_error(tmp_path):
  (tmp_path / "broken.json").write_text("{not json")
  result = run_cli("benchmark.regression", "--check",
                   f"--reference_dir={tmp_path}")
  assert_one_line_error(result, "cannot read")


@pytest.mark.parametrize("content, message", [
    ([], "not a JSON object"),
    ({"name": "other", "settings": {"task": "digits/mlp"}}, "its name"),
    ({"name": "bad"}, "no settings"),
    ({"name": "bad", "settings": {"task": "digits/mlp"}}, "no metrics"),
    ({"name": "bad", "settings": {"task": "digits/mlp"},
      "metrics": [{"split": "all", "procedure": "T1", "alpha": 0.5}]},
     "metric 0 needs"),
    ({"name": "bad", "settings": {"task": "digits/mlp", "sedes": 3},
      "metrics": [{"split": "all", "procedure": "T1", "alpha": 0.5,
                   "iqm": 1.0, "band": [0.5, 1.5]}]}, "unknown setting"),
])
def test_malformed_references_are_refused_before_anything_runs(
    tmp_path, content, message):
  (tmp_path / "bad.json").write_text(json.dumps(content))
  paths = regression.reference_paths(str(tmp_path), ["bad"])
  with pytest.raises(InputError, match=message):
    regression.load_references(paths, need_metrics=True)


def test_unknown_names_and_empty_folders_are_refused(tmp_path):
  with pytest.raises(InputError, match="no reference file"):
    regression.reference_paths(str(tmp_path), None)
  with pytest.raises(InputError, match="unknown configuration '../x'"):
    regression.reference_paths(REFERENCE_DIR, ["../x"])


# The comparison, on hand-made records.


def fake_record(split, procedure, rows):
  """The parts of a record that metrics come from; `rows` maps alpha to
  each seed's cost `t` (None: censored)."""
  hardness = []
  for alpha, ts in rows.items():
    values = [(COSTS[-1] if t is None else t) / T0 for t in ts]
    hardness.append({"alpha": alpha, "t0": T0, "t": ts, "hardness": values,
                     "censored": [t is None for t in ts],
                     "summary": {"iqm": float(regression.iqm(values))}})
  return {"split": {"name": split}, "procedure": {"name": procedure},
          "eval_costs": COSTS, "hardness": hardness}


def fake_records():
  return [fake_record("layer.head", "T1", {0.5: [4, 8, 8, 16, 8],
                                           0.9: [16, 24, 16, None, 24]}),
          fake_record("all", "T2", {0.5: [8, 8, 8, 8, 8],
                                    0.9: [24, 32, 24, 24, 32]})]


def fake_reference():
  return json.loads(json.dumps(regression.build_reference(
      "toy", {"task": "toy/task"}, fake_records(), {"jax": "0"})))


def test_reference_is_sorted_and_reproducible(tmp_path):
  reference = fake_reference()
  keys = [(m["split"], m["procedure"], m["alpha"])
          for m in reference["metrics"]]
  assert keys == sorted(keys) and len(keys) == 4
  assert reference == fake_reference()
  storage.write_json_atomic(str(tmp_path / "a.json"), reference)
  storage.write_json_atomic(str(tmp_path / "b.json"), fake_reference())
  assert ((tmp_path / "a.json").read_bytes() ==
          (tmp_path / "b.json").read_bytes())


def test_unchanged_records_agree_with_their_reference():
  assert not regression.compare(fake_reference(), fake_records())


def test_a_perturbed_fresh_record_is_one_readable_difference():
  reference = fake_reference()
  records = fake_records()
  # Every seed of one cell recovers much later: t 8 -> 40 (censored).
  records[1] = fake_record("all", "T2", {0.5: [None] * 5,
                                         0.9: [24, 32, 24, 24, 32]})
  (difference,) = regression.compare(reference, records)
  assert difference.key == regression.Key("all", "T2", 0.5)
  assert difference.got == 5.0 and difference.reference_iqm == 1.0
  # Zero variance at t = 8: one evaluation step either way (4 or 16).
  assert difference.band == (0.5, 2.0)
  assert difference.line == ("toy: split all, T2, alpha 0.5: expected IQM "
                             "in [0.500, 2.000] (reference 1.000), got 5.000")


def test_missing_metrics_are_reported_on_either_side():
  reference = fake_reference()
  records = fake_records()[:1] + [fake_record("all", "T3", {0.5: [8] * 5})]
  lines = [d.line for d in regression.compare(reference, records)]
  assert lines == [
      "toy: split all, T2, alpha 0.5: missing from the rerun (reference IQM "
      "1.000)",
      "toy: split all, T2, alpha 0.9: missing from the rerun (reference IQM "
      "3.333)",
      "toy: split all, T3, alpha 0.5: not in the reference (got 1.000)"]
  summary = regression.summary_line(regression.compare(reference, records),
                                    4, 1)
  assert "0 of 4 metrics out of band, 3 missing" in summary


def test_cells_without_t0_are_left_out():
  record = fake_record("all", "T1", {0.5: [8] * 5})
  record["hardness"].append({"alpha": 0.9, "t0": 0.0, "t": [0] * 5,
                             "hardness": [None] * 5, "censored": [False] * 5,
                             "summary": None})
  assert list(regression.record_metrics(record)) == [
      regression.Key("all", "T1", 0.5)]


def test_a_difference_shows_enough_digits_to_tell_values_apart():
  difference = regression.Difference(
      "toy", regression.Key("all", "T1", 0.5), 1.0, (0.9999, 1.0), 1.00004)
  assert difference.line.endswith(
      "expected IQM in [0.99990, 1.00000] (reference 1.00000), got 1.00004")


# The tolerance band.


def band_of(positions, **kwargs):
  values = [GRID[p] for p in positions]
  return regression.tolerance_band(values, GRID, positions, **kwargs)


@pytest.mark.parametrize("position", [1, 4, 7])
def test_zero_variance_gets_exactly_one_evaluation_step(position):
  band = band_of([position] * 5)
  assert band["bootstrap"] == [GRID[position], GRID[position]]
  assert band["band"] == [GRID[position - 1], GRID[position + 1]]


def test_seeds_at_the_ends_of_the_grid_stay():
  assert band_of([0] * 5)["band"] == [0.0, GRID[1]]
  assert band_of([len(GRID) - 1] * 3)["band"] == [GRID[-2], GRID[-1]]


def test_a_wider_seed_spread_gives_a_wider_band():
  narrow = band_of([5, 5, 6, 5, 6])["band"]
  wide = band_of([2, 4, 5, 7, 8])
  lo, hi = wide["band"]
  assert hi - lo > narrow[1] - narrow[0]
  # There the seeds' spread, not the resolution, sets the band.
  assert hi - lo > wide["resolution"][1] - wide["resolution"][0]


def test_band_contains_the_reference_iqm_and_is_deterministic():
  rng = np.random.default_rng(1)
  for _ in range(20):
    positions = [int(p) for p in rng.integers(0, len(GRID), size=5)]
    band = band_of(positions)
    centre = float(regression.iqm([GRID[p] for p in positions]))
    assert band["band"][0] <= centre <= band["band"][1]
    assert GRID[0] <= band["band"][0] and band["band"][1] <= GRID[-1]
    assert band == band_of(positions)


def test_bootstrap_band_is_the_two_sample_difference_of_iqms():
  values = [0.5, 1.0, 1.5, 2.0, 4.0]
  lo, hi = regression.bootstrap_band(values, reps=2000, seed=0)
  assert (lo, hi) == regression.bootstrap_band(values, reps=2000, seed=0)
  assert (lo, hi) != regression.bootstrap_band(values, reps=2000, seed=1)
  centre = float(regression.iqm(values))
  assert lo < centre < hi
  # Differences of two exchangeable resamples: about symmetric around 0.
  assert hi - centre == pytest.approx(centre - lo, rel=0.25)


def test_bands_are_corrected_for_the_number_of_metrics():
  assert regression.band_percentiles(1) == (2.5, 97.5)
  low, high = regression.band_percentiles(50)
  assert low == pytest.approx(0.05) and high == pytest.approx(99.95)
  values = [0.5, 1.0, 1.5, 2.0, 4.0]
  one = regression.bootstrap_band(values, regression.band_percentiles(1))
  many = regression.bootstrap_band(values, regression.band_percentiles(60))
  assert many[0] < one[0] and many[1] > one[1]


def test_committed_references_are_well_formed():
  paths = regression.reference_paths(REFERENCE_DIR, None)
  references = regression.load_references(paths, need_metrics=True)
  assert {r["name"] for r in references} >= {"digits", "fashion_mnist",
                                             "cartpole"}
  for reference in references:
    assert reference["schema"] == regression.SCHEMA_ID
    count = len(reference["metrics"])
    assert reference["band"]["percentiles"] == list(
        regression.band_percentiles(count))
    for metric in reference["metrics"]:
      lo, hi = metric["band"]
      assert lo <= metric["iqm"] <= hi
    values = [v for m in reference["metrics"] for v in m["hardness"]]
    assert any(v > 0 for v in values)  # Not all 0 ...
    assert not all(all(m["censored"]) for m in reference["metrics"])
  cartpole = next(r for r in references if r["name"] == "cartpole")
  value_head = [m for m in cartpole["metrics"]
                if m["split"] == "stage.value_head"]
  assert value_head and all(m["iqm"] == 0.0 for m in value_head)


def test_a_reference_needs_only_settings_to_be_refreshed(tmp_path):
  shutil.copy(os.path.join(REFERENCE_DIR, f"{CHEAPEST}.json"), tmp_path)
  (tmp_path / "new.json").write_text(json.dumps(
      {"name": "new", "settings": {"task": "digits/mlp", "seeds": 2}}))
  paths = regression.reference_paths(str(tmp_path), ["new"])
  (reference,) = regression.load_references(paths, need_metrics=False)
  settings = regression.sweep_settings(reference["settings"], "/tmp/w")
  assert settings.seeds == 2 and settings.workdir == "/tmp/w"
  assert isinstance(settings.splits, tuple)
  with pytest.raises(InputError, match="no metrics"):
    regression.load_references(paths, need_metrics=True)
