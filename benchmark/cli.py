"""What the command-line entry points share: flags and error reporting."""

from __future__ import annotations

import errno
import os
import sys
from typing import Callable

from absl import app, flags, logging

from benchmark.engine import compilation
from contract.spec import InputError


def define_task_flags() -> None:
  """`--task`, `--workdir`, `--data_dir`, `--implementation`,
  `--compilation_cache_dir`: common to every entry point."""
  flags.DEFINE_string(
      "task", "digits/mlp",
      "Task name, family/model[:arg] (e.g. fashion_mnist/cnn:smoke).")
  flags.DEFINE_string(
      "workdir", "workdir",
      "Folder for originals, records and leaderboards (created if missing).")
  flags.DEFINE_string(
      "data_dir", None,
      "Folder with the task's data files, if not the default place.")
  flags.DEFINE_list(
      "implementation", [],
      "KEY=VALUE options of how the task computes, not what (e.g. "
      "conv_kernel_grad=pallas for the CIFAR ResNets): speed and rounding "
      "change, the task, its originals and its records' keys do not; "
      "recorded in provenance.")
  flags.DEFINE_string(
      "compilation_cache_dir", compilation.DEFAULT_CACHE_DIR,
      "JAX's persistent compilation cache: programs compiled once are "
      "reused by later processes with the same shapes. Empty: off.")


def implementation() -> dict[str, str]:
  """The `--implementation` flag as `registry.get_task`'s argument.

  Raises:
    InputError: an item that is not KEY=VALUE, or a key given twice.
  """
  options = {}
  for item in flags.FLAGS.implementation:
    key, sep, value = item.partition("=")
    if not sep or not key or not value:
      raise InputError(f"--implementation: {item!r} is not KEY=VALUE")
    if key in options:
      raise InputError(f"--implementation: {key!r} given twice")
    options[key] = value
  return options


def define_vmap_flag() -> None:
  """`--vmap_size`: how many runs of one program are vmapped together."""
  flags.DEFINE_integer(
      "vmap_size", 0,
      "Runs vmapped together in one compiled program (0: the task's default, "
      "all seeds for most tasks). Smaller "
      "values run chunks one after another in the same program; 1 is the "
      "fastest for convolutional nets on GPU and CPU (see BUILD_NOTES.md).",
      lower_bound=0)


def define_distributed_flags() -> None:
  """`--distributed` and the `jax.distributed.initialize` settings."""
  flags.DEFINE_bool(
      "distributed", False,
      "Join a multi-process JAX job (jax.distributed) and spread runs over "
      "the devices of every process. Without the three flags below, JAX "
      "finds the job from its environment (TPU pods, SLURM, ...).")
  flags.DEFINE_string("coordinator_address", None,
                      "host:port of process 0 (with --distributed).")
  flags.DEFINE_integer("num_processes", None,
                       "Processes in the job (with --distributed).")
  flags.DEFINE_integer("process_id", None,
                       "This process's index (with --distributed).")


def initialize_distributed() -> None:
  """Starts `jax.distributed` if `--distributed` asks for it; CPU devices
  talk through gloo."""
  if not flags.FLAGS.distributed:
    return
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(
      coordinator_address=flags.FLAGS.coordinator_address,
      num_processes=flags.FLAGS.num_processes,
      process_id=flags.FLAGS.process_id)


def vmap_size() -> int | None:
  """The `--vmap_size` flag as the engine's argument (None: the task's
  default)."""
  return flags.FLAGS.vmap_size or None


def flag_values() -> dict:
  """The values of mcbench's own flags, not absl's or JAX's (provenance)."""
  values = {}
  for module, module_flags in flags.FLAGS.flags_by_module_dict().items():
    if "benchmark" in module or module == "__main__":
      values.update({flag.name: flag.value for flag in module_flags})
  return dict(sorted(values.items()))


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with its errors (an unknown flag, a value of the
  wrong type or out of bounds) as one line `mcbench: error: ...` and exit
  status 2, like every other bad input."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    message = " ".join(str(e).split())
    print(f"mcbench: error: {message} (--helpshort lists the flags)",
          file=sys.stderr)
    sys.exit(2)


# What the machine, not the code, makes a file operation fail with: a full
# disk or quota, a file over a size limit, a read-only or refused path, an
# I/O error. One line like any bad input (the writers leave nothing
# partial: `storage.write_bytes_atomic`, `originals.train_originals`).
MACHINE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS,
                  errno.EACCES, errno.EPERM, errno.EIO)


def _message(error: Exception) -> str:
  if isinstance(error, OSError):
    where = f" ({error.filename})" if error.filename else ""
    return f"{error.strerror or error}{where}"
  return str(error)


def run(main: Callable[[list[str]], None]) -> None:
  """`app.run(main)`, printing an `InputError`, a flag that does not parse
  or a machine's file-system error (`MACHINE_ERRORS`) as one line with exit
  code 2."""

  def guarded(argv):
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)  # Hides JAX's backend probing.
    if "compilation_cache_dir" in flags.FLAGS:
      compilation.enable_cache(flags.FLAGS.compilation_cache_dir,
                               min_compile_time_s=0.5)
    try:
      main(argv)
    except (InputError, OSError) as e:
      if isinstance(e, OSError) and e.errno not in MACHINE_ERRORS:
        raise  # A bug, not the machine: the traceback says where.
      print(f"mcbench: error: {_message(e)}", file=sys.stderr)
      sys.stdout.flush()
      sys.stderr.flush()
      # Not sys.exit: a library's background threads may still report what
      # the error already said (orbax's readers of a truncated checkpoint
      # print "Event loop is closed" tracebacks at shutdown), and the error
      # must stay one line. Nothing is left to clean up: every writer is a
      # context manager that the exception has already closed.
      os._exit(2)

  app.run(guarded, flags_parser=parse_flags)
