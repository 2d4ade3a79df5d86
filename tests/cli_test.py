"""The command-line entry points end to end on digits, and bad input."""

import dataclasses
import glob
import json
import os
import shutil
import subprocess
import sys

import pytest
from absl import flags

from benchmark import perf as perf_command
from benchmark.diagnostics import perf
from benchmark.sweeps import originals as originals_lib
from conftest import ROOT, built_once, run_cli
from contract.spec import InputError
from tasks import registry

SMALL = ["--splits=layer.head", "--procedures=T1,T3", "--seeds=2",
         "--num_originals=2", "--alphas=0.5,0.9", "--bootstrap_reps=200"]


def assert_one_line_error(result, message):
  assert result.returncode == 2, result.stderr[-2000:]
  lines = result.stderr.strip().splitlines()
  assert lines[-1].startswith("mcbench: error: "), result.stderr[-2000:]
  assert message in lines[-1], lines[-1]


def assert_one_line_message(error, message):
  """`error` (an InputError's text, which `cli.run` prints after
  "mcbench: error: " with exit status 2, as the subprocess tests check)
  is one line holding `message`."""
  assert error is not None, f"no error; expected {message!r}"
  assert message in error and "\n" not in error, error


# One process runs an entry point's `main` on each of several argument
# lists, its flags parsed anew for each, and writes what each raised (an
# InputError's message; null where main returned): `python -m` costs
# seconds of imports per process, the same for every bad input.
MAINS = """
import importlib, json, sys
name, cases, output = sys.argv[1:]
module = importlib.import_module(name)
from absl import flags
from contract.spec import InputError
errors = []
for args in json.loads(cases):
  flags.FLAGS.unparse_flags()
  flags.FLAGS([name, *args])
  try:
    module.main([])
  except InputError as e:
    errors.append(str(e))
  else:
    errors.append(None)
json.dump(errors, open(output, "w"))
"""


def run_mains(module, cases, output):
  """What `module.main` raised for each argument list of `cases`, run in
  one `python -c` process (the environment of `run_cli`)."""
  env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
  result = subprocess.run(
      [sys.executable, "-c", MAINS, module, json.dumps(cases), output],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  errors = json.load(open(output))
  assert len(errors) == len(cases)
  return errors


def record_bodies(workdir):
  bodies = {}
  for path in sorted(glob.glob(f"{workdir}/records/*/*.json")):
    record = json.load(open(path))
    record.pop("provenance")
    bodies[os.path.basename(path)] = record
  return bodies


def test_train_list_scheme_and_run(tmp_path):
  workdir = str(tmp_path / "wd")
  trained = run_cli("benchmark.train", "--task=digits/mlp", "--seeds=2",
                    f"--workdir={workdir}")
  assert trained.returncode == 0, trained.stderr[-2000:]
  manifests = sorted(glob.glob(f"{workdir}/originals/digits-mlp/*/manifest.json"))
  assert len(manifests) == 2
  manifest = json.load(open(manifests[0]))
  assert manifest["p_star"] > 0.9 and len(manifest["content_sha256"]) == 64
  assert manifest["provenance"]["platform"] == "cpu"
  # No absolute path of this machine (a workdir under /tmp, the compilation
  # cache under a home directory): provenance names them by role.
  flags_ = manifest["provenance"]["flags"]
  assert flags_["workdir"] == flags_["compilation_cache_dir"] == (
      "<absolute path outside the repository>")
  assert str(tmp_path) not in json.dumps(manifest["provenance"])

  # --list and --scheme in one call: it prints both.
  scheme = tmp_path / "head.yaml"
  scheme.write_text("name: head\nwithhold: ['params/head/**']\n")
  shown = run_cli("benchmark.splits", "--task=digits/mlp", "--list",
                  f"--scheme={scheme}")
  assert shown.returncode == 0, shown.stderr[-2000:]
  assert "params/hidden1/kernel" in shown.stdout and "8,970" in shown.stdout
  assert "head: withholds 650 of 8,970 scalars (7.25%)" in shown.stdout

  ran = run_cli("benchmark.run", "--task=digits/mlp", f"--workdir={workdir}",
                *SMALL)
  assert ran.returncode == 0, ran.stderr[-2000:]
  assert "original(s) of" not in ran.stdout  # The two originals were reused.
  assert "| layer.head |" in ran.stdout and "#### alpha = 0.9" in ran.stdout
  assert "2 record(s) written" in ran.stdout
  assert "ETA" in ran.stderr or "<" in ran.stderr  # tqdm's progress line.
  assert os.path.isfile(f"{workdir}/leaderboard/digits-mlp.md")

  # The same flags and seed give identical records: a run in a fresh
  # workdir, which trains its own originals, writes what the run above
  # wrote.
  again = run_cli("benchmark.run", "--task=digits/mlp",
                  f"--workdir={tmp_path / 'again'}", *SMALL)
  assert again.returncode == 0, again.stderr[-2000:]
  assert "training 2 original(s) of" in again.stdout
  bodies = record_bodies(workdir)
  assert len(bodies) == 2
  assert record_bodies(tmp_path / "again") == bodies


SCHEMES = {
    "misspelt": "name: x\nwithhold: ['params/hed/*']",
    "empty": "name: x\nwithhold: ['params/head/*']\nkeep: ['params/head/*']",
    "malformed": "name: [x",
}

# Bad input of each entry point and what its one-line error says; `{name}`
# stands for the file of SCHEMES[name].
REFUSED = {
    "benchmark.run": [
        (["--task=nope/x"], "unknown task family 'nope'"),
        (["--task=digits/cnn"], "unknown task 'digits/cnn'"),
        (["--splits=layer.hed"], "unknown split 'layer.hed'"),
        (["--splits=towers"], "unknown split 'towers'"),
        (["--procedures=T1,T9"], "unknown procedure 'T9'"),
        (["--splits="], "nothing to run"),
        (["--alphas=0,0.5"], "alpha 0.0 is outside (0, 1]"),
        (["--alphas=1.5"], "alpha 1.5 is outside (0, 1]"),
        (["--alphas=high"], "--alphas must be numbers"),
        (["--reinit=ones"], "unknown re-initialisation 'ones'"),
        (["--budget_fraction=0"], "budget fraction must be in (0, 1]"),
        (["--train_fraction=2"], "train fraction must be in (0, 1]"),
        (["--train_fraction=0.01"], "smaller than one batch"),
        (["--memory_limit_gib=0"], "memory limit must be positive"),
        (["--task=fashion_mnist/cnn", "--data_dir=/nonexistent"],
         "Fashion-MNIST file /nonexistent/train-images-idx3-ubyte.gz not "
         "found"),
        (["--implementation=conv_kernel_grad"],
         "--implementation: 'conv_kernel_grad' is not KEY=VALUE"),
        (["--implementation=a=1,a=2"], "--implementation: 'a' given twice"),
        (["--implementation=conv_kernel_grad=pallas"],
         "task 'digits/mlp' has no implementation option "
         "'conv_kernel_grad'; known: none"),
        (["--splits={misspelt}"], "nearest: params/head/"),
        (["--splits={empty}"], "selects nothing"),
        (["--splits={malformed}"], "malformed scheme file"),
        # Unusable workdirs (the last --workdir wins).
        (["--workdir={misspelt}"], "cannot be a folder"),
        (["--workdir={misspelt}/under"], "cannot be a folder"),
        (["--workdir=/proc/mcbench-workdir"], "cannot create"),
    ],
    "benchmark.train": [
        (["--workdir={misspelt}"], "cannot be a folder"),
        (["--seeds=0"], "need at least one original"),
    ],
    "benchmark.splits": [
        (["--scheme={misspelt}"], "nearest: params/head/"),
        (["--scheme={empty}"], "selects nothing"),
        (["--scheme={malformed}"], "malformed scheme file"),
        (["--family=towers"], "unknown split"),
    ],
}


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
  """A folder with `<module>.json`, what `main` raised for each case of
  REFUSED[module] (one process per entry point, shared by the test
  workers), and where case i's `--workdir=<module>-<i>` would be."""

  def build(folder):
    os.makedirs(folder)
    files = {}
    for name, text in SCHEMES.items():
      files[name] = os.path.join(folder, f"{name}.yaml")
      with open(files[name], "w") as f:
        f.write(text)
    for module, cases in REFUSED.items():
      run_mains(module, [
          [f"--workdir={os.path.join(folder, f'{module}-{i}')}",
           *(arg.format(**files) for arg in args)]
          for i, (args, _) in enumerate(cases)],
                os.path.join(folder, f"{module}.json"))

  return built_once(tmp_path_factory, "refusals", build)


@pytest.mark.parametrize("module, index", [
    (module, i) for module, cases in REFUSED.items()
    for i in range(len(cases))], ids=[
        f"{module.split('.')[1]} {' '.join(args)}"
        for module, cases in REFUSED.items() for args, _ in cases])
def test_bad_input_is_one_line_and_writes_nothing(refusals, module, index):
  _, message = REFUSED[module][index]
  with open(os.path.join(refusals, f"{module}.json")) as f:
    assert_one_line_message(json.load(f)[index], message)
  assert not os.path.exists(os.path.join(refusals, f"{module}-{index}"))


def test_a_flag_below_its_bound_is_one_line(tmp_path):
  # More flags that do not parse: tests/bad_input_test.py.
  workdir = tmp_path / "wd"
  result = run_cli("benchmark.run", "--vmap_size=-1", f"--workdir={workdir}")
  assert_one_line_error(result,
                        "flag --vmap_size=-1: -1 is not a non-negative")
  assert "FATAL" not in result.stderr and "Traceback" not in result.stderr
  assert not workdir.exists()


def test_splits_without_an_action():
  assert_one_line_error(run_cli("benchmark.splits"), "nothing to do")


def test_seeds_trained_by_separate_processes_merge_by_folder(tmp_path):
  task = "--task=digits/mlp:num_updates=40"
  workdir = tmp_path / "wd"
  later = run_cli("benchmark.train", task, "--seeds=1", "--first_seed=1",
                  f"--workdir={workdir}")
  assert later.returncode == 0, later.stderr[-2000:]
  assert "(seeds [1])" in later.stdout
  [folders] = (workdir / "originals").iterdir()
  assert sorted(os.listdir(folders)) == ["seed-1"]
  assert json.load(open(folders / "seed-1" / "manifest.json"))["seed"] == 1
  both = run_cli("benchmark.train", task, "--seeds=2", f"--workdir={workdir}")
  assert both.returncode == 0, both.stderr[-2000:]
  assert "(seeds [0])" in both.stdout  # Seed 1 is reused.
  assert_one_line_error(
      run_cli("benchmark.train", task, "--first_seed=-1",
              f"--workdir={workdir}"), "seeds start at 0")


def test_time_limited_training_pauses_and_a_rerun_finishes_it(tmp_path):
  train = ["benchmark.train", "--task=digits/mlp:num_updates=40", "--seeds=1"]
  assert_one_line_error(run_cli(*train, "--time_limit_s=1"),
                        "--time_limit_s needs --resumable")
  paused = [*train, "--resumable", "--time_limit_s=0",
            f"--workdir={tmp_path / 'paused'}"]
  result = run_cli(*paused)
  assert result.returncode == 75, result.stderr[-2000:]
  assert "rerun the same command to continue" in result.stdout
  finished = run_cli(*paused[:-2], paused[-1])
  assert finished.returncode == 0, finished.stderr[-2000:]
  # The same training in one go (what `benchmark.train` calls).
  [whole] = originals_lib.ensure_originals(
      registry.get_task("digits/mlp:num_updates=40"), str(tmp_path / "whole"),
      1, log=lambda _: None)
  assert finished.stdout.split("sha256=")[1].split()[0] == whole.content_hash


@pytest.fixture
def copied_workdir(digits_workdir, tmp_path):
  workdir = tmp_path / "wd"
  shutil.copytree(os.path.join(digits_workdir, "originals"),
                  workdir / "originals")
  return workdir


def train_one(workdir):
  """What `python -m benchmark.train --workdir=workdir --seeds=1` does, in
  this process (its one-line errors are InputErrors; the tests above run
  the command)."""
  return originals_lib.ensure_originals(
      registry.get_task("digits/mlp"), str(workdir), 1, log=lambda _: None)


def test_unreadable_checkpoint(copied_workdir):
  checkpoint = copied_workdir / "originals/digits-mlp/seed-0/checkpoint"
  for path in checkpoint.rglob("*"):
    if path.is_file() and "manifest" not in path.name:
      path.write_bytes(b"garbage")
  with pytest.raises(InputError) as error:
    train_one(copied_workdir)
  assert_one_line_message(str(error.value), "seed-0")


def test_nothing_is_printed_after_the_error_line(tmp_path):
  # A library thread that reports late (as orbax's checkpoint readers do,
  # intermittently) cannot add lines after the error: the process exits
  # at once.
  script = tmp_path / "late.py"
  script.write_text(
      "import sys, threading, time\n"
      "from benchmark import cli\n"
      "from contract.spec import InputError\n"
      "def late():\n"
      "  time.sleep(0.5)\n"
      "  print('late report', file=sys.stderr)\n"
      "def main(argv):\n"
      "  threading.Thread(target=late).start()\n"
      "  raise InputError('the one line')\n"
      "cli.run(main)\n")
  result = subprocess.run([sys.executable, str(script)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": ROOT},
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == (
      "mcbench: error: the one line")
  assert "late report" not in result.stderr


def test_other_recipe_in_the_workdir_is_refused(copied_workdir):
  [original] = train_one(copied_workdir)  # Reused as it is.
  path = copied_workdir / "originals/digits-mlp/seed-0/manifest.json"
  manifest = json.loads(path.read_text())
  assert manifest["content_sha256"] == original.content_hash
  manifest["task_config"]["batch_size"] = 7
  path.write_text(json.dumps(manifest))
  with pytest.raises(InputError) as error:
    train_one(copied_workdir)
  assert_one_line_message(str(error.value), "trained with another recipe")


def perf_main(*args):
  """`python -m benchmark.perf args` in this process: this module imports
  `benchmark.perf`, whose flags it parses anew."""
  flags.FLAGS.unparse_flags()
  flags.FLAGS(["perf", *args])
  try:
    perf_command.main([])
  finally:
    flags.FLAGS.unparse_flags()


def test_perf_script_measures_sweep_loop_big_job_and_scaling(tmp_path):
  output = tmp_path / "perf.json"
  # Enough updates that their time (the difference of a 2 x updates and an
  # updates program) stands well above timing noise on a busy 2-core
  # machine: 200 of digits' updates take some tens of ms, and CI once
  # measured them at <= 0.
  updates = 500
  two_devices = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
  result = run_cli("benchmark.perf", "--tasks=digits/mlp", "--runs=2",
                   f"--updates={updates}", "--device_counts=1,2",
                   f"--output={output}", env=two_devices)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "| sweep (vmap) | 2 |" in result.stdout
  [measured] = json.load(open(output))["results"]
  rows = {row["measurement"]: row for row in measured["rows"]}
  assert [row["measurement"] for row in measured["rows"]] == [
      "one run", "loop", "sweep (vmap)", "sweep (in turn)", "big job",
      "sweep on 1 device(s)", "sweep on 2 device(s)"]
  for label, row in rows.items():
    # Rates count the updates alone, beside the updates program's whole
    # call.
    examples = row["runs"] * updates * (128 if label == "big job" else 64)
    assert 0 < row["updates_s"]
    assert row["examples_per_s"] == pytest.approx(
        examples / row["updates_s"], rel=0.01)
    assert row["examples_per_s_with_evaluations"] == pytest.approx(
        examples / row["run_s"], rel=0.01)
  ratios = measured["ratios"]
  best = rows[ratios["best sweep"]]["examples_per_s"]
  assert ratios["sweep / loop"] == pytest.approx(
      best / rows["loop"]["examples_per_s"], rel=0.01)
  assert ratios["sweep / big job"] == pytest.approx(
      best / rows["big job"]["examples_per_s"], rel=0.01)
  assert ratios["scaling efficiency on 1"] == 1.0
  assert ratios["scaling efficiency on 2"] == pytest.approx(
      rows["sweep on 2 device(s)"]["examples_per_s"]
      / rows["sweep on 1 device(s)"]["examples_per_s"] / 2, rel=0.01)
  assert_one_line_error(run_cli("benchmark.perf", "--device_counts=3"),
                        "asked for 3 device(s); there are 1")
  figure = tmp_path / "perf.png"
  perf_main(f"--replot={output}", f"--figure={figure}")
  assert figure.read_bytes().startswith(b"\x89PNG")
  with pytest.raises(InputError) as error:
    perf_main(f"--replot={output}")
  assert_one_line_message(str(error.value), "--replot needs --figure")


def test_perf_task_list_keeps_switches_with_their_task():
  assert perf.task_names(["cifar10/resnet20:dtype=bfloat16", "smoke",
                          "digits/mlp", "cartpole/ppo:smoke"]) == [
      "cifar10/resnet20:dtype=bfloat16,smoke", "digits/mlp",
      "cartpole/ppo:smoke"]


def perf_result(tmp_path, *args):
  """`(process, its one task's result)` of `benchmark.perf args`."""
  output = tmp_path / "perf.json"
  result = run_cli("benchmark.perf", *args, f"--output={output}")
  assert result.returncode == 0, result.stderr[-2000:]
  [measured] = json.load(open(output))["results"]
  return result, measured


def test_perf_big_job_of_an_rl_task_scales_its_environments(tmp_path):
  # One timing per program keeps the test short. (Its intermittent hang
  # was jaxlib's batched CPU QR in the vmapped initialisation, now taken
  # one run at a time: BUILD_NOTES, "XLA:CPU's batched QR deadlocks a
  # 2-thread pool".)
  # A command, not this process: it compiles with the persistent
  # compilation cache of the command-line processes.
  _, measured = perf_result(tmp_path, "--tasks=cartpole/ppo:smoke",
                            "--runs=2", "--updates=32", "--repeats=1",
                            "--measurements=vmap,big_job")
  rows = {row["measurement"]: row for row in measured["rows"]}
  assert list(rows) == ["sweep (vmap)", "big job"]  # Only those asked for.
  frames = measured["batch_size"]  # num_envs x num_steps of one run.
  assert rows["big job"]["examples_per_s"] == pytest.approx(
      2 * frames * 32 / rows["big job"]["updates_s"], rel=0.01)
  assert measured["ratios"] == {
      "best sweep": "sweep (vmap)",
      "sweep / big job": pytest.approx(
          rows["sweep (vmap)"]["examples_per_s"]
          / rows["big job"]["examples_per_s"], abs=1e-3)}
  with pytest.raises(InputError) as error:
    perf_main("--measurements=vmap,bigjob")
  assert_one_line_message(str(error.value), "--measurements: unknown bigjob")


def test_perf_says_why_a_big_job_is_missing_and_keeps_the_rest(tmp_path):
  # 23 runs x batch 64 is more than digits' 1,437 training examples: the
  # big job cannot be built, the sweep is still measured and written (over
  # enough updates to stand above timing noise: 100 once timed <= 0).
  traces = tmp_path / "traces"
  result, measured = perf_result(tmp_path, "--tasks=digits/mlp", "--runs=23",
                                 "--updates=400", "--repeats=2",
                                 "--measurements=vmap,big_job",
                                 f"--trace_dir={traces}")
  assert [row["measurement"] for row in measured["rows"]] == ["sweep (vmap)"]
  # A profile of each measured program, in a folder named after it.
  [profile] = traces.rglob("*.xplane.pb")
  assert profile.relative_to(traces).parts[:2] == ("digits-mlp",
                                                   "sweep-vmap")
  assert profile.stat().st_size > 0
  assert measured["ratios"]["big job"] == (
      "not measured: digits/mlp: training set of 1437 "
      "examples is smaller than one batch (1472); raise the train fraction")
  assert "big job: not measured" in result.stdout


def test_perf_measures_a_task_on_host_environments_in_turn(monkeypatch):
  # An envpool task's runs cannot be vmapped (a vmapped one crashed JAX
  # with "Unordered IO effects not supported in while_loop with batched
  # predicate"): its single run is mapped, its sweep measured in turn, and
  # the vmapped and multi-device sweeps say why they are missing. Digits
  # marked so stands in for the pool (Atari compiles for minutes here).
  task = dataclasses.replace(registry.get_task("digits/mlp"), shardable=False)
  compiled = []
  programs = perf._Programs

  def recording(task, seeds, vmap_size, *args, **kwargs):
    compiled.append((seeds, vmap_size))
    return programs(task, seeds, vmap_size, *args, **kwargs)

  monkeypatch.setattr(perf, "_Programs", recording)
  # Which programs are built is the point, not their speed: fixed times,
  # so that a busy machine cannot make a difference of timings <= 0.
  monkeypatch.setattr(programs, "seconds",
                      lambda self, calls, repeats: (1.0, 2.0))
  measured = perf.measure(task, runs=2, updates=10, device_counts=(1,),
                          measurements=("one_run", "vmap", "in_turn"),
                          repeats=1)
  assert [row["measurement"] for row in measured["rows"]] == [
      "one run", "sweep (in turn)"]
  assert compiled == [(1, 1), (2, 1)]
  ratios = measured["ratios"]
  assert ratios["best sweep"] == "sweep (in turn)"
  assert ratios["sweep (vmap)"] == perf.NOT_VMAPPABLE
  assert ratios["sweep on several devices"].startswith("not measured: ")


def test_throughput_script_measures_each_vmap_size(tmp_path):
  output = tmp_path / "throughput.json"
  result = run_cli("benchmark.throughput", "--task=digits/mlp", "--seeds=3",
                   "--vmap_sizes=0,1,2", "--updates=30", f"--output={output}")
  assert result.returncode == 0, result.stderr[-2000:]
  measured = json.load(open(output))
  assert [m["vmap_size"] for m in measured["results"]] == [3, 1, 2]
  for m in measured["results"]:
    assert m["run_s"] > 0 and m["compile_s"] > 0
    assert m["examples_per_s"] == pytest.approx(
        3 * 30 * m["batch_size"] / m["run_s"], rel=0.01)
  assert measured["provenance"]["platform"] == "cpu"
  assert_one_line_error(
      run_cli("benchmark.throughput", "--vmap_sizes=two"), "--vmap_sizes")
