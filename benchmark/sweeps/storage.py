"""Files: atomic JSON writes, content hashes, orbax checkpoints, provenance."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import socket
import subprocess
import tempfile
from typing import Any

import jax
import numpy as np

from benchmark.engine import prng
from benchmark.science import splitter
from contract.spec import InputError

PROJECT_VERSION = "0.1.0"


def check_workdir(path: str) -> None:
  """Raises `InputError` unless `path` is a folder this process can write
  in, or can be made one: its nearest existing ancestor is a writable
  folder (a regular file, or a path under one, is refused before anything
  is written)."""
  probe = os.path.abspath(path)
  while not os.path.exists(probe):
    probe = os.path.dirname(probe)
  if not os.path.isdir(probe):
    raise InputError(f"workdir {path} cannot be a folder: {probe} is a "
                     "file")
  if not os.access(probe, os.W_OK | os.X_OK):
    raise InputError(f"workdir {path}: {probe} is not writable")


def write_bytes_atomic(path: str, data: bytes) -> None:
  """Writes a file so that readers see the old one or the new one, never a
  part: a unique temporary file in the same directory, fsync, then rename.
  The file gets the permissions of an ordinary new file (0666 less the
  umask), not mkstemp's private 0600: results are shared and served."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  remove_stale_temporaries(path)
  try:
    own = f"{_temporary_stem(path)}{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(prefix=own, dir=directory)
  except OSError as e:
    raise OSError(e.errno, e.strerror, path) from e
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fchmod(f.fileno(), 0o666 & ~_umask())
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException as e:
    if os.path.exists(tmp):
      os.unlink(tmp)
    if isinstance(e, OSError) and e.filename is None:  # Say which file.
      raise OSError(e.errno, e.strerror, path) from e
    raise


def _temporary_stem(path: str) -> str:
  """`.tmp-<file name>-<host>-`, which a writer's temporary file of `path`
  continues with `<pid>-`: so that a later writer of the same file can tell
  a dead writer's from a live one's."""
  host = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())
  return f".tmp-{os.path.basename(path)}-{host}-"


def remove_stale_temporaries(path: str) -> list[str]:
  """Removes the temporary files that writers of `path` on this host left
  when they were killed between writing and renaming (SIGKILL runs no
  clean-up); a live writer's stay. Returns the paths removed."""
  directory = os.path.dirname(os.path.abspath(path))
  stem = _temporary_stem(path)
  removed = []
  for entry in (os.listdir(directory) if os.path.isdir(directory) else []):
    match = re.fullmatch(re.escape(stem) + r"(\d+)-[^/]*", entry)
    if match and not _is_alive(int(match.group(1))):
      try:
        os.unlink(os.path.join(directory, entry))
        removed.append(os.path.join(directory, entry))
      except FileNotFoundError:  # Another writer removed it first.
        pass
  return removed


def _is_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Someone else's process.
    return True
  return True


def write_text_atomic(path: str, text: str) -> None:
  """`write_bytes_atomic` of UTF-8 text."""
  write_bytes_atomic(path, text.encode("utf-8"))


def _umask() -> int:
  """The process's umask (reading it means setting it; set it back)."""
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


def write_json_atomic(path: str, data: Any) -> None:
  """`write_text_atomic` of sorted, indented JSON (NaN is refused)."""
  write_text_atomic(
      path, json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: str) -> Any:
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise InputError(f"cannot read {path}: {e}") from e


def content_hash(variables: Any) -> str:
  """sha256 over every leaf's path, dtype, shape and bytes (path order)."""
  digest = hashlib.sha256()
  flat = sorted((splitter.path_of(kp), np.asarray(leaf)) for kp, leaf in
                jax.tree_util.tree_flatten_with_path(variables)[0])
  for path, array in flat:
    array = np.ascontiguousarray(array)
    digest.update(f"{path}|{array.dtype.str}|{array.shape}|".encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def as_json(data: Any) -> Any:
  """`data` as it reads back from JSON (tuples become lists, and so on)."""
  return json.loads(json.dumps(data, allow_nan=False))


def json_hash(data: Any) -> str:
  """sha256 of the canonical JSON text of `data`."""
  text = json.dumps(data, sort_keys=True, separators=(",", ":"),
                    allow_nan=False)
  return hashlib.sha256(text.encode()).hexdigest()


def save_checkpoint(path: str, variables: Any) -> None:
  """Saves a pytree of arrays with orbax (which writes to a temporary
  directory and renames it when complete). Typed PRNG keys are saved as
  their raw key data."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  tree = jax.tree.map(
      lambda a: jax.random.key_data(a) if prng.is_prng_key(a) else a, variables)
  checkpointer = ocp.StandardCheckpointer()
  try:
    checkpointer.save(os.path.abspath(path), jax.device_get(tree), force=True)
    checkpointer.wait_until_finished()
  except ValueError as e:
    # tensorstore reports the file system's errors (a full disk) as
    # ValueError with the errno in its text: raise them as what they are.
    code = re.search(r"os_error_code='(\d+)'", str(e))
    if code is None:
      raise
    raise OSError(int(code.group(1)), os.strerror(int(code.group(1))),
                  path) from e


def restore_checkpoint(path: str, like: Any) -> Any:
  """Restores a pytree shaped like `like` (arrays or shape structs); its
  typed PRNG keys come back as keys of the default implementation.

  Raises:
    InputError: the checkpoint is missing or unreadable.
  """
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  abstract = jax.tree.map(
      lambda a: (jax.eval_shape(jax.random.key_data, a)
                 if prng.is_prng_key(a) else
                 jax.ShapeDtypeStruct(np.shape(a), a.dtype)), like)
  try:
    restored = ocp.StandardCheckpointer().restore(os.path.abspath(path),
                                                  abstract)
  except Exception as e:  # orbax raises many types on corrupt files.
    message = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
    raise InputError(f"cannot restore checkpoint {path}: {message}") from e
  return jax.tree.map(
      lambda r, a: jax.random.wrap_key_data(r) if prng.is_prng_key(a) else r,
      restored, like)


CODE_PATHS = ("benchmark", "contract", "agents", "tasks", "pyproject.toml")


def repository_root() -> str:
  """The folder holding `benchmark/` (this file is
  benchmark/sweeps/storage.py)."""
  return os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))


def _git(*args: str) -> str:
  root = repository_root()
  return subprocess.run(["git", *args], cwd=root, capture_output=True,
                        text=True, timeout=10, check=True).stdout


def dirty_code_files() -> list[str] | None:
  """Files of the code (`CODE_PATHS`) with uncommitted changes, [] for a
  clean tree, None where there is no git tree to ask. A tree copied without
  its `.git` (a device machine) counts as clean at `MCBENCH_GIT_COMMIT`
  unless that value ends in `-dirty`: the copier checked it."""
  commit = os.environ.get("MCBENCH_GIT_COMMIT")
  if commit:
    return ["(MCBENCH_GIT_COMMIT says so)"] if commit.endswith(
        "-dirty") else []
  try:
    status = _git("status", "--porcelain", "--untracked-files=all", "--",
                  *CODE_PATHS)
  except (OSError, subprocess.SubprocessError):
    return None
  return sorted(line[3:] for line in status.splitlines()
                if not line[3:].endswith(".pyc"))


def git_commit() -> str:
  """HEAD (with `-dirty` for local changes to the code), or the value of
  `MCBENCH_GIT_COMMIT` where the tree was copied without its `.git`."""
  if os.environ.get("MCBENCH_GIT_COMMIT"):
    return os.environ["MCBENCH_GIT_COMMIT"]
  try:
    head = _git("rev-parse", "HEAD").strip()
  except (OSError, subprocess.SubprocessError):
    return "unknown"
  return head + ("-dirty" if dirty_code_files() else "")


def portable_flags(flags: dict[str, Any]) -> dict[str, Any]:
  """`flags` with no absolute path of the machine that ran them: a path
  inside the repository becomes relative to it, any other absolute path
  (a home directory's cache, a scratch folder) says only that it was one."""
  root = repository_root()

  def portable(value):
    if not (isinstance(value, str) and os.path.isabs(value)):
      return value
    relative = os.path.relpath(value, root)
    return ("<absolute path outside the repository>"
            if relative.startswith("..") else relative)

  return {name: portable(value) for name, value in flags.items()}


def provenance(**extra: Any) -> dict[str, Any]:
  """Versions, device and numerics settings a result depends on; its
  `flags` (where given) without absolute paths (`portable_flags`)."""
  if isinstance(extra.get("flags"), dict):
    extra["flags"] = portable_flags(extra["flags"])
  import flax  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  devices = jax.devices()
  xla_flags = os.environ.get("XLA_FLAGS", "")
  return {
      "mcbench_version": PROJECT_VERSION,
      "git_commit": git_commit(),
      "python": platform.python_version(),
      "jax": jax.__version__,
      "flax": flax.__version__,
      "optax": optax.__version__,
      "platform": devices[0].platform,
      "device_kind": devices[0].device_kind,
      "device_count": len(devices),
      "deterministic_ops": "--xla_gpu_deterministic_ops=true" in xla_flags,
      "matmul_precision": str(jax.config.jax_default_matmul_precision or
                              "default"),
      "xla_flags": xla_flags,
      **extra,
  }
