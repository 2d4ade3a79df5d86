"""Submitting a split scheme: a real digits sweep against the committed
(published) originals, its place in the tables and the page, and every
refusal leaving the results folder untouched."""

import glob
import os
import shutil

import pytest

from benchmark.publishing import board, submit
from benchmark.sweeps import records
from conftest import ROOT, run_cli
from contract.spec import InputError

SCHEME = """\
name: input-and-head
description: withhold the first hidden layer and the classifier
tasks: ["digits/mlp"]
withhold:
  - "params/hidden1/**"
  - "params/head/**"
"""


@pytest.fixture()
def results_dir(tmp_path):
  """The committed digits results: published originals and records."""
  target = str(tmp_path / "results")
  for part in ("originals", "records"):
    shutil.copytree(os.path.join(ROOT, "results", part, "digits-mlp"),
                    os.path.join(target, part, "digits-mlp"))
  return target


def snapshot(directory):
  """Every file under `directory` with its size and modification time."""
  return {path: (os.path.getsize(path), os.path.getmtime(path))
          for path in glob.glob(os.path.join(directory, "**"), recursive=True)
          if os.path.isfile(path)}


def test_submitted_scheme_is_run_and_published(results_dir, tmp_path):
  scheme = tmp_path / "input-and-head.yaml"
  scheme.write_text(SCHEME)
  published = sorted(glob.glob(os.path.join(results_dir, "records",
                                            "digits-mlp", "*__v2-*.json")))
  standard = records.read(published[0])  # Of protocol v2: v1's are ignored.

  result = run_cli("benchmark.submit", f"--scheme={scheme}",
                   "--task=digits/mlp", f"--workdir={results_dir}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "input-and-head on digits/mlp, alpha 0.9: security" in result.stdout
  new = sorted(glob.glob(os.path.join(results_dir, "records", "digits-mlp",
                                      "input-and-head__*__v2-*.json")))
  assert [os.path.basename(p).split("__")[1] for p in new] == [
      "T1", "T2", "T3", "T4"]
  for path in new:  # The published sweep's settings and originals.
    record = records.read(path)
    assert record["originals_sha256"] == standard["originals_sha256"]
    assert record["adversary"]["variant"] == standard["adversary"]["variant"]
    assert len(record["seeds"]) == len(standard["seeds"])
    assert record["alphas"] == standard["alphas"]
    assert sorted(record["split"]["paths"]) == [
        "params/head/bias", "params/head/kernel", "params/hidden1/bias",
        "params/hidden1/kernel"]
  kept = os.path.join(results_dir, "submissions", "input-and-head.yaml")
  assert open(kept).read() == SCHEME
  board_text = open(os.path.join(results_dir, "LEADERBOARD.md")).read()
  row = next(line for line in board_text.splitlines()
             if "| input-and-head |" in line)
  assert "[T1](records/digits-mlp/input-and-head__T1__" in row
  assert row.count("[") >= 8  # Intervals and links.
  page = open(os.path.join(results_dir, "site", "index.html")).read()
  assert "input-and-head" in page

  # Resubmitting resumes: what the command calls, in this process.
  before = snapshot(os.path.join(results_dir, "records"))
  again = submit.submit(str(scheme), "digits/mlp", results_dir,
                        log=lambda _: None)
  assert sorted(again["records"]) == new
  # The folder's v1 records are noticed, nothing is invalid.
  assert all(board.is_notice(line) for line in again["bad"])
  assert snapshot(os.path.join(results_dir, "records")) == before  # Resumed.


def test_a_mask_that_a_split_already_has_gets_its_numbers(results_dir,
                                                         tmp_path):
  """Keys come from the mask: a copy of the head under another name is run
  with a note and gets the published numbers of the head."""
  scheme = tmp_path / "my-head.yaml"
  scheme.write_text(SCHEME.replace("input-and-head", "my-head").replace(
      '  - "params/hidden1/**"\n', ""))
  notes = []
  result = submit.submit(str(scheme), "digits/mlp", results_dir,
                         log=notes.append)
  assert any("withholds the same parameters as" in n and "layer.head" in n
             for n in notes), notes
  for path in result["records"]:
    mine = records.read(path)
    (head,) = glob.glob(os.path.join(
        results_dir, "records", "digits-mlp",
        f"layer.head__{mine['procedure']['name']}__v2-*.json"))
    assert mine["hardness"] == records.read(head)["hardness"]


REFUSED = {
    "malformed": ("name: [unclosed\n", "malformed scheme file"),
    "built-in name": (SCHEME.replace("input-and-head", "layer.head"),
                      "is a built-in split of digits/mlp"),
    "other task": (SCHEME.replace('["digits/mlp"]', '["fashion_mnist/cnn"]'),
                   "applies to fashion_mnist/cnn, not to digits/mlp"),
    "no match": (SCHEME.replace("params/head/**", "params/output/**"),
                 "params/output/**"),
    "code": ("!!python/object/apply:os.system ['echo hacked']\n",
             "malformed scheme file"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_invalid_submissions_are_refused_and_nothing_is_written(
    case, results_dir, tmp_path):
  text, message = REFUSED[case]
  scheme = tmp_path / "scheme.yaml"
  scheme.write_text(text)
  before = snapshot(results_dir)
  with pytest.raises(InputError, match=message.replace("*", r"\*")):
    submit.submit(str(scheme), "digits/mlp", results_dir, log=lambda _: None)
  assert snapshot(results_dir) == before


def test_a_taken_name_and_a_task_without_originals_are_refused(
    results_dir, tmp_path):
  os.makedirs(os.path.join(results_dir, "submissions"))
  taken = os.path.join(results_dir, "submissions", "input-and-head.json")
  open(taken, "w").write('{"name": "input-and-head", '
                         '"withhold": ["params/head/**"]}')
  scheme = tmp_path / "input-and-head.yaml"
  scheme.write_text(SCHEME)
  before = snapshot(results_dir)
  result = run_cli("benchmark.submit", f"--scheme={scheme}",
                   "--task=digits/mlp", f"--workdir={results_dir}")
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == (
      "mcbench: error: a different scheme named 'input-and-head' was already "
      f"submitted ({taken}); choose another name")
  fresh = tmp_path / "fresh.yaml"
  fresh.write_text(SCHEME.replace("input-and-head", "fresh"))
  with pytest.raises(InputError, match="has no published originals"):
    submit.submit(str(fresh), "digits/mlp:num_updates=400", results_dir,
                  log=lambda _: None)
  assert snapshot(results_dir) == before
