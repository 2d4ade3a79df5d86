"""A record's identity and result fingerprints, and `benchmark.reproduce`:
last bits of floats change neither; a moved first reach or another question
does."""

import copy
import glob
import os
import shutil

import numpy as np
import pytest

from benchmark.sweeps import records, reproduce, storage
from conftest import ROOT, run_cli

PUBLISHED = os.path.join(ROOT, "results", "records", "digits-mlp")


def published_record(split="layer.head", procedure="T1"):
  (path,) = glob.glob(os.path.join(
      PUBLISHED, f"{split}__{procedure}__v2-data1-budget1-init__*.json"))
  return path, records.read(path)


def last_bits_changed(record):
  """The record as another CPU may write it: every performance float of
  every seed one float32 ulp away, content hash resealed."""
  other = copy.deepcopy(record)
  def next_float(value):
    return None if value is None else float(
        np.nextafter(np.float32(value), np.float32(np.inf)))

  for seed in other["seeds"]:
    seed["performance"] = [next_float(v) for v in seed["performance"]]
    seed["p_star"] = next_float(seed["p_star"])
  return records.finalise({k: v for k, v in other.items()
                           if k not in ("content_sha256", "schema")})


def test_last_bits_change_the_content_hash_but_not_identity_or_result():
  _, record = published_record()
  other = last_bits_changed(record)
  assert other["content_sha256"] != record["content_sha256"]
  assert records.record_id(other) == records.record_id(record)
  assert records.result_sha256(other) == records.result_sha256(record)


def test_a_moved_first_reach_changes_the_result_not_the_identity():
  _, record = published_record()
  other = copy.deepcopy(record)
  row = other["hardness"][1]
  costs = other["eval_costs"]
  row["t"][0] = costs[costs.index(row["t"][0]) + 1]
  assert records.record_id(other) == records.record_id(record)
  assert records.result_sha256(other) != records.result_sha256(record)
  assert reproduce.differences(other, record) == (
      f"alpha {row['alpha']:g}: 1 of {len(row['t'])} seed(s) first reach at "
      "another evaluation",)


@pytest.mark.parametrize("change", [
    lambda r: r["procedure"].update(name="T2"),
    lambda r: r["split"].update(mask_sha256="0" * 64),
    lambda r: r["task_config"].update(peak_learning_rate=1e-3),
    lambda r: r["seeds"][0].update(seed=99),
    lambda r: r["budget"].update(fraction=0.5),
])
def test_another_question_is_another_identity(change):
  _, record = published_record()
  other = copy.deepcopy(record)
  change(other)
  assert records.record_id(other) != records.record_id(record)


def test_reproduce_names_what_differs_and_exits_1(tmp_path):
  mine = tmp_path / "records" / "digits-mlp"
  mine.mkdir(parents=True)
  same_path, same = published_record("layer.head", "T1")
  storage.write_json_atomic(str(mine / os.path.basename(same_path)),
                            last_bits_changed(same))
  moved_path, moved = published_record("all", "T2")
  row = moved["hardness"][1]
  costs = moved["eval_costs"]
  row["t"][:2] = [costs[costs.index(t) + 1] for t in row["t"][:2]]
  storage.write_json_atomic(
      str(mine / os.path.basename(moved_path)),
      records.finalise({k: v for k, v in moved.items()
                        if k not in ("content_sha256", "schema")}))
  unpublished = copy.deepcopy(same)
  unpublished["split"]["name"] = "mine"
  storage.write_json_atomic(
      str(mine / "mine.json"),
      records.finalise({k: v for k, v in unpublished.items()
                        if k not in ("content_sha256", "schema")}))
  published = tmp_path / "published" / "records" / "digits-mlp"
  published.mkdir(parents=True)
  for path in (same_path, moved_path):
    shutil.copy(path, published)

  result = run_cli("benchmark.reproduce", f"--workdir={tmp_path}",
                   f"--published={tmp_path / 'published'}")
  assert result.returncode == 1, result.stderr[-2000:]
  lines = result.stdout.strip().splitlines()
  assert lines == [
      f"differs     digits-mlp/{os.path.basename(moved_path)}: alpha "
      f"{row['alpha']:g}: 2 of {len(row['t'])} seed(s) first reach at "
      "another evaluation",
      f"same        digits-mlp/{os.path.basename(same_path)}",
      "unpublished digits-mlp/mine.json",
      "mcbench reproduce: 1 of 2 published record(s) reproduced, 1 differ; "
      "1 not published"]
