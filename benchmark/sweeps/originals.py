"""Originals: models trained by a task's recipe, checkpointed and verified.

Layout under a workdir, one folder per task and seed:

    originals/<task-slug>/seed-<i>/checkpoint/   orbax checkpoint
    originals/<task-slug>/seed-<i>/manifest.json curve, content hash, provenance

The manifest is written last and atomically: a folder without one is an
interrupted training and is trained again. A manifest whose hash does not
match its checkpoint, or whose recipe differs from the task's, is an error.

Seeds trained together are one program, and their bytes depend on it (a
vmapped batch rounds otherwise than a seed alone), so they land together or
not at all: each is written into

    originals/<task-slug>/committing/seed-<i>/   checkpoint and manifest

then `committing/COMMITTED` is written, then the folders move into place.
A process killed before `COMMITTED` leaves a training that is trained
again, whole; one killed after it leaves a commit that the next process
finishes. Either way the originals are those of an uninterrupted run.

Resumable training (`resumable=True`, `benchmark.train --resumable`) runs
one program per evaluation segment and checkpoints every seed's whole
learner state after each, under

    originals/<task-slug>/in-progress/progress.json   seeds, curve so far
    originals/<task-slug>/in-progress/state-<k>/      orbax, after segment k

so that a process killed at a time limit loses at most one segment and the
same command continues where it stopped. Under a time limit, a segment that
would end past it is trained as far as the measured pace allows and
checkpointed there (`state-<k>+<updates>`); the next call finishes and
evaluates it, so a long segment does not leave the end of a call idle. For
tasks whose learner state is all arrays (data on the device, JAX-native
environments) the resumed training is the uninterrupted one; a stateful
environment pool's C++ state is not saved, so its episodes start afresh on
resuming.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time
from typing import Any, Callable, NamedTuple

import jax
import numpy as np

from benchmark.engine import batching, completion, prng, scratch, streaming
from benchmark.sweeps import storage
from contract import spec

MANIFEST_SCHEMA = "mcbench.original/1"
PROGRESS_SCHEMA = "mcbench.original-progress/1"
COMMITTED = "COMMITTED"  # Written once every seed of a training is staged.


class Paused(Exception):
  """A resumable training stopped at its time limit, its progress saved; the
  same call continues it."""


class Original(NamedTuple):
  seed: int
  variables: Any
  content_hash: str
  performance: np.ndarray  # On the recipe's eval_updates.
  manifest: dict

  @property
  def p_star(self) -> float:
    return float(self.performance[-1])


def task_slug(task_name: str) -> str:
  """A file-name-safe form of a task name (`fashion_mnist/cnn:smoke` ->
  `fashion_mnist-cnn-smoke`)."""
  return re.sub(r"[^A-Za-z0-9._=-]+", "-", task_name).strip("-")


def original_dir(workdir: str, task_name: str, seed: int) -> str:
  return os.path.join(workdir, "originals", task_slug(task_name),
                      f"seed-{seed}")


def load_original(task: spec.Task, workdir: str, seed: int) -> Original | None:
  """The cached original of `seed`, None if there is no complete one.

  Raises:
    spec.InputError: its recipe differs from the task's, or its checkpoint
      does not match the content hash in its manifest.
  """
  directory = original_dir(workdir, task.name, seed)
  manifest_path = os.path.join(directory, "manifest.json")
  if not os.path.isfile(manifest_path):
    return None
  manifest = storage.read_json(manifest_path)
  if manifest.get("schema") != MANIFEST_SCHEMA:
    raise spec.InputError(f"{manifest_path}: not an mcbench original manifest")
  if manifest["task_config"] != storage.as_json(task.config):
    raise spec.InputError(
        f"{manifest_path} was trained with another recipe for {task.name}; "
        "use a new --workdir or delete that folder")
  like = task.init(jax.random.key(0))
  variables = storage.restore_checkpoint(
      os.path.join(directory, "checkpoint"), like)
  digest = storage.content_hash(variables)
  if digest != manifest["content_sha256"]:
    raise spec.InputError(
        f"checkpoint in {directory} does not match its manifest: sha256 "
        f"{digest[:16]}... != {manifest['content_sha256'][:16]}...")
  return Original(seed, variables, digest,
                  np.asarray(manifest["performance"], np.float64), manifest)


def commit_dir(workdir: str, task_name: str) -> str:
  """`committing`; one per process of a distributed run, whose processes
  all train the originals and each write them (hosts may not share disks)."""
  name = "committing"
  if jax.process_count() > 1:
    name += f"-{jax.process_index()}"
  return os.path.join(workdir, "originals", task_slug(task_name), name)


def finish_commit(workdir: str, task_name: str) -> None:
  """Completes or discards what a killed `train_originals` left in
  `commit_dir`: moves its seeds into place once `COMMITTED` is written,
  else removes it (that training is trained again)."""
  staging = commit_dir(workdir, task_name)
  if not os.path.isdir(staging):
    return
  if os.path.isfile(os.path.join(staging, COMMITTED)):
    for entry in sorted(os.listdir(staging)):
      if re.fullmatch(r"seed-\d+", entry):
        seed = int(entry.split("-")[1])
        destination = original_dir(workdir, task_name, seed)
        if os.path.exists(destination):
          shutil.rmtree(destination)  # An interrupted earlier attempt.
        os.replace(os.path.join(staging, entry), destination)
  shutil.rmtree(staging)


def progress_dir(workdir: str, task_name: str) -> str:
  return os.path.join(workdir, "originals", task_slug(task_name),
                      "in-progress")


def _json_curve(performance: np.ndarray) -> list:
  return [[float(v) if np.isfinite(v) else None for v in row]
          for row in performance]


def _progress_identity(task: spec.Task, seeds: list[int],
                       vmap_size: int | None) -> dict:
  """What a progress file must match to continue a training."""
  return {"schema": PROGRESS_SCHEMA, "task": task.name,
          "task_config": storage.as_json(task.config), "seeds": seeds,
          "vmap_size": vmap_size}


def _load_progress(task: spec.Task, directory: str, seeds: list[int],
                   vmap_size: int | None) -> dict | None:
  """The saved progress of training `seeds`, None if there is none.

  Raises:
    spec.InputError: the progress is unreadable or belongs to other seeds,
      settings or another recipe.
  """
  path = os.path.join(directory, "progress.json")
  if not os.path.isfile(path):
    if os.path.isdir(directory):  # Killed before its first checkpoint.
      shutil.rmtree(directory)
    return None
  progress = storage.read_json(path)
  for key, value in _progress_identity(task, seeds, vmap_size).items():
    if progress.get(key) != value:
      raise spec.InputError(
          f"{path} continues another training ({key} differs: "
          f"{progress.get(key)!r}, not {value!r}); rerun that command or "
          "delete the folder")
  return progress


def _save_progress(directory: str, progress: dict, states: Any) -> None:
  """Checkpoint first, then the progress that names it, then the previous
  checkpoint goes: a kill at any point leaves one consistent pair."""
  name = f"state-{progress['segments_done']}"
  if progress["updates_into_segment"]:
    name += f"+{progress['updates_into_segment']}"
  storage.save_checkpoint(os.path.join(directory, name), states)
  storage.write_json_atomic(os.path.join(directory, "progress.json"),
                            {**progress, "checkpoint": name})
  for entry in os.listdir(directory):
    if entry.startswith("state-") and entry != name:
      shutil.rmtree(os.path.join(directory, entry))


def updates_that_fit(seconds_left: float, seconds_per_update: float,
                     updates_left: int) -> int:
  """How many of a segment's `updates_left` updates to train before pausing:
  all of them when they fit in `seconds_left` at the measured pace, else the
  whole number that does (0 when none does)."""
  if seconds_per_update * updates_left <= seconds_left:
    return updates_left
  return max(0, min(updates_left, int(seconds_left / seconds_per_update)))


def _train_in_segments(task: spec.Task, workdir: str, seeds: list[int],
                       keys: jax.Array, vmap_size: int | None,
                       log: Callable[[str], None],
                       time_limit_s: float | None):
  """`(performance, diverged, variables, wall_time_s, processes)`, trained
  one evaluation segment per program and checkpointed after each.

  Raises:
    Paused: the rest of the segment would end past `time_limit_s` seconds of
      this call, judged by the pace of this call's last segment, or of the
      earlier calls' training before the first. The updates that fit are
      trained and checkpointed first, so a call uses its time even when the
      segments are long; the next call finishes the segment and evaluates
      it.
  """
  if task.streamed:
    raise spec.InputError(
        f"{task.name} streams its data from the host; resumable training "
        "needs a task whose data lives on the device")
  staged = scratch.make_staged_scratch_training(task, vmap_size)
  lengths = completion.schedule_segments(task.recipe.eval_updates)
  directory = progress_dir(workdir, task.name)
  progress = _load_progress(task, directory, seeds, vmap_size)
  started = time.time()
  # A resumed call starts from the pace of the calls before it (compiling
  # included, so on the slow side); a new one has no pace until its first
  # segment, which therefore always runs. Every call trains at least one
  # update, so that rerunning it always gets somewhere.
  seconds_per_update = None
  if progress is None:
    states, first = staged.start(keys)
    performance = np.asarray(jax.device_get(first), np.float64)[:, None]
    progress = {**_progress_identity(task, seeds, vmap_size),
                "segments_done": 0, "updates_into_segment": 0,
                "processes": 1, "wall_time_s": time.time() - started,
                "performance": _json_curve(performance)}
    _save_progress(directory, progress, states)
  else:
    like = jax.eval_shape(staged.start, keys)[0]
    states = staged.reattach(storage.restore_checkpoint(
        os.path.join(directory, progress["checkpoint"]), like), keys)
    performance = np.array(progress["performance"], np.float64)
    # Files of the first format paused at evaluation points only.
    progress = {"updates_into_segment": 0, **progress,
                "processes": progress["processes"] + 1}
    log(f"resuming {task.name} seeds {seeds} after evaluation segment "
        f"{progress['segments_done']} of {len(lengths)}"
        + _partial(progress, lengths))
    updates_done = (task.recipe.eval_updates[progress["segments_done"]]
                    + progress["updates_into_segment"])
    if updates_done:
      seconds_per_update = progress["wall_time_s"] / updates_done
  first_segment = progress["segments_done"]
  for i in range(first_segment, len(lengths)):
    segment_started = time.time()
    length = int(lengths[i])
    updates_left = length - progress["updates_into_segment"]
    if time_limit_s is not None and seconds_per_update is not None:
      fit = updates_that_fit(time_limit_s - (segment_started - started),
                             seconds_per_update, updates_left)
      if i == first_segment:
        fit = max(fit, 1)
      if fit < updates_left:
        if fit:
          states = staged.train(states, keys, fit)
          progress = {**progress,
                      "updates_into_segment":
                          progress["updates_into_segment"] + fit,
                      "wall_time_s": progress["wall_time_s"] + time.time()
                      - segment_started}
          _save_progress(directory, progress, states)
        raise Paused(
            f"stopped at the time limit after evaluation segment {i} of "
            f"{len(lengths)} of {task.name}{_partial(progress, lengths)}; "
            "rerun the same command to continue")
    states, segment = staged.advance(states, keys,
                                     jax.numpy.asarray([updates_left]))
    performance = np.concatenate(
        [performance, np.asarray(jax.device_get(segment), np.float64)], 1)
    progress = {**progress, "segments_done": i + 1, "updates_into_segment": 0,
                "wall_time_s": progress["wall_time_s"] + time.time()
                - segment_started,
                "performance": _json_curve(performance)}
    _save_progress(directory, progress, states)
    seconds = time.time() - segment_started
    seconds_per_update = seconds / updates_left
    recipe = task.recipe
    log(f"segment {i + 1} of {len(lengths)}: "
        f"{sum(lengths[:i + 1]) * recipe.cost_per_update:.4g} "
        f"{recipe.cost_unit}, {task.performance_name} "
        f"{np.round(performance[:, -1], 4).tolist()}, "
        f"{updates_left * recipe.cost_per_update * len(seeds) / seconds:.3g} "
        f"{recipe.cost_unit}/s over all seeds (checkpoint included)")
  return (performance, np.asarray(states.diverged),
          staged.variables(states, keys), progress["wall_time_s"],
          progress["processes"])


def _partial(progress: dict, lengths: jax.Array) -> str:
  """How far into its next segment a paused training is, for messages."""
  updates, done = progress["updates_into_segment"], progress["segments_done"]
  if not updates:
    return ""
  return (f", {updates} of the {int(lengths[done])} updates into segment "
          f"{done + 1}")


def train_originals(task: spec.Task, workdir: str, seeds: list[int],
                    flags: dict | None = None,
                    vmap_size: int | None = None,
                    resumable: bool = False,
                    log: Callable[[str], None] = print,
                    time_limit_s: float | None = None) -> list[Original]:
  """Trains the given seeds in one program and checkpoints each.

  `vmap_size` seeds are vmapped together (None: all of them); see
  `scratch.make_scratch_training`. `resumable` trains one evaluation
  segment per program with checkpoints between (module docstring), and
  pauses cleanly before a segment that would end past `time_limit_s`.

  Raises:
    spec.InputError: a seed diverged; nothing is written for any seed.
    Paused: a resumable training reached `time_limit_s`.
  """
  keys = jax.numpy.stack([prng.derive_key(task.name, "original", s)
                          for s in seeds])
  vmap_size = batching.resolve_vmap_size(task, vmap_size)
  processes = 1
  if resumable:
    performance, diverged, variables, wall, processes = _train_in_segments(
        task, workdir, seeds, keys, vmap_size, log, time_limit_s)
  else:
    started = time.time()
    curves, variables = (streaming.make_streamed_scratch_training(task)
                         if task.streamed else
                         scratch.make_scratch_training(task, vmap_size))(
                             keys)
    performance = np.asarray(jax.device_get(curves.performance), np.float64)
    diverged = np.asarray(curves.diverged)
    wall = time.time() - started
  for i, seed in enumerate(seeds):
    if bool(diverged[i]) or not np.all(np.isfinite(performance[i])):
      if resumable:
        shutil.rmtree(progress_dir(workdir, task.name))
      raise spec.InputError(
          f"original seed {seed} of {task.name} diverged (non-finite loss or "
          "performance); no original was saved")
  staging = commit_dir(workdir, task.name)
  if os.path.exists(staging):
    shutil.rmtree(staging)  # An interrupted earlier attempt.
  try:
    originals = _stage(task, staging, seeds, variables, performance, wall,
                       vmap_size, processes, flags)
    storage.write_text_atomic(os.path.join(staging, COMMITTED),
                              f"{list(seeds)}\n")
  except BaseException:  # A full disk, say: nothing partial stays.
    shutil.rmtree(staging, ignore_errors=True)
    raise
  finish_commit(workdir, task.name)
  if resumable:
    shutil.rmtree(progress_dir(workdir, task.name))
  return originals


def _stage(task: spec.Task, staging: str, seeds: list[int], variables: Any,
           performance: np.ndarray, wall: float, vmap_size: int | None,
           processes: int, flags: dict | None) -> list[Original]:
  """Writes each seed's checkpoint and manifest under `staging`."""
  originals = []
  for i, seed in enumerate(seeds):
    own = jax.tree.map(lambda v: np.asarray(v[i]), variables)
    directory = os.path.join(staging, f"seed-{seed}")
    storage.save_checkpoint(os.path.join(directory, "checkpoint"), own)
    digest = storage.content_hash(own)
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "task": task.name,
        "task_config": task.config,
        "seed": seed,
        "content_sha256": digest,
        "p0": task.p0,
        "performance_name": task.performance_name,
        "p_star": float(performance[i, -1]),
        "cost_unit": task.recipe.cost_unit,
        "eval_costs": [u * task.recipe.cost_per_update
                       for u in task.recipe.eval_updates],
        "performance": performance[i].tolist(),
        "provenance": storage.provenance(
            wall_time_s=wall, seeds_trained_together=len(seeds),
            vmap_size=vmap_size, training_processes=processes,
            flags=flags or {}),
    }
    storage.write_json_atomic(os.path.join(directory, "manifest.json"),
                              manifest)
    originals.append(Original(seed, own, digest, performance[i], manifest))
  return originals


@contextlib.contextmanager
def _training_lock(workdir: str, task_name: str):
  """Held while a process trains a task's originals in `workdir`, so that
  processes running other splits of the same task into the same workdir
  wait for those originals and load them, instead of training the same
  checkpoints at once (they would collide on its files).

  An advisory `flock` on the task's originals folder itself (no lock file
  among the seed folders), released by the kernel if its holder dies. Not
  taken by the processes of one distributed run: they train the originals
  together, so none of them may wait for another.
  """
  if jax.process_count() > 1:
    yield
    return
  directory = os.path.join(workdir, "originals", task_slug(task_name))
  created = []  # The folders this call makes, deepest first.
  probe = os.path.abspath(directory)
  while not os.path.exists(probe):
    created.append(probe)
    probe = os.path.dirname(probe)
  try:
    os.makedirs(directory, exist_ok=True)
  except OSError as e:  # A path the checks could not foresee (/proc/x).
    raise spec.InputError(f"workdir {workdir}: cannot create {directory}: "
                          f"{e.strerror}") from e
  descriptor = os.open(directory, os.O_RDONLY)
  try:
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    yield
  except BaseException:
    # A failed training (a diverged original, bad input) leaves nothing,
    # not even the empty folders made for it; a folder another process
    # has filled meanwhile stays.
    os.close(descriptor)
    descriptor = None
    for folder in created:
      try:
        os.rmdir(folder)
      except OSError:
        break
    raise
  finally:
    if descriptor is not None:
      os.close(descriptor)  # Releases the lock.


def ensure_originals(task: spec.Task, workdir: str, num: int,
                     log: Callable[[str], None] = print,
                     flags: dict | None = None,
                     vmap_size: int | None = None,
                     resumable: bool = False,
                     time_limit_s: float | None = None,
                     first_seed: int = 0) -> list[Original]:
  """Seeds first_seed..first_seed+num-1: reused from `workdir` where cached,
  trained otherwise (`resumable`, `time_limit_s`: see `train_originals`).

  A later `first_seed` lets several processes train different seeds at once
  (in their own workdirs; an original is its seed's folder, so they merge
  by copying): what a task whose runs cannot be vmapped, such as one on a
  stateful environment pool, needs to use a machine it alone cannot fill.
  """
  if num < 1:
    raise spec.InputError(f"need at least one original, got {num}")
  if first_seed < 0:
    raise spec.InputError(f"seeds start at 0, got first seed {first_seed}")
  seeds = range(first_seed, first_seed + num)
  found = {seed: load_original(task, workdir, seed) for seed in seeds}
  if any(o is None for o in found.values()):
    with _training_lock(workdir, task.name):
      # A killed process may have left a commit to finish, and another
      # may have trained them while this one waited.
      finish_commit(workdir, task.name)
      found = {seed: found[seed] or load_original(task, workdir, seed)
               for seed in seeds}
      missing = [seed for seed, o in found.items() if o is None]
      if missing:
        log(f"training {len(missing)} original(s) of {task.name} "
            f"(seeds {missing}) ...")
        for original in train_originals(task, workdir, missing, flags,
                                       vmap_size, resumable, log,
                                       time_limit_s):
          found[original.seed] = original
  for seed in seeds:
    log(f"original {task.name} seed {seed}: {task.performance_name} "
        f"{found[seed].p_star:.4f}, sha256 {found[seed].content_hash[:12]}")
  return [found[seed] for seed in seeds]


def published_manifests(workdir: str, slug: str) -> list[dict]:
  """The manifests of the originals a workdir holds for a task (by its slug),
  in seed order: the originals its records must have been measured against.
  Interrupted trainings (no manifest) are not published."""
  directory = os.path.join(workdir, "originals", slug)
  seeds = sorted(int(m.group(1)) for m in (
      re.fullmatch(r"seed-(\d+)", entry) for entry in
      (os.listdir(directory) if os.path.isdir(directory) else [])) if m)
  paths = [os.path.join(directory, f"seed-{seed}", "manifest.json")
           for seed in seeds]
  return [storage.read_json(path) for path in paths if os.path.isfile(path)]


def originals_hash(content_hashes: list[str]) -> str:
  """The hash that names a set of originals in records: sha256 of the JSON
  list of their content hashes, in seed order."""
  return storage.json_hash(list(content_hashes))
