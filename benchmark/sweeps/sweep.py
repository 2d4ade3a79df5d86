"""A completion sweep: every (split, procedure) of one task, several seeds.

`run_sweep(settings)` validates everything first (task, splits, procedures,
alphas, the protocol's rules for published sweeps; nothing is trained or
written for bad input), trains or reuses the originals, computes the
from-scratch reference `t0(alpha)`, then runs each (split, procedure) as one
compiled program over seeds and the schedules of its grid (T3/T4,
`procedures.schedule_grid`) and writes its record at once. A rerun of the
same command skips records that are already complete, so an interrupted
sweep loses at most the job in flight.

Runs are keyed by the task, the originals and the mask's content, never the
split's name or the procedure: the same mask gives the same numbers under
any name, and the procedures of a split start from the same
re-initialisation (paired comparisons).
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

from benchmark.engine import batching, compilation, completion, memory, prng
from benchmark.engine import sharding, streaming
from benchmark.science import hardness, protocol, splitter
from benchmark.science import procedures as procedures_lib
from benchmark.sweeps import originals as originals_lib
from benchmark.sweeps import records, storage
from contract import spec
from tasks import registry


MATMUL_PRECISIONS = ("default", "tensorfloat32", "float32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class SweepSettings:
  """Every knob of a sweep (PROTOCOL.md); the CLI's flags map onto these."""

  task: str = "digits/mlp"
  splits: tuple[str, ...] = splitter.FAMILIES
  procedures: tuple[str, ...] = tuple(procedures_lib.PROCEDURES)
  seeds: int | None = None  # None: the task's `default_seeds`.
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
  # (batching.make_refilling_runs), so early stopping saves time in a
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
  # do not fit are vmapped in smaller chunks (memory.fit_vmap_size).
  memory_limit_gib: float | None = None
  # How the task computes, not what (`registry.get_task`'s
  # `implementation`), as (option, value) pairs: e.g. the CIFAR ResNets'
  # Pallas kernel gradient. Recorded in provenance (the flags); records keep
  # their keys and variant.
  implementation: tuple[tuple[str, str], ...] = ()
  workdir: str = "workdir"
  data_dir: str | None = None
  # A private experiment: its records are marked unpublishable, whatever
  # the tree; refused in the published `results/`.
  private: bool = False
  # Compute again, and replace, records found corrupt or edited (without
  # it such a record stops the sweep).
  recompute: bool = False


# Repeated evaluations of each original that measure an RL task's
# evaluation noise (`protocol.repeated_standard_error`).
EVALUATION_REPEATS = 8


MEMORY_HEADROOM = 0.9  # Of the device's limit: allocator slack, buffers
# outside the program (the originals, the data's host copies).


def memory_limit(settings: SweepSettings) -> int | None:
  """Bytes one program may plan for (`SweepSettings.memory_limit_gib`)."""
  if settings.memory_limit_gib is not None:
    if settings.memory_limit_gib <= 0:
      raise spec.InputError("memory limit must be positive, got "
                            f"{settings.memory_limit_gib} GiB")
    return int(settings.memory_limit_gib * 2**30)
  device = memory.device_memory_limit()
  return None if device is None else int(MEMORY_HEADROOM * device)


def records_dir(workdir: str, task_name: str) -> str:
  return os.path.join(workdir, "records", originals_lib.task_slug(task_name))


def leaderboard_path(workdir: str, task_name: str) -> str:
  return os.path.join(workdir, "leaderboard",
                      originals_lib.task_slug(task_name) + ".md")


def variant_label(settings: SweepSettings) -> str:
  """The adversary variant: every setting besides split and procedure that
  changes what the adversary can do, after the protocol version (records of
  protocol v1 carry no version and a constant fine-tuning rate, `-ft...`)."""
  label = (f"v{protocol.VERSION}-data{settings.train_fraction:g}-budget"
           f"{settings.budget_fraction:g}-{settings.reinit}")
  if settings.finetune_fraction is not None:
    label += f"-ft{settings.finetune_fraction:g}"
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


def evaluation_standard_error(task: spec.Task,
                              originals: Sequence[originals_lib.Original]
                              ) -> float:
  """The standard error of one evaluation of the task at its originals:
  declared (`spec.Task.evaluation_error`, median over originals) or
  measured from `EVALUATION_REPEATS` evaluations of each original with
  independent keys (`spec.Task.keyed_evaluate`)."""
  if task.evaluation_error is not None:
    return float(np.median([task.evaluation_error(o.p_star)
                            for o in originals]))
  keys = jnp.stack([prng.derive_key(task.name, "evaluation-noise", i)
                    for i in range(EVALUATION_REPEATS)])
  evaluate = task.keyed_evaluate or task.evaluate
  if task.streamed:
    def repeat(variables):
      return [evaluate(variables, task.data, key) for key in keys]
  else:
    repeated = sharding.task_jit(task, lambda variables, data, keys: (
        jax.lax.map(lambda key: evaluate(variables, data, key), keys)))

    def repeat(variables):
      return np.asarray(repeated(variables, task.data, keys))
  return protocol.repeated_standard_error(
      [repeat(o.variables) for o in originals])


def protocol_fields(task: spec.Task,
                    originals: Sequence[originals_lib.Original],
                    alphas: Sequence[float]) -> dict[str, Any]:
  """What protocol v2 says of a sweep's task and originals: the evaluation's
  standard error, the headline alpha it allows, and whether the originals
  converged and agree."""
  error = evaluation_standard_error(task, originals)
  p_star = float(np.median([o.p_star for o in originals]))
  costs = [u * task.recipe.cost_per_update for u in task.recipe.eval_updates]
  return {
      "version": protocol.VERSION,
      "evaluation_standard_error": error,
      "headline_alpha": protocol.headline_alpha(alphas, p_star, task.p0,
                                                error),
      "headline_rule": (f"the highest alpha with (1 - alpha)(median P* - P0) "
                        f">= {protocol.MARGIN_STANDARD_ERRORS:g} standard "
                        "errors of the evaluation"),
      "originals_check": protocol.convergence(
          costs, [o.performance for o in originals], task.p0, error),
  }


def publishable(settings: SweepSettings, seeds: int,
                check: dict[str, Any]) -> tuple[bool, list[str]]:
  """`(publishable, reasons not)` of a sweep's records: a clean commit, the
  protocol's settings, converged originals, not private."""
  reasons = []
  if settings.private:
    reasons.append("private experiment (--private)")
  dirty = storage.dirty_code_files()
  if dirty is None:
    reasons.append("no git commit to reproduce it from")
  elif dirty:
    reasons.append("uncommitted changes to " + ", ".join(dirty))
  try:
    protocol.check_published_settings(
        seeds=seeds, budget_fraction=settings.budget_fraction,
        num_originals=settings.num_originals)
  except spec.InputError as e:
    reasons.append(str(e))
  if not check["converged"]:
    reasons.append("the originals have not converged or do not agree")
  return not reasons, reasons


class SweepContext(NamedTuple):
  """What every record of one sweep shares."""

  task: spec.Task
  settings: SweepSettings
  seeds: int
  alphas: tuple[float, ...]
  originals: Sequence[originals_lib.Original]
  reference: dict[str, Any]
  protocol: dict[str, Any]
  publishable: tuple[bool, list[str]]
  eval_updates: tuple[int, ...]
  variant: str
  flags: dict
  devices_used: int


def adversary(context: SweepContext, warm_start_cost: np.ndarray) -> dict:
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
        "cost_per_seed": [float(c) for c in warm_start_cost],
    }
  return fields


def oracle_curve(performance: np.ndarray) -> np.ndarray:
  """The best of a grid's curves at each evaluation (`[schedules, evals]`
  -> `[evals]`; NaN where none was evaluated). Its first reach of any
  alpha is the earliest first reach among the schedules: `t_T(alpha)`."""
  finite = np.isfinite(performance)
  best = np.max(np.where(finite, performance, -np.inf), axis=0)
  return np.where(finite.any(axis=0), best, np.nan)


def winning_schedules(costs: Sequence[float], grid: np.ndarray,
                      labels: Sequence[str], alpha: float,
                      p0: float, p_star: float) -> str | None:
  """The schedule that first reached `alpha` (the first in grid order on a
  tie), None if none did."""
  reached = [hardness.first_reach(costs, hardness.normalise(curve, p0,
                                                            p_star), alpha)
             for curve in grid]
  candidates = [(t, i) for i, t in enumerate(reached) if t is not None]
  return labels[min(candidates)[1]] if candidates else None


def make_record(context: SweepContext, scheme: splitter.Scheme,
                summary: dict[str, Any], procedure_name: str,
                schedules: Sequence[procedures_lib.Schedule],
                curves: completion.Curve,
                program_stats: dict[str, Any]) -> dict[str, Any]:
  """Builds the record of one (split, procedure) from its runs' curves.

  `curves` has a leading axis of `seeds x len(schedules)` runs, seed-major.
  `program_stats` describes the compiled program that ran it (shared with
  the other jobs of that program): wall and compile time, cache hits.
  """
  task, settings, originals = context.task, context.settings, context.originals
  costs = [u * task.recipe.cost_per_update for u in context.eval_updates]
  width = len(schedules)
  labels = [schedule.label for schedule in schedules]
  performance = np.asarray(curves.performance, np.float64).reshape(
      context.seeds, width, -1)
  diverged = np.asarray(curves.diverged).reshape(context.seeds, width)
  warm_start_cost = np.asarray(curves.warm_start_cost).reshape(
      context.seeds, width)[:, 0]
  seeds, normalised = [], []
  for seed in range(context.seeds):
    original = originals[seed % len(originals)]
    best = oracle_curve(performance[seed])
    entry = {"seed": seed, "original_seed": original.seed,
             "p_star": original.p_star,
             "diverged": bool(diverged[seed].any()),
             "performance": _finite_or_none(best)}
    if width > 1:
      entry["grid"] = [{"schedule": label, "diverged": bool(d),
                        "performance": _finite_or_none(curve)}
                       for label, d, curve in zip(labels, diverged[seed],
                                                  performance[seed])]
    seeds.append(entry)
    normalised.append(hardness.normalise(best, task.p0, original.p_star))
  table = hardness.hardness_table(
      costs, normalised, context.reference["t0"], context.alphas, costs[-1],
      settings.bootstrap_reps)
  for row in table:
    row["cap"] = costs[-1] / row["t0"] if row["t0"] > 0 else None
    if width > 1:
      row["won"] = [winning_schedules(
          costs, performance[seed], labels, row["alpha"], task.p0,
          originals[seed % len(originals)].p_star)
                    for seed in range(context.seeds)]
  publishable, reasons = context.publishable
  record = {
      "task": task.name,
      "task_config": task.config,
      "split": {**scheme.to_json(), **summary},
      "originals_sha256": originals_hash(originals),
      "procedure": {
          "name": procedure_name,
          "train_only_withheld": bool(schedules[0].settings
                                      .train_only_withheld),
          "finetune": bool(schedules[0].settings.finetune),
          "schedules": [schedule.to_json() for schedule in schedules],
          "reinit": settings.reinit,
      },
      "adversary": adversary(context, warm_start_cost),
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
      "protocol": context.protocol,
      "eval_costs": costs,
      "seeds": seeds,
      "hardness": table,
      "provenance": storage.provenance(
          wall_time_s=program_stats["wall_time_s"] / program_stats["jobs"],
          program=program_stats, flags=context.flags,
          matmul_precision=settings.matmul_precision,
          devices_used=context.devices_used,
          publishable=publishable, unpublishable_because=reasons),
  }
  return records.finalise(record)


def _is_complete(path: str, context: SweepContext,
                 schedules: Sequence[procedures_lib.Schedule]) -> bool:
  """A finished record of the same sweep settings exists at `path`."""
  if not os.path.isfile(path):
    return False
  try:
    old = records.read(path)
  except spec.InputError as e:
    if context.settings.recompute:
      return False  # Replaced, as asked.
    raise spec.InputError(
        f"{e} (a record is never replaced silently: rerun with --recompute "
        "to compute it again and replace it)") from e
  settings = context.settings
  return (len(old["seeds"]) == context.seeds
          and old["alphas"] == list(context.alphas)
          and old["early_stop"] == settings.early_stop
          and old["bootstrap_reps"] == settings.bootstrap_reps
          and old["procedure"].get("schedules") == storage.as_json(
              [schedule.to_json() for schedule in schedules]))


def check_published_sweep(settings: SweepSettings, seeds: int) -> None:
  """Raises `spec.InputError` for a sweep into the published `results/`
  that breaks a rule: private, from uncommitted code, or settings the
  protocol forbids there."""
  if not protocol.is_published_workdir(settings.workdir):
    return
  if settings.private:
    raise spec.InputError("private records do not belong in the published "
                          "results/: choose another --workdir")
  dirty = storage.dirty_code_files()
  if dirty is None:
    raise spec.InputError("the published results/ take records of committed "
                          "code only, and this tree has no git commit")
  if dirty:
    raise spec.InputError(
        "the published results/ take records of committed code only; "
        f"uncommitted changes to: {', '.join(dirty)} (commit them, or run a "
        "private experiment with --private and another --workdir)")
  protocol.check_published_settings(
      seeds=seeds, budget_fraction=settings.budget_fraction,
      num_originals=settings.num_originals)


def run_sweep(settings: SweepSettings, log: Callable[[str], None] = print,
              flags: dict | None = None) -> dict[str, Any]:
  """Runs (or resumes) a sweep; its leaderboard is publishing's
  (`benchmark.publishing.leaderboard.sweep_and_write`).

  Returns:
    `{"records": [paths], "skipped": [paths], "records_dir": path,
    "leaderboard": path of the task's table, "writer": whether this process
    writes (process 0 of a multi-process job)}`.

  Raises:
    spec.InputError: any bad input, before anything is trained or written;
      originals of a published sweep that have not converged.
  """
  flags = flags or dataclasses.asdict(settings)
  alphas = hardness.validate_alphas(settings.alphas)
  if settings.seeds is not None and settings.seeds < 1:
    raise spec.InputError(f"need at least one seed, got {settings.seeds}")
  if settings.jobs_per_program < 1:
    raise spec.InputError("jobs per program must be at least 1, got "
                          f"{settings.jobs_per_program}")
  task = registry.get_task(settings.task, data_dir=settings.data_dir,
                           implementation=dict(settings.implementation))
  num_seeds = settings.seeds or task.default_seeds
  storage.check_workdir(settings.workdir)
  check_published_sweep(settings, num_seeds)
  completion.check_trajectory_access(task, settings.trajectory_episodes)
  if settings.trajectory_episodes and task.streamed:
    raise spec.InputError(f"{task.name}: trajectory access is not "
                          "available for streamed tasks")
  vmap_size = batching.resolve_vmap_size(task, settings.vmap_size)
  batching.over_runs(vmap_size)  # Validates it.
  if settings.refill:
    if task.streamed:
      raise spec.InputError(f"{task.name}: refilling slots is not available "
                            "for streamed tasks")
    batching.make_refilling_runs(task, slots=vmap_size)  # Validates it.
  mesh = sharding.run_mesh(settings.num_devices)
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
  eval_updates = completion.budget_schedule(task.recipe,
                                            settings.budget_fraction)
  grids = {
      name: procedures_lib.schedule_grid(
          name, task.recipe, eval_updates[-1],
          finetune_fraction=settings.finetune_fraction,
          reinit=settings.reinit) for name in settings.procedures}
  # Eagerly initialised variables keep the layers' creation order.
  template = task.init(jax.random.key(0))
  schemes = splitter.resolve_schemes(template, settings.splits, task.name,
                                     task.roles)
  if not schemes or not settings.procedures:
    raise spec.InputError("nothing to run: give at least one split and one "
                          "procedure")
  roles = splitter.roles_of(template, schemes, task.roles)

  originals = originals_lib.ensure_originals(
      task, settings.workdir, settings.num_originals, log, flags,
      vmap_size)
  reference_costs = reference(task, originals, alphas)
  log("t0 (" + task.recipe.cost_unit + "): " + ", ".join(
      f"alpha={a:g}: {t:g}" for a, t in zip(alphas, reference_costs["t0"])))
  protocol_info = protocol_fields(task, originals, alphas)
  log(protocol.convergence_line(protocol_info["originals_check"]))
  if (protocol.is_published_workdir(settings.workdir)
      and not protocol_info["originals_check"]["converged"]):
    raise spec.InputError(
        f"{task.name}'s originals have not converged or do not agree "
        "(protocol v2): retune its recipe before publishing its sweeps")
  log(f"evaluation standard error "
      f"{protocol_info['evaluation_standard_error']:.4g}; headline alpha "
      f"{protocol_info['headline_alpha']}")

  # Runs with and without trajectory access share their keys (the warm
  # start draws from a stream of its own): paired comparisons.
  key_variant = variant_label(dataclasses.replace(settings,
                                                  trajectory_episodes=0))
  variant = variant_label(settings) + precision_label(settings)
  context = SweepContext(
      task, settings, num_seeds, alphas, originals, reference_costs,
      protocol_info, publishable(settings, num_seeds,
                                 protocol_info["originals_check"]),
      eval_updates, variant, flags, mesh.size if task.shardable else 1)
  out_dir = records_dir(settings.workdir, task.name)
  digest = originals_hash(originals)
  seed_originals = [originals[s % len(originals)].variables
                    for s in range(num_seeds)]
  top_alpha = max(alphas)
  stops = [task.p0 + top_alpha * (originals[s % len(originals)].p_star
                                  - task.p0)
           if settings.early_stop else np.inf for s in range(num_seeds)]
  runs = (streaming.make_streamed_completion(adversary_task, eval_updates)
          if adversary_task.streamed else
          batching.make_batched_completion(
              adversary_task, eval_updates, vmap_size,
              settings.trajectory_episodes, mesh,
              program_memory, log, settings.refill))

  # Every process of a multi-process job computes every record; one writes.
  writer = jax.process_index() == 0
  jobs, written, skipped = [], [], []
  for scheme, mask in schemes:
    for name in settings.procedures:
      path = records.record_path(out_dir, scheme.name, name, variant, digest)
      if _is_complete(path, context, grids[name]):
        skipped.append(path)
      else:
        jobs.append((scheme, mask, name))
  mask_keys = {scheme.name: splitter.mask_hash(mask)
               for scheme, mask in schemes}
  sweep_started, totals = time.time(), compilation.CompileStats(0.0, 0, 0)
  # Closed on any exit, so that an error starts on a line of its own.
  with tqdm.tqdm(total=len(jobs), desc=f"{task.name} completion",
                 unit="run", dynamic_ncols=True) as progress:
    for first in range(0, len(jobs), settings.jobs_per_program):
      program = jobs[first:first + settings.jobs_per_program]
      progress.set_postfix_str(", ".join(f"{scheme.name} {name}"
                                         for scheme, _, name in program))
      # Run order: job, seed, schedule. A seed's schedules share its key:
      # the same starting point and data order.
      runs_of = [(scheme, mask, name, seed, schedule)
                 for scheme, mask, name in program for seed in range(num_seeds)
                 for schedule in grids[name]]
      keys = jnp.stack([prng.derive_key(task.name, digest,
                                        mask_keys[scheme.name],
                                        key_variant, seed)
                        for scheme, _, _, seed, _ in runs_of])
      started, compiled = time.time(), compilation.compile_stats()
      with jax.default_matmul_precision(settings.matmul_precision):
        curves = jax.device_get(runs(
            keys, batching.stack_runs([seed_originals[seed]
                                       for *_, seed, _ in runs_of]),
            batching.stack_runs([mask for _, mask, *_ in runs_of]),
            batching.stack_runs([schedule.settings
                                 for *_, schedule in runs_of]),
            jnp.asarray([stops[seed] for *_, seed, _ in runs_of], jnp.float32),
            adversary_task.data))
      wall = time.time() - started
      compiled = compilation.compile_stats() - compiled
      totals = totals + compiled
      program_stats = {"jobs": len(program), "runs": len(runs_of),
                       "wall_time_s": wall,
                       "compile_time_s": compiled.compile_time_s,
                       "compile_cache_hits": compiled.cache_hits,
                       "compile_cache_misses": compiled.cache_misses}
      offset = 0
      for scheme, mask, name in program:
        count = num_seeds * len(grids[name])
        job_curves = jax.tree.map(
            lambda x, o=offset, c=count: x[o:o + c], curves)
        offset += count
        summary = {**splitter.summarize(template, mask),
                   "mask_sha256": mask_keys[scheme.name],
                   "roles": roles[scheme.name]}
        record = make_record(context, scheme, summary, name, grids[name],
                             job_curves, program_stats)
        if writer:
          written.append(records.write(out_dir, record))
        else:
          written.append(records.record_path(out_dir, scheme.name, name,
                                             variant, digest))
      progress.update(len(program))
  if jobs:
    log(f"{len(jobs)} job(s) in {time.time() - sweep_started:.1f} s, of which "
        f"compiling {totals.compile_time_s:.1f} s ({totals.cache_hits} "
        "program(s) from the compilation cache)")
  return {"records": written, "skipped": skipped, "records_dir": out_dir,
          "leaderboard": leaderboard_path(settings.workdir, task.name),
          "writer": writer}
