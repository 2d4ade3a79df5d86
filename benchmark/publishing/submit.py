"""Submits a split scheme to a task's leaderboard.

    python -m benchmark.submit --scheme=my_split.yaml --task=cifar10/resnet20

validates the scheme file (README's format, loaded as data: never code),
then runs the completion sweep it needs against the task's *published*
originals (`results/originals/<task>/`, never retrained here), with the
settings of the task's published protocol-v2 sweep (its procedures, seeds,
alphas, budget and adversary variant; T1-T4 with the task's default seeds
where it has no v2 records yet), writes one record per procedure under
`results/records/<task>/`, keeps the scheme file under
`results/submissions/<name>.<ext>` and rebuilds every leaderboard output
(`benchmark.leaderboard.build_all`).

It is refused, with one line and nothing written, when the file is invalid,
when the task is unknown, has no published originals or is not among the
scheme's `tasks`, when a pattern matches none of the model's parameters, or
when the name is taken: by a built-in split of the task, or by an earlier
submission or record with other patterns. Resubmitting the same file resumes
an interrupted sweep and skips what is done. A scheme whose mask equals a
built-in split's or a published record's is run all the same, with a note:
runs are keyed by the mask, so it gets the same numbers.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import jax

from benchmark.publishing import board as board_lib
from benchmark.publishing import leaderboard
from benchmark.science import splitter
from benchmark.sweeps import originals, records, storage, sweep
from contract.spec import InputError
from tasks import registry



def submissions_dir(workdir: str) -> str:
  return os.path.join(workdir, "submissions")


def submission_path(workdir: str, scheme: splitter.Scheme,
                    source: str) -> str:
  """`submissions/<name><ext>`: one file per name, across tasks."""
  return os.path.join(submissions_dir(workdir),
                      scheme.name + os.path.splitext(source)[1])


def check_name_is_free(scheme: splitter.Scheme, template: Any, task_name: str,
                       workdir: str, published: list[dict[str, Any]],
                       roles: dict | None = None) -> None:
  """Refuses a name that a built-in split, another submitted scheme or a
  record of other patterns already uses.

  Raises:
    InputError: naming what holds the name, or a pattern that matches
      nothing.
  """
  builtin = {s.name for family in splitter.FAMILIES
             for s in splitter.family_schemes(template, family, roles)}
  if scheme.name in builtin:
    raise InputError(f"scheme name {scheme.name!r} is a built-in split of "
                     f"{task_name}; choose another name")
  if os.path.isdir(submissions_dir(workdir)):
    for entry in sorted(os.listdir(submissions_dir(workdir))):
      stem = os.path.splitext(entry)[0]
      if stem != scheme.name or not splitter.is_scheme_file(entry):
        continue
      path = os.path.join(submissions_dir(workdir), entry)
      if splitter.load_scheme_file(path) != scheme:
        raise InputError(f"a different scheme named {scheme.name!r} was "
                         f"already submitted ({path}); choose another name")
  # A record keeps the patterns and what they selected (its `share` is the
  # share withheld, not the scheme's random share).
  selected = splitter.summarize(template, splitter.make_mask(template, scheme))
  for record in published:
    split = record["split"]
    if split["name"] == scheme.name and (
        split["withhold"], split["keep"], split["paths"], split["withheld"]
    ) != (list(scheme.withhold), list(scheme.keep), selected["paths"],
          selected["withheld"]):
      raise InputError(f"records of another split named {scheme.name!r} "
                       f"exist for {task_name}; choose another name")


def same_mask_as(scheme: splitter.Scheme, template: Any,
                 published: list[dict[str, Any]],
                 roles: dict | None = None) -> list[str]:
  """The built-in splits and published records' splits whose mask equals
  the scheme's (keys come from the mask: they get the same numbers)."""
  digest = splitter.mask_hash(splitter.make_mask(template, scheme))
  names = [s.name for family in splitter.FAMILIES
           for s in splitter.family_schemes(template, family, roles)
           if splitter.mask_hash(splitter.make_mask(template, s)) == digest]
  names += [r["split"]["name"] for r in published
            if r["split"].get("mask_sha256") == digest]
  return sorted(set(names) - {scheme.name})


def published_originals(workdir: str, task_name: str) -> int:
  """How many originals the task publishes (seeds 0..k-1).

  Raises:
    InputError: none, or not seeds 0..k-1.
  """
  slug = originals.task_slug(task_name)
  manifests = originals.published_manifests(workdir, slug)
  if not manifests:
    raise InputError(
        f"{task_name} has no published originals in "
        f"{os.path.join(workdir, 'originals', slug)}; the maintainers "
        "publish them with `python -m benchmark.train --task=... "
        f"--workdir={workdir}`")
  seeds = [m["seed"] for m in manifests]
  if seeds != list(range(len(seeds))):
    raise InputError(f"published originals of {task_name} must be seeds "
                     f"0..{len(seeds) - 1}, found {seeds}")
  return len(seeds)


def standard_settings(published: list[dict[str, Any]], workdir: str,
                      task_name: str, scheme_file: str, num_originals: int,
                      **engine: Any) -> sweep.SweepSettings:
  """The settings of the task's published sweep (of its `published`
  records, the sweep with the most without trajectory access), for
  `scheme_file` alone.

  `engine` holds settings that change speed, not results (`vmap_size`,
  `jobs_per_program`, `num_devices`, ...).
  """
  good = [r for r in published
          if "trajectory_episodes" not in r["adversary"]]
  common = dict(task=task_name, splits=(scheme_file,),
                num_originals=num_originals, workdir=workdir, **engine)
  if not good:
    return sweep.SweepSettings(**common)
  group = board_lib.main_groups(board_lib.sweep_groups(good))[0]
  first = group[0]
  return sweep.SweepSettings(
      procedures=tuple(sorted({r["procedure"]["name"] for r in group})),
      seeds=len(first["seeds"]), alphas=tuple(first["alphas"]),
      budget_fraction=first["budget"]["fraction"],
      train_fraction=first["adversary"]["train_fraction"],
      reinit=first["procedure"]["reinit"], early_stop=first["early_stop"],
      bootstrap_reps=first["bootstrap_reps"], **common)


def submit(scheme_file: str, task_name: str, workdir: str = "results",
           data_dir: str | None = None, log: Callable[[str], None] = print,
           **engine: Any) -> dict[str, Any]:
  """Validates, runs and publishes one scheme on one task.

  Returns:
    `{"scheme", "records": [paths], "submission": path, "rows": board rows
    of the split, "bad": leaderboard lines}`.

  Raises:
    InputError: every refusal, before anything is written.
  """
  if not splitter.is_scheme_file(scheme_file):
    raise InputError(f"{scheme_file}: a scheme file must be .yaml, .yml or "
                     ".json")
  scheme = splitter.load_scheme_file(scheme_file)
  task = registry.get_task(task_name, data_dir=data_dir,
                           implementation=dict(engine.get("implementation",
                                                          ())))
  if not splitter.task_matches(scheme, task.name):
    raise InputError(f"scheme {scheme.name!r} applies to "
                     f"{', '.join(scheme.tasks)}, not to {task.name}")
  template = task.init(jax.random.key(0))
  folder = sweep.records_dir(workdir, task.name)
  published, _ = board_lib.current_only(records.read_all(folder)[0], folder)
  check_name_is_free(scheme, template, task.name, workdir, published,
                     task.roles)
  twins = same_mask_as(scheme, template, published, task.roles)
  if twins:
    log(f"note: {scheme.name!r} withholds the same parameters as "
        f"{', '.join(twins)}: runs are keyed by the mask, so it gets the "
        "same numbers")
  settings = standard_settings(published, workdir, task.name, scheme_file,
                               published_originals(workdir, task.name),
                               data_dir=data_dir, **engine)
  published_variants = {r["adversary"]["variant"] for r in published}
  if published_variants and (sweep.variant_label(settings)
                             not in published_variants):
    raise InputError(
        f"{task.name}'s published records are of variant(s) "
        f"{', '.join(sorted(published_variants))}, which these settings do "
        f"not reproduce ({sweep.variant_label(settings)})")

  result = sweep.run_sweep(settings, log=log)
  with open(scheme_file, encoding="utf-8") as f:
    text = f.read()
  target = submission_path(workdir, scheme, scheme_file)
  if not os.path.isfile(target):
    storage.write_text_atomic(target, text)
  written, bad = leaderboard.build_all(workdir)
  del written
  board = board_lib.build([records.read(p) for p in
                           result["records"] + result["skipped"]])
  return {"scheme": scheme, "records": result["records"] + result["skipped"],
          "submission": target, "rows": board["tasks"][0]["rows"], "bad": bad}
