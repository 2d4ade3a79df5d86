"""The shell tools of `tools/` on CPU: a sweep in resumed, packed chunks
(`device_sweep.sh`) and records in parallel processes
(`parallel_records.sh`), on digits/mlp."""

import json
import os
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASK = "digits/mlp:num_updates=60"  # Seconds on CPU.
SLUG = "digits-mlp-num_updates=60"
SMALL = ["--seeds=2", "--num_originals=1", "--alphas=0.5",
         "--bootstrap_reps=100"]


def bash(tmp_path, *args, **env):
  """Runs a tool from `tmp_path`, a repository root holding only `tools/`,
  so its `results/` are the test's."""
  os.makedirs(tmp_path / "out", exist_ok=True)
  if not os.path.exists(tmp_path / "tools"):
    os.symlink(os.path.join(ROOT, "tools"), tmp_path / "tools")
  environment = {**os.environ, "OUT": str(tmp_path / "out"),
                 "PYTHONPATH": ROOT, "PATH": os.path.dirname(sys.executable)
                 + os.pathsep + os.environ["PATH"], **env}
  return subprocess.run(["bash", *args], cwd=tmp_path, env=environment,
                        capture_output=True, text=True, timeout=600)


def packed_records(tmp_path):
  with tarfile.open(tmp_path / "out" / f"{SLUG}.tgz") as archive:
    return sorted(name for name in archive.getnames()
                  if name.endswith(".json"))


def test_device_sweep_packs_each_chunk_and_resumes(tmp_path):
  cut = bash(tmp_path, "tools/device_sweep.sh", "0123abc", "1", TASK,
             "--splits=all", "--procedures=T1", *SMALL)
  assert cut.returncode == 0, cut.stderr
  log = (tmp_path / "out" / f"{SLUG}.log").read_text()
  assert "exit 124" in log  # Cut by the time limit, and still packed:
  assert os.path.isfile(tmp_path / "out" / f"{SLUG}.tgz")
  assert packed_records(tmp_path) == []

  first = bash(tmp_path, "tools/device_sweep.sh", "0123abc", "600", TASK,
               "--splits=all", "--procedures=T1", *SMALL)
  assert first.returncode == 0, first.stderr
  [record] = packed_records(tmp_path)
  assert record.startswith(f"results/records/{SLUG}/all__T1__")
  with open(tmp_path / record) as f:
    assert json.load(f)["provenance"]["git_commit"] == "0123abc"

  again = bash(tmp_path, "tools/device_sweep.sh", "0123abc", "600", TASK,
               "--splits=all", "--procedures=T1,T2", *SMALL)
  assert again.returncode == 0, again.stderr
  log = (tmp_path / "out" / f"{SLUG}.log").read_text()
  assert "1 record(s) written, 1 already done" in log
  assert len(packed_records(tmp_path)) == 2

  parallel = bash(tmp_path, "tools/parallel_records.sh", TASK, "1", "1",
                  "2", "layer.head:T1", "layer.hidden1:T1", "--",
                  str(tmp_path / "results"))
  assert parallel.returncode == 0, parallel.stdout + parallel.stderr
  records = os.listdir(tmp_path / "results" / "records" / SLUG)
  assert {name.split("__")[0] for name in records} >= {"layer.head",
                                                          "layer.hidden1"}


def test_parallel_records_refuses_without_originals(tmp_path):
  result = bash(tmp_path, "tools/parallel_records.sh", TASK, "1", "1", "2",
                "all:T1", "--", str(tmp_path / "results"))
  assert result.returncode == 2
  assert "train the originals first" in result.stderr
