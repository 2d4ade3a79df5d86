"""Type and location vs count, from a real protocol v2 digits sweep and the
committed Fashion-MNIST records."""

import itertools
import math
import os
import re
import shutil

import numpy as np
import pytest
from scipy import stats

from benchmark.publishing import analysis, board
from benchmark.sweeps import records, sweep
from conftest import ROOT, run_cli
from leaderboard_test import SLUG, TASK, as_v1, v2_records, v2_results
from contract.spec import InputError

ALPHA = 0.9


@pytest.fixture(scope="module")
def digits_sweep(tmp_path_factory):
  """The shared protocol v2 sweep (`leaderboard_test.v2_results`): 9 splits
  (layers, types, random scalar shares, roles) x T1-T4 x 3 seeds."""
  return v2_results(tmp_path_factory), v2_records(tmp_path_factory)


def by_name(rows):
  return {row.name: row for row in rows}


def test_features_of_the_digits_splits(digits_sweep):
  _, group = digits_sweep
  rows = by_name(analysis.split_rows(group, ALPHA))
  assert rows["layer.hidden1"].depth == 0.0
  assert rows["layer.hidden1"].depth < rows["layer.hidden2"].depth
  assert rows["layer.hidden2"].depth < rows["layer.head"].depth == 1.0
  assert {n for n, r in rows.items() if r.single_layer} == {
      "layer.hidden1", "layer.hidden2", "layer.head"}
  assert rows["type.biases"].single_type == "biases"
  assert rows["type.biases"].dominant == "biases"
  assert rows["type.kernels"].layers == ("hidden1", "hidden2", "head")
  assert rows["random-scalars.0.1"].family == "random_scalars"
  assert rows["role.all"].family == "roles"
  assert rows["role.all"].whole_model and not rows["layer.head"].whole_model


def test_security_is_the_minimum_iqm_over_procedures(digits_sweep):
  _, group = digits_sweep
  for row in analysis.split_rows(group, ALPHA):
    iqms = {r["procedure"]["name"]: board.hardness_row(r, ALPHA)["summary"]
            for r in group if r["split"]["name"] == row.name}
    assert row.security == min(s["iqm"] for s in iqms.values())
    assert row.censored == (iqms[row.procedure]["censored"] > 0)


def exact_two_sided_p(x, y):
  """Brute force over every pairing: twice the smaller tail, at most 1."""
  rx, ry = stats.rankdata(x), stats.rankdata(y)
  pairings = ry[np.array(list(itertools.permutations(range(len(y)))))]
  null = np.array([np.corrcoef(rx, p)[0, 1] for p in pairings])
  rho = np.corrcoef(rx, ry)[0, 1]
  return min(1.0, 2 * min(np.mean(null >= rho - 1e-12),
                          np.mean(null <= rho + 1e-12)))


def test_correlations_equal_scipy_on_the_same_vectors(digits_sweep):
  _, group = digits_sweep
  rows = analysis.split_rows(group, ALPHA)
  known = [r for r in rows if not r.whole_model]
  located = [r for r in known if r.family != "random_scalars"]
  (share, depth, *_) = analysis.correlations(rows)
  for (_, _, stat, _), chosen, feature in ((share, known, "share"),
                                           (depth, located, "depth")):
    x = [getattr(r, feature) for r in chosen]
    y = [r.security for r in chosen]
    assert stat.n == len(chosen) <= analysis.EXACT_MAX_N
    assert -1.0 <= stat.value <= 1.0
    assert stat.value == pytest.approx(stats.spearmanr(x, y).statistic)
    assert stat.p == pytest.approx(exact_two_sided_p(x, y))


def test_spearman_and_eta_squared_on_hand_made_vectors():
  x = np.arange(10.0)
  y = np.array([1.0, 0.0, 3.0, 2.0, 5.0, 4.0, 9.0, 6.0, 8.0, 7.0])
  large = analysis.spearman(x, y)
  assert (large.value, large.p) == pytest.approx(tuple(stats.spearmanr(x, y)))
  assert math.isnan(analysis.spearman([1, 2, 3], [5, 5, 5]).value)
  assert analysis.correlation_ratio([0, 0, 1, 1], "aabb") == 1.0
  assert analysis.correlation_ratio([0, 1, 0, 1], "aabb") == 0.0
  assert math.isnan(analysis.correlation_ratio([0, 1], "aa"))
  assert analysis.dominant_type(["biases", "kernels"]) == "kernels"
  assert analysis.dominant_type(["norm_scales", "running_stats",
                                 "running_stats"]) == "running_stats"


def test_output_is_byte_identical_and_needs_the_whole_model(digits_sweep,
                                                            tmp_path):
  workdir, group = digits_sweep
  source = sweep.records_dir(workdir, TASK)
  first, _, note = analysis.write(source, str(tmp_path / "a.md"), ALPHA)
  assert not note
  analysis.write(source, str(tmp_path / "b.md"), ALPHA)
  assert (tmp_path / "a.md").read_bytes() == (tmp_path / "b.md").read_bytes()
  assert analysis.build(group[::-1], ALPHA) == first
  assert "| layer.head | layers |" in first
  # Without --alpha: the records' headline alpha.
  headline = group[0]["protocol"]["headline_alpha"]
  default, _, _ = analysis.write(source, str(tmp_path / "c.md"))
  assert default == analysis.build(group, headline)
  assert f"alpha = {headline:g}: 9 splits from 36 records" in default
  with pytest.raises(InputError, match="no record withholds the whole model"):
    analysis.build([r for r in group if r["split"]["name"] != "role.all"],
                   ALPHA)
  with pytest.raises(InputError, match=r"alpha 0\.7 is not in"):
    analysis.build(group, 0.7)


def test_several_variants_pick_the_largest_or_the_named(digits_sweep):
  _, group = digits_sweep
  other = [{**r, "adversary": {**r["adversary"], "variant": "other"}}
           for r in group[:3]]
  chosen, note = analysis.select_group(group + other)
  assert chosen == sorted(group, key=lambda r: r["content_sha256"])
  assert "the one with the most records" in note
  assert analysis.select_group(group + other, "other")[0] == sorted(
      other, key=lambda r: r["content_sha256"])
  with pytest.raises(InputError, match="variants: .*other"):
    analysis.select_group(group + other, "nope")


def test_cli_writes_the_analysis_and_fails_in_one_line(digits_sweep,
                                                      tmp_path):
  source, _ = digits_sweep
  workdir = str(tmp_path / "results")
  shutil.copytree(source, workdir)
  result = run_cli("benchmark.analysis", f"--task={TASK}",
                   f"--workdir={workdir}", f"--alpha={ALPHA}")
  assert result.returncode == 0, result.stderr[-2000:]
  written = os.path.join(workdir, "leaderboard", f"{SLUG}_analysis.md")
  assert open(written).read() == result.stdout
  missing = run_cli("benchmark.analysis", "--task=digits/mlp",
                    f"--workdir={tmp_path}")
  assert missing.returncode == 2
  assert missing.stderr.strip().splitlines() == [
      f"mcbench: error: no valid record of protocol v2 in "
      f"{sweep.records_dir(str(tmp_path), 'digits/mlp')}"]


def test_only_protocol_v2_records_are_analysed(digits_sweep, tmp_path):
  source, group = digits_sweep
  folder = str(tmp_path / "records")
  shutil.copytree(os.path.join(source, "records", SLUG), folder)
  records.write(folder, as_v1(group[0]))
  markdown, bad, _ = analysis.write(folder, str(tmp_path / "a.md"), ALPHA)
  assert bad == [f"{folder}: 1 record(s) of protocol v1 left out, never "
                 "mixed with protocol v2"]
  assert markdown == analysis.build(group, ALPHA)
  with pytest.raises(InputError, match="protocol v1"):
    analysis.build(group + [as_v1(group[0])], ALPHA)


def test_committed_fashion_mnist_records_and_analysis():
  """The model structure of a batch-norm network, from the committed
  Fashion-MNIST records; its committed analysis rebuilds from its protocol
  v2 records, or, while it has none, is refused with the v1 notice."""
  results = os.path.join(ROOT, "results")
  source = sweep.records_dir(results, "fashion_mnist/cnn")
  good, bad = records.read_all(source)
  assert good and not bad
  group, _ = analysis.select_group(good)
  rows = by_name(analysis.split_rows(group, 0.99))
  assert rows["layer.conv1"].depth < rows["layer.bn1"].depth < rows[
      "layer.head"].depth
  assert {r.single_type for r in rows.values() if r.single_type} == {
      "kernels", "biases", "norm_scales", "norm_offsets", "running_stats"}
  current, notices = board.current_only(good, source)
  committed = os.path.join(results, "leaderboard",
                           "fashion_mnist-cnn_analysis.md")
  if current:
    group, _ = analysis.select_group(current)
    assert open(committed).read() == analysis.build(
        group, board.ranking_alpha(group)[0]) + "\n"
  else:
    with pytest.raises(InputError, match=re.escape(notices[0])):
      analysis.write(source, "unused.md")
