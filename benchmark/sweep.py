"""A completion sweep: every (split, procedure) of one task, several seeds.

`run_sweep(settings)` validates everything first (task, splits, procedures,
alphas; nothing is trained or written for bad input), trains or reuses the
originals, computes the from-scratch reference `t0(alpha)`, then runs each
(split, procedure) as one compiled program over seeds and writes its record at
once. A rerun of the same command skips records that are already complete,
so an interrupted sweep loses at most the job in flight.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from benchmark import compilation, completion, hardness, leaderboard
from benchmark import originals as originals_lib
from benchmark import procedures as procedures_lib
from benchmark import records, splitter, storage, streaming
from tasks import registry, spec


MATMUL_PRECISIONS = ("default", "tensorfloat32", "float32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class SweepSettings:
  """Every knob of a sweep (DESIGN.md); the CLI's flags map onto these."""

  task: str = "digits/mlp"
  splits: tuple[str, ...] = splitter.FAMILIES
  procedures: tuple[str, ...] = tuple(procedures_lib.PROCEDURES)
  seeds: int = 5
  alphas: tuple[float, ...] = (0.5, 0.9, 0.99)
  num_originals: int = 3
  budget_fraction: float = 1.0
  train_fraction: float = 1.0
  finetune_fraction: float | None = None
  reinit: str = "init"
  early_stop: bool = True
  bootstrap_reps: int = 2000
  vmap_size: int | None = None  # Runs vmapped together; None: all seeds.
  # (split, procedure) jobs run in one compiled program (their masks and
  # procedures are data); their seeds are vmapped together too.
  jobs_per_program: int = 1
  # Slots refilled from the waiting runs as runs stop, `vmap_size` of them
  # (completion.make_refilling_runs), so early stopping saves time in a
  # batched program too.
  refill: bool = False
  # Trajectory access: episodes of the original agent the adversary gets.
  trajectory_episodes: int = 0
  # Devices the runs of a program are spread over; None: every device.
  num_devices: int | None = None
  # Precision of float32 matrix products and convolutions in completion
  # runs (`jax.default_matmul_precision`): "default" is the backend's (TF32
  # on recent NVIDIA GPUs, bf16 passes on TPUs), "float32" full precision,
  # "bfloat16" one bf16 pass.
  matmul_precision: str = "default"
  # Device memory a program may plan for, in GiB; None: 90% of what the
  # device reports (nothing on XLA:CPU, which reports no limit). Runs that
  # do not fit are vmapped in smaller chunks (completion.fit_vmap_size).
  memory_limit_gib: float | None = None
  # How the task computes, not what (`registry.get_task`'s
  # `implementation`), as (option, value) pairs: e.g. the CIFAR ResNets'
  # Pallas kernel gradient. Recorded in provenance (the flags); records keep
  # their keys and variant.
  implementation: tuple[tuple[str, str], ...] = ()
  workdir: str = "workdir"
  data_dir: str | None = None


MEMORY_HEADROOM = 0.9  # Of the device's limit: allocator slack, buffers
# outside the program (the originals, the data's host copies).


def memory_limit(settings: SweepSettings) -> int | None:
  """Bytes one program may plan for (`SweepSettings.memory_limit_gib`)."""
  if settings.memory_limit_gib is not None:
    if settings.memory_limit_gib <= 0:
      raise spec.InputError("memory limit must be positive, got "
                            f"{settings.memory_limit_gib} GiB")
    return int(settings.memory_limit_gib * 2**30)
  device = completion.device_memory_limit()
  return None if device is None else int(MEMORY_HEADROOM * device)


def records_dir(workdir: str, task_name: str) -> str:
  return os.path.join(workdir, "records", originals_lib.task_slug(task_name))


def leaderboard_path(workdir: str, task_name: str) -> str:
  return os.path.join(workdir, "leaderboard",
                      originals_lib.task_slug(task_name) + ".md")


def variant_label(settings: SweepSettings, finetune_rate: float) -> str:
  """The adversary variant: every setting besides split and procedure that
  changes what the adversary can do."""
  label = (f"data{settings.train_fraction:g}-budget"
           f"{settings.budget_fraction:g}-{settings.reinit}"
           f"-ft{finetune_rate:.3g}")
  if settings.trajectory_episodes:
    label += f"-traj{settings.trajectory_episodes}"
  return label


def precision_label(settings: SweepSettings) -> str:
  """What a non-default matmul precision adds to a records' variant (not to
  their keys: precisions are compared on the same random numbers)."""
  if settings.matmul_precision == "default":
    return ""
  return f"-mm{settings.matmul_precision}"


def originals_hash(originals: Sequence[originals_lib.Original]) -> str:
  return originals_lib.originals_hash([o.content_hash for o in originals])


def reference(task: spec.Task, originals: Sequence[originals_lib.Original],
              alphas: Sequence[float]) -> dict[str, Any]:
  """`t0(alpha)` from the originals' own curves (median over originals)."""
  costs = [u * task.recipe.cost_per_update for u in task.recipe.eval_updates]
  curves = [hardness.normalise(o.performance, task.p0, o.p_star)
            for o in originals]
  return {
      "eval_costs": costs,
      "t0": hardness.reference_costs(costs, curves, alphas),
      "originals_t": [[hardness.first_reach(costs, c, a) for a in alphas]
                      for c in curves],
  }


def _finite_or_none(values: np.ndarray) -> list[float | None]:
  return [float(v) if np.isfinite(v) else None for v in values]


class SweepContext(NamedTuple):
  """What every record of one sweep shares."""

  task: spec.Task
  settings: SweepSettings
  alphas: tuple[float, ...]
  originals: Sequence[originals_lib.Original]
  reference: dict[str, Any]
  eval_updates: tuple[int, ...]
  variant: str
  flags: dict
  devices_used: int


def adversary(context: SweepContext, curves: completion.Curve) -> dict:
  """A record's adversary: its variant label and what it was given."""
  settings, task = context.settings, context.task
  fields = {"variant": context.variant,
            "train_fraction": settings.train_fraction}
  # Only with access, so that records without it keep their content.
  if settings.trajectory_episodes:
    fields["trajectory_episodes"] = settings.trajectory_episodes
    fields["warm_start"] = {
        **task.data_info.get("trajectory_access", {}),
        "cost_unit": task.recipe.cost_unit,
        "cost_per_seed": [float(c) for c in np.asarray(
            curves.warm_start_cost)],
    }
  return fields


def make_record(context: SweepContext, scheme: splitter.Scheme,
                summary: dict[str, Any], procedure_name: str,
                procedure: procedures_lib.ProcedureSettings,
                curves: completion.Curve,
                program_stats: dict[str, Any]) -> dict[str, Any]:
  """Builds the record of one (split, procedure) from its seeds' curves.

  `program_stats` describes the compiled program that ran it (shared with
  the other jobs of that program): wall and compile time, cache hits.
  """
  task, settings, originals = context.task, context.settings, context.originals
  costs = [u * task.recipe.cost_per_update for u in context.eval_updates]
  performance = np.asarray(curves.performance, np.float64)
  seeds, normalised = [], []
  for seed in range(settings.seeds):
    original = originals[seed % len(originals)]
    seeds.append({"seed": seed, "original_seed": original.seed,
                  "p_star": original.p_star,
                  "diverged": bool(curves.diverged[seed]),
                  "performance": _finite_or_none(performance[seed])})
    normalised.append(hardness.normalise(performance[seed], task.p0,
                                         original.p_star))
  record = {
      "task": task.name,
      "task_config": task.config,
      "split": {**scheme.to_json(), **summary},
      "originals_sha256": originals_hash(originals),
      "procedure": {
          "name": procedure_name,
          "train_only_withheld": bool(procedure.train_only_withheld),
          "finetune": bool(procedure.finetune),
          "finetune_learning_rate": float(procedure.finetune_learning_rate),
          "reinit": settings.reinit,
      },
      "adversary": adversary(context, curves),
      "budget": {"fraction": settings.budget_fraction, "cost": costs[-1],
                 "cost_unit": task.recipe.cost_unit},
      "alphas": list(context.alphas),
      "early_stop": settings.early_stop,
      "bootstrap_reps": settings.bootstrap_reps,
      "p0": task.p0,
      "performance_name": task.performance_name,
      "originals": [{"seed": o.seed, "content_sha256": o.content_hash,
                     "p_star": o.p_star} for o in originals],
      "reference": context.reference,
      "eval_costs": costs,
      "seeds": seeds,
      "hardness": hardness.hardness_table(
          costs, normalised, context.reference["t0"], context.alphas,
          costs[-1], settings.bootstrap_reps),
      "provenance": storage.provenance(
          wall_time_s=program_stats["wall_time_s"] / program_stats["jobs"],
          program=program_stats, flags=context.flags,
          matmul_precision=settings.matmul_precision,
          devices_used=context.devices_used),
  }
  return records.finalise(record)


def _is_complete(path: str, settings: SweepSettings, alphas) -> bool:
  """A finished record of the same sweep settings exists at `path`."""
  if not os.path.isfile(path):
    return False
  try:
    old = records.read(path)
  except spec.InputError:
    return False  # Corrupt: computed again and replaced.
  return (len(old["seeds"]) == settings.seeds and old["alphas"] == list(alphas)
          and old["early_stop"] == settings.early_stop
          and old["bootstrap_reps"] == settings.bootstrap_reps)


def run_sweep(settings: SweepSettings, log: Callable[[str], None] = print,
              flags: dict | None = None) -> dict[str, Any]:
  """Runs (or resumes) a sweep and rebuilds the task's leaderboard.

  Returns:
    `{"records": [paths], "skipped": [paths], "leaderboard": path,
    "markdown": text}`.

  Raises:
    spec.InputError: any bad input, before anything is trained or written.
  """
  flags = flags or dataclasses.asdict(settings)
  alphas = hardness.validate_alphas(settings.alphas)
  if settings.seeds < 1:
    raise spec.InputError(f"need at least one seed, got {settings.seeds}")
  if settings.jobs_per_program < 1:
    raise spec.InputError("jobs per program must be at least 1, got "
                          f"{settings.jobs_per_program}")
  task = registry.get_task(settings.task, data_dir=settings.data_dir,
                           implementation=dict(settings.implementation))
  completion.check_trajectory_access(task, settings.trajectory_episodes)
  if settings.trajectory_episodes and task.streamed:
    raise spec.InputError(f"{task.name}: trajectory access is not "
                          "available for streamed tasks")
  vmap_size = completion.resolve_vmap_size(task, settings.vmap_size)
  completion.over_runs(vmap_size)  # Validates it.
  if settings.refill:
    if task.streamed:
      raise spec.InputError(f"{task.name}: refilling slots is not available "
                            "for streamed tasks")
    completion.make_refilling_runs(task, slots=vmap_size)  # Validates it.
  mesh = completion.run_mesh(settings.num_devices)
  if settings.matmul_precision not in MATMUL_PRECISIONS:
    raise spec.InputError(
        f"unknown matmul precision {settings.matmul_precision!r}; known: "
        f"{', '.join(MATMUL_PRECISIONS)}")
  program_memory = memory_limit(settings)
  if vmap_size == 1 and not settings.refill:
    program_memory = None  # Runs in turn have nothing left to cut.
  adversary_task = task if settings.train_fraction == 1.0 else (
      registry.get_task(settings.task, data_dir=settings.data_dir,
                        train_fraction=settings.train_fraction,
                        implementation=dict(settings.implementation)))
  procedure_settings = {
      name: procedures_lib.settings(
          name, task.recipe, finetune_fraction=settings.finetune_fraction,
          reinit=settings.reinit) for name in settings.procedures}
  eval_updates = completion.budget_schedule(task.recipe,
                                            settings.budget_fraction)
  # Eagerly initialised variables keep the layers' creation order.
  template = task.init(jax.random.key(0))
  schemes = splitter.resolve_schemes(template, settings.splits, task.name)
  if not schemes or not settings.procedures:
    raise spec.InputError("nothing to run: give at least one split and one "
                          "procedure")

  originals = originals_lib.ensure_originals(
      task, settings.workdir, settings.num_originals, log, flags,
      vmap_size)
  reference_costs = reference(task, originals, alphas)
  log("t0 (" + task.recipe.cost_unit + "): " + ", ".join(
      f"alpha={a:g}: {t:g}" for a, t in zip(alphas, reference_costs["t0"])))

  finetune_rate = procedures_lib.finetune_learning_rate(
      task.recipe, settings.finetune_fraction)
  key_variant = variant_label(settings, finetune_rate)
  variant = key_variant + precision_label(settings)
  context = SweepContext(task, settings, alphas, originals, reference_costs,
                         eval_updates, variant, flags,
                         mesh.size if task.shardable else 1)
  out_dir = records_dir(settings.workdir, task.name)
  digest = originals_hash(originals)
  seed_originals = [originals[s % len(originals)].variables
                    for s in range(settings.seeds)]
  top_alpha = max(alphas)
  stops = jnp.asarray([
      task.p0 + top_alpha * (originals[s % len(originals)].p_star - task.p0)
      if settings.early_stop else np.inf for s in range(settings.seeds)],
                      jnp.float32)
  runs = (streaming.make_streamed_completion(adversary_task, eval_updates)
          if adversary_task.streamed else
          completion.make_batched_completion(
              adversary_task, eval_updates, vmap_size,
              settings.trajectory_episodes, mesh,
              program_memory, log, settings.refill))

  # Every process of a multi-process job computes every record; one writes.
  writer = jax.process_index() == 0
  jobs, written, skipped = [], [], []
  for scheme, mask in schemes:
    for name in settings.procedures:
      path = records.record_path(out_dir, scheme.name, name, variant, digest)
      if _is_complete(path, settings, alphas):
        skipped.append(path)
      else:
        jobs.append((scheme, mask, name))
  seeds = range(settings.seeds)
  sweep_started, totals = time.time(), compilation.CompileStats(0.0, 0, 0)
  progress = tqdm.tqdm(total=len(jobs), desc=f"{task.name} completion",
                       unit="run", dynamic_ncols=True)
  for first in range(0, len(jobs), settings.jobs_per_program):
    program = jobs[first:first + settings.jobs_per_program]
    progress.set_postfix_str(", ".join(f"{scheme.name} {name}"
                                       for scheme, _, name in program))
    keys = jnp.stack([completion.derive_key(task.name, digest, scheme.name,
                                            name, key_variant, seed)
                      for scheme, _, name in program for seed in seeds])
    started, compiled = time.time(), compilation.compile_stats()
    with jax.default_matmul_precision(settings.matmul_precision):
      curves = jax.device_get(runs(
          keys, completion.stack_runs(seed_originals * len(program)),
          completion.stack_runs([mask for _, mask, _ in program
                                 for _ in seeds]),
          completion.stack_runs([procedure_settings[name]
                                 for _, _, name in program for _ in seeds]),
          jnp.tile(stops, len(program)), adversary_task.data))
    wall = time.time() - started
    compiled = compilation.compile_stats() - compiled
    totals = totals + compiled
    program_stats = {"jobs": len(program), "wall_time_s": wall,
                     "compile_time_s": compiled.compile_time_s,
                     "compile_cache_hits": compiled.cache_hits,
                     "compile_cache_misses": compiled.cache_misses}
    for j, (scheme, mask, name) in enumerate(program):
      job_curves = jax.tree.map(
          lambda x, j=j: x[j * settings.seeds:(j + 1) * settings.seeds],
          curves)
      record = make_record(context, scheme, splitter.summarize(template, mask),
                           name, procedure_settings[name], job_curves,
                           program_stats)
      if writer:
        written.append(records.write(out_dir, record))
      else:
        written.append(records.record_path(out_dir, scheme.name, name,
                                           variant, digest))
    progress.update(len(program))
  progress.close()
  if jobs:
    log(f"{len(jobs)} job(s) in {time.time() - sweep_started:.1f} s, of which "
        f"compiling {totals.compile_time_s:.1f} s ({totals.cache_hits} "
        "program(s) from the compilation cache)")
  board = leaderboard_path(settings.workdir, task.name)
  markdown, bad = leaderboard.write(out_dir, board) if writer else ("", [])
  for line in bad:
    log(f"warning: left out of the leaderboard: {line}")
  return {"records": written, "skipped": skipped, "leaderboard": board,
          "markdown": markdown}
