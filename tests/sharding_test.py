"""Runs spread over several devices, and over several processes with
`jax.distributed`: the same records as on one device."""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, run_cli

from benchmark.engine import sharding
from contract import spec

SWEEP = ("--task=digits/mlp:num_updates=120",
         "--splits=layer.hidden2,layer.head", "--procedures=T1,T2",
         "--seeds=3", "--num_originals=1", "--jobs_per_program=2")


def forced_cpu_devices(count):
  return {"XLA_FLAGS": f"--xla_force_host_platform_device_count={count}"}


def read_records(workdir):
  paths = glob.glob(os.path.join(workdir, "records", "*", "*.json"))
  assert len(paths) == 4
  return {os.path.basename(p): json.load(open(p)) for p in paths}


def sweep_records(workdir, *flags, stdout=None):
  result = run_cli("benchmark.run", *SWEEP, f"--workdir={workdir}", *flags,
                   env=forced_cpu_devices(4))
  assert result.returncode == 0, result.stderr[-2000:]
  if stdout is not None:
    stdout.append(result.stdout)
  return read_records(workdir)


def assert_same_metrics(expected, got, devices_used):
  assert expected.keys() == got.keys()
  for name, record in expected.items():
    assert got[name]["provenance"]["devices_used"] == devices_used
    assert record["seeds"] == got[name]["seeds"], name
    assert record["hardness"] == got[name]["hardness"], name


@pytest.fixture(scope="module")
def one_device_workdir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("one"))


@pytest.fixture(scope="module")
def one_device(one_device_workdir):
  records = sweep_records(one_device_workdir, "--num_devices=1")
  for record in records.values():
    assert record["provenance"]["devices_used"] == 1
  return records


def test_four_devices_give_the_records_of_one(one_device, tmp_path):
  # 6 runs a program over 4 devices: shares of 2, the last one padded. A
  # memory limit makes the engine size each device's share first.
  stdout = []
  records = sweep_records(str(tmp_path), "--memory_limit_gib=64",
                          stdout=stdout)
  assert_same_metrics(one_device, records, 4)
  assert "device memory: 2 of 2 run(s) vmapped together need" in stdout[0]


def test_refilled_slots_on_four_devices_give_the_records_of_one(
    one_device, one_device_workdir, tmp_path):
  # One slot a device: each device's two runs go through it one after the
  # other, the second taking the slot when the first stops. The originals
  # are the one-device sweep's (`--vmap_size` would also train them in
  # turn, which changes their bits).
  shutil.copytree(os.path.join(one_device_workdir, "originals"),
                  tmp_path / "originals")
  records = sweep_records(str(tmp_path), "--refill", "--vmap_size=1")
  # Equal up to the rounding of another batching: a slot's update is a
  # vmap of width 1 rather than of the program's runs.
  assert one_device.keys() == records.keys()
  for name, record in one_device.items():
    got = records[name]
    assert got["provenance"]["devices_used"] == 4
    for expected_seed, got_seed in zip(record["seeds"], got["seeds"]):
      np.testing.assert_allclose(
          np.asarray(got_seed["performance"], float),
          np.asarray(expected_seed["performance"], float), atol=1e-5)
    for expected_alpha, got_alpha in zip(record["hardness"], got["hardness"]):
      assert got_alpha["t"] == expected_alpha["t"], name
  for record in records.values():
    assert record["provenance"]["flags"]["refill"] is True


def test_two_processes_give_the_records_of_one(one_device, tmp_path):
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu",
         **forced_cpu_devices(2)}
  processes = [subprocess.Popen(
      [sys.executable, "-m", "benchmark.run", *SWEEP,
       f"--workdir={tmp_path}", "--distributed",
       f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
       f"--process_id={i}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for i in range(2)]
  outputs = [p.communicate(timeout=600) for p in processes]
  for p, (_, err) in zip(processes, outputs):
    assert p.returncode == 0, err[-2000:]
  assert "record(s) written" in outputs[0][0]
  assert "record(s) written" not in outputs[1][0]  # Computes, writes not.
  assert_same_metrics(one_device, read_records(str(tmp_path)), 4)


def test_more_devices_than_there_are_is_an_input_error():
  with pytest.raises(spec.InputError, match="asked for 64 device"):
    sharding.run_mesh(64)
