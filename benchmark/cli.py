"""What the command-line entry points share: flags and error reporting."""

from __future__ import annotations

import sys
from typing import Callable

from absl import app, flags, logging

from tasks.spec import InputError


def define_task_flags() -> None:
  """`--task`, `--workdir`, `--data_dir`: common to every entry point."""
  flags.DEFINE_string(
      "task", "digits/mlp",
      "Task name, family/model[:arg] (e.g. fashion_mnist/cnn:smoke).")
  flags.DEFINE_string(
      "workdir", "workdir",
      "Folder for originals, records and leaderboards (created if missing).")
  flags.DEFINE_string(
      "data_dir", None,
      "Folder with the task's data files, if not the default place.")


def flag_values(names=None) -> dict:
  """The values of this program's own flags (for provenance)."""
  values = flags.FLAGS.flag_values_dict()
  keep = names or [f.name for f in flags.FLAGS.get_key_flags_for_module(
      sys.argv[0])] or list(values)
  return {name: values[name] for name in keep if name in values}


def run(main: Callable[[list[str]], None]) -> None:
  """`app.run(main)`, printing an `InputError` as one line with exit code 2."""

  def guarded(argv):
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)  # Hides JAX's backend probing.
    try:
      main(argv)
    except InputError as e:
      print(f"mcbench: error: {e}", file=sys.stderr)
      sys.exit(2)

  app.run(guarded)
