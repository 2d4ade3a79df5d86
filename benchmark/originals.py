"""Originals: models trained by a task's recipe, checkpointed and verified.

Layout under a workdir, one folder per task and seed:

    originals/<task-slug>/seed-<i>/checkpoint/   orbax checkpoint
    originals/<task-slug>/seed-<i>/manifest.json curve, content hash, provenance

The manifest is written last and atomically: a folder without one is an
interrupted training and is trained again. A manifest whose hash does not
match its checkpoint, or whose recipe differs from the task's, is an error.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from typing import Any, Callable, NamedTuple

import jax
import numpy as np

from benchmark import completion, storage, streaming
from tasks import spec

MANIFEST_SCHEMA = "mcbench.original/1"


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


def train_originals(task: spec.Task, workdir: str, seeds: list[int],
                    flags: dict | None = None,
                    vmap_size: int | None = None) -> list[Original]:
  """Trains the given seeds in one program and checkpoints each.

  `vmap_size` seeds are vmapped together (None: all of them); see
  `completion.make_scratch_training`.

  Raises:
    spec.InputError: a seed diverged; nothing is written for any seed.
  """
  keys = jax.numpy.stack([completion.derive_key(task.name, "original", s)
                          for s in seeds])
  vmap_size = completion.resolve_vmap_size(task, vmap_size)
  started = time.time()
  curves, variables = (streaming.make_streamed_scratch_training(task)
                       if task.streamed else completion.make_scratch_training(
                           task, vmap_size))(keys)
  performance = np.asarray(jax.device_get(curves.performance), np.float64)
  wall = time.time() - started
  for i, seed in enumerate(seeds):
    if bool(curves.diverged[i]) or not np.all(np.isfinite(performance[i])):
      raise spec.InputError(
          f"original seed {seed} of {task.name} diverged (non-finite loss or "
          "performance); no original was saved")
  originals = []
  for i, seed in enumerate(seeds):
    own = jax.tree.map(lambda v: np.asarray(v[i]), variables)
    directory = original_dir(workdir, task.name, seed)
    if os.path.exists(directory):
      shutil.rmtree(directory)  # An interrupted earlier attempt.
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
            vmap_size=vmap_size,
            flags=flags or {}),
    }
    storage.write_json_atomic(os.path.join(directory, "manifest.json"),
                              manifest)
    originals.append(Original(seed, own, digest, performance[i], manifest))
  return originals


def ensure_originals(task: spec.Task, workdir: str, num: int,
                     log: Callable[[str], None] = print,
                     flags: dict | None = None,
                     vmap_size: int | None = None) -> list[Original]:
  """Seeds 0..num-1: reused from `workdir` where cached, trained otherwise."""
  if num < 1:
    raise spec.InputError(f"need at least one original, got {num}")
  found = {seed: load_original(task, workdir, seed) for seed in range(num)}
  missing = [seed for seed, o in found.items() if o is None]
  if missing:
    log(f"training {len(missing)} original(s) of {task.name} "
        f"(seeds {missing}) ...")
    for original in train_originals(task, workdir, missing, flags,
                                   vmap_size):
      found[original.seed] = original
  for seed in range(num):
    log(f"original {task.name} seed {seed}: {task.performance_name} "
        f"{found[seed].p_star:.4f}, sha256 {found[seed].content_hash[:12]}")
  return [found[seed] for seed in range(num)]
