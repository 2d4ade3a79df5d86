"""Records: schema, atomic writes, tamper detection, leaderboard build."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from benchmark.publishing import leaderboard
from benchmark.sweeps import records, storage, sweep
from conftest import ROOT
from contract.spec import InputError


@pytest.fixture(scope="module")
def sweep_result(tmp_path_factory, digits_workdir):
  settings = sweep.SweepSettings(
      task="digits/mlp", splits=("layer.head", "type.biases"),
      procedures=("T1", "T2"), seeds=2, alphas=(0.5, 0.9),
      workdir=digits_workdir, bootstrap_reps=200)
  return sweep.run_sweep(settings, log=lambda _: None)


def test_one_valid_record_per_split_and_procedure(sweep_result):
  paths = sweep_result["records"] + sweep_result["skipped"]
  assert len(paths) == 4
  names = sorted(os.path.basename(p).split("__")[0] + "/" +
                 os.path.basename(p).split("__")[1] for p in paths)
  assert names == ["layer.head/T1", "layer.head/T2", "type.biases/T1",
                   "type.biases/T2"]
  record = records.read(sweep_result["records"][0])
  assert record["split"]["withheld"] > 0
  assert len(record["seeds"]) == 2
  assert [row["alpha"] for row in record["hardness"]] == [0.5, 0.9]
  assert record["provenance"]["jax"]
  assert record["reference"]["t0"][0] <= record["reference"]["t0"][1]
  assert {o["seed"] for o in record["originals"]} == {0, 1, 2}
  # Boards and figures say how many seeds a cell has, in words.
  assert records.seeds_in_words(record) == "2 seeds"
  assert records.seeds_in_words({**record, "seeds": record["seeds"][:1]}) == (
      "1 seed")


def test_edited_record_is_detected(sweep_result, tmp_path):
  record = json.load(open(sweep_result["records"][0]))
  record["hardness"][0]["hardness"][0] = 123.0
  path = str(tmp_path / "edited.json")
  json.dump(record, open(path, "w"))
  with pytest.raises(InputError, match="corrupt or was edited"):
    records.read(path)


def test_schema_violation_is_named(sweep_result, tmp_path):
  record = json.load(open(sweep_result["records"][0]))
  del record["seeds"]
  path = str(tmp_path / "broken.json")
  json.dump(record, open(path, "w"))
  with pytest.raises(InputError, match="'seeds' is a required property"):
    records.read(path)


def test_truncated_record_is_named(tmp_path):
  path = tmp_path / "cut.json"
  path.write_text('{"schema": "mcbench.rec')
  with pytest.raises(InputError, match="cannot read"):
    records.read(str(path))


def test_leaderboard_reports_bad_records_and_keeps_good_ones(sweep_result,
                                                             tmp_path):
  for i, source in enumerate(sweep_result["records"][:2]):
    (tmp_path / f"r{i}.json").write_text(open(source).read())
  (tmp_path / "bad.json").write_text("{}")
  markdown, bad = leaderboard.write(str(tmp_path), str(tmp_path / "lb.md"))
  assert len(bad) == 1 and "bad.json" in bad[0]
  assert "| layer.head |" in markdown or "| type.biases |" in markdown
  with pytest.raises(InputError, match="no valid record"):
    leaderboard.write(str(tmp_path / "empty"), str(tmp_path / "x.md"))


def test_leaderboard_is_deterministic(sweep_result):
  loaded = [records.read(p) for p in sweep_result["records"]]
  assert leaderboard.build(loaded) == leaderboard.build(loaded[::-1])


def test_atomic_write_leaves_no_temporary_file(tmp_path):
  path = str(tmp_path / "a.json")
  storage.write_json_atomic(path, {"x": 1})
  with pytest.raises(ValueError):
    storage.write_json_atomic(path, {"x": float("nan")})
  assert os.listdir(tmp_path) == ["a.json"]
  assert json.load(open(path)) == {"x": 1}


def test_rerun_skips_finished_records(sweep_result, digits_workdir):
  settings = sweep.SweepSettings(
      task="digits/mlp", splits=("layer.head", "type.biases"),
      procedures=("T1", "T2"), seeds=2, alphas=(0.5, 0.9),
      workdir=digits_workdir, bootstrap_reps=200)
  again = sweep.run_sweep(settings, log=lambda _: None)
  assert again["records"] == []
  assert len(again["skipped"]) == 4


def test_matmul_precision_is_a_variant_and_in_provenance(digits_workdir):
  settings = sweep.SweepSettings(
      task="digits/mlp", splits=("layer.head",), procedures=("T1",),
      seeds=2, alphas=(0.5, 0.9), workdir=digits_workdir, bootstrap_reps=200,
      matmul_precision="bfloat16")
  [path] = sweep.run_sweep(settings, log=lambda _: None)["records"]
  record = records.read(path)
  assert record["adversary"]["variant"].endswith("-mmbfloat16")
  assert record["provenance"]["matmul_precision"] == "bfloat16"
  program = record["provenance"]["program"]
  assert program["jobs"] == 1 and program["wall_time_s"] > 0
  with pytest.raises(InputError, match="unknown matmul precision 'fp8'"):
    sweep.run_sweep(dataclasses.replace(settings, matmul_precision="fp8"))


WRITER = """
import json, sys
from benchmark.sweeps import records
template, out_dir, writer = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
body = {k: v for k, v in template.items() if k not in ("schema", "content_sha256")}
for i in range(12):
  # Twelve records of its own, and the same shared one again and again.
  for name in (f"w{writer}-{i}", "shared"):
    records.write(out_dir, records.finalise(
        {**body, "split": {**body["split"], "name": name}}))
"""


def test_concurrent_writers_lose_nothing(sweep_result, tmp_path):
  """Four processes writing into one records folder at once: every record
  arrives whole, none is lost, no temporary file is left."""
  template = tmp_path / "template.json"
  template.write_text(open(sweep_result["records"][0]).read())
  out_dir = tmp_path / "records"
  env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
  writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(template),
                               str(out_dir), str(w)], env=env, cwd=ROOT)
             for w in range(4)]
  assert [w.wait(timeout=300) for w in writers] == [0] * 4
  good, bad = records.read_all(str(out_dir))
  assert not bad
  assert sorted(r["split"]["name"] for r in good) == sorted(
      [f"w{w}-{i}" for w in range(4) for i in range(12)] + ["shared"])
  assert all(name.endswith(".json") for name in os.listdir(out_dir))


def test_atomic_write_gives_an_ordinary_file_mode(tmp_path):
  path = str(tmp_path / "a.json")
  old = os.umask(0o022)
  try:
    storage.write_json_atomic(path, {"x": 1})
  finally:
    os.umask(old)
  assert os.stat(path).st_mode & 0o777 == 0o644
