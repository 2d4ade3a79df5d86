"""The leaderboard as data: every number the markdown, the web page and the
figures show, computed once from records of the current protocol (v2).

`build(records)` returns a plain dict (the *board*) with one entry per (task,
adversary variant). Each entry has one row per split with, per alpha:

* per procedure, the IQM hardness over seeds with its 95% interval (from the
  record), the median, the censored count, the alpha's cap B/t0(alpha) and
  whether every seed sits at it, and for a fine-tuning grid (T3/T4) the
  schedule that won most often;
* the split's **security**, the adversary's best case: the lowest IQM over
  procedures, with the bootstrap interval of that minimum; censored (a
  lower bound, shown `>x`) where the procedure attaining it is;
* its rank by security (hardest first; undefined values last);
* `p_next`: the probability that the split is harder to complete than the
  next-ranked one (`statistics.probability_of_improvement` over the seeds of
  each split's security procedure), i.e. how much the order of two
  neighbours can be trusted;

and, at the entry's ranking alpha (the task's headline alpha,
`ranking_alpha`), whether the split is on the Pareto frontier of (share
withheld, security). Each entry also carries its caps and its notes (which
alpha ranks and why, the fine-tuning grid's oracle choice, records that
cannot be published). The cross-task entry pools splits by the *role* they
play (`split.roles`), never by name, each task weighing the same
(`cross_task_entry`). Nothing here names a task.
"""

from __future__ import annotations

import collections
import math
from typing import Any, Sequence

import numpy as np

from benchmark.science import procedures as procedures_lib
from benchmark.science import splitter, statistics
from benchmark.sweeps import originals
from benchmark.sweeps import records as records_lib
from contract.spec import InputError

TITLE = "mcbench leaderboard"
NOTE = ("Hardness = cost of completion / cost of training from scratch "
        "(t_T(alpha) / t_0(alpha)): 1 is as hard as training from scratch. "
        "IQM [95% stratified-bootstrap interval] over seeds (medians with "
        "their intervals: in the records, and on the page when pointing at a "
        "value). A seed that never recovers within the budget B counts at "
        "the cap B/t0(alpha), the largest value that alpha can show: > and "
        "c=k/n mark a lower bound (k of n seeds censored), \"at cap\" a "
        "value whose every seed was censored. Security = min over procedures "
        "(the adversary's best case), ranked at each task's headline alpha. "
        "Pareto: no other split withholds no more and is harder.")
CAP_MEANING = "a split as hard as training from scratch reads 1"
HEADLINE_RULE = ("the highest alpha whose margin (1 - alpha)(P* - P0) is at "
                 "least two standard errors of the task's evaluation")
NOTICE_TAIL = "never mixed with protocol v2"
CROSS_TASK_ID = "cross-task"


def alpha_key(alpha: float) -> str:
  return f"{alpha:g}"


def entry_id(task: str, variant: str) -> str:
  return f"{originals.task_slug(task)}--{variant}"


def record_link(record: dict[str, Any], prefix: str) -> str:
  """Where a record lives under the results folder, from `prefix`."""
  return records_lib.record_path(
      f"{prefix}records/{originals.task_slug(record['task'])}",
      record["split"]["name"], record["procedure"]["name"],
      record["adversary"]["variant"], record["originals_sha256"])


def current_only(records: Sequence[dict[str, Any]], folder: str
                 ) -> tuple[list[dict[str, Any]], list[str]]:
  """The records of the current protocol (v2), and one notice line for
  those of an older one in `folder` (none if there are none)."""
  current = [r for r in records if records_lib.is_current(r)]
  old = len(records) - len(current)
  return current, ([f"{folder}: {old} record(s) of protocol v1 left out, "
                    f"{NOTICE_TAIL}"] if old else [])


def is_notice(line: str) -> bool:
  """Whether a left-out line is `current_only`'s notice (records of an
  older protocol, not invalid ones)."""
  return line.endswith(NOTICE_TAIL)


def unpublishable_because(record: dict[str, Any]) -> list[str]:
  """Why a record cannot be published ([] if it can): its provenance says
  so (`publishable`), or no clean commit reproduces it (a `git_commit` that
  is unknown, ends in `-dirty` or holds `+wip`)."""
  provenance = record["provenance"]
  commit = str(provenance.get("git_commit", "unknown"))
  reasons = []
  if commit == "unknown" or commit.endswith("-dirty") or "+wip" in commit:
    reasons.append(f"git commit {commit} is not a clean one")
  if not provenance.get("publishable", False):
    reasons += provenance.get("unpublishable_because") or [
        "marked unpublishable"]
  return reasons


def _shortened(text: str, limit: int = 160) -> str:
  return text if len(text) <= limit else text[:limit - 1] + "…"


def publishable_note(group: Sequence[dict[str, Any]]) -> str | None:
  """One line on the records of a sweep that cannot be published."""
  refused = [r for r in group if unpublishable_because(r)]
  if not refused:
    return None
  reasons = dict.fromkeys(reason for r in refused
                          for reason in unpublishable_because(r))
  return (f"Not publishable: {len(refused)} of {len(group)} records "
          f"({_shortened('; '.join(reasons))}); the published build "
          "refuses them.")


def sweep_groups(
    records: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], list]:
  """Records by (task, adversary variant, originals hash): one sweep each,
  its records in content-hash order so that outputs are deterministic."""
  groups = collections.defaultdict(list)
  for record in records:
    groups[(record["task"], record["adversary"]["variant"],
            record["originals_sha256"])].append(record)
  return {key: sorted(group, key=lambda r: r["content_sha256"])
          for key, group in groups.items()}


def trajectory_access_line(group: Sequence[dict[str, Any]]) -> str:
  """What the trajectory-access adversary was given and what it cost, which
  the hardness values (RL cost after the warm start) do not include."""
  adversary = group[0]["adversary"]
  warm = adversary["warm_start"]
  costs = sorted(c for r in group for c in r["adversary"]["warm_start"]
                 ["cost_per_seed"])
  cloning = warm.get("behaviour_cloning_updates")
  return (f"Trajectory access: {adversary['trajectory_episodes']} episodes of "
          f"the original agent per run, costing {costs[0]:g}-{costs[-1]:g} "
          f"{warm['cost_unit']} (not included in the hardness below)" +
          (f", then {cloning} behaviour-cloning updates." if cloning else "."))


def hardness_row(record: dict[str, Any], alpha: float) -> dict | None:
  """The record's hardness row at `alpha`; None where it has none."""
  return next((row for row in record["hardness"]
               if math.isclose(row["alpha"], alpha)), None)


def cap_of(group: Sequence[dict[str, Any]], alpha: float) -> float | None:
  """B / t0(alpha) of a sweep (its records share budget and t0); None
  where t0 is 0 or no record has `alpha`."""
  rows = (hardness_row(record, alpha) for record in group)
  return next((row["cap"] for row in rows if row is not None), None)


def cap_text(cap: float | None) -> str:
  return "cap undefined: t0 = 0" if cap is None else f"cap {cap:.3f}"


def _won(row: dict[str, Any]) -> dict[str, Any] | None:
  """The grid schedule that first reached alpha in the most seeds (ties: by
  label), of the seeds that reached it after training; None without a grid
  or such a seed. Seeds that start at alpha (cost 0) are left out: every
  schedule reaches it there, and the record names the first of the grid."""
  labels = [label for label, value in zip(row.get("won") or (),
                                          row["hardness"])
            if label is not None and value]
  if not labels:
    return None
  counts = collections.Counter(labels)
  label = min(counts, key=lambda name: (-counts[name], name))
  return {"schedule": label, "count": counts[label], "reached": len(labels)}


def _cell(row: dict[str, Any] | None) -> dict[str, Any] | None:
  """A record's hardness row at one alpha as a table cell."""
  if row is None or row["summary"] is None:
    return None
  summary, seeds = row["summary"], len(row["hardness"])
  return {"iqm": summary["iqm"], "lo": summary["iqm_ci"][0],
          "hi": summary["iqm_ci"][1], "median": summary["median"],
          "median_lo": summary["median_ci"][0],
          "median_hi": summary["median_ci"][1],
          "censored": summary["censored"], "seeds": seeds,
          "cap": row["cap"], "at_cap": summary["censored"] == seeds,
          "won": _won(row)}


def _security(cells: dict[str, dict | None],
              runs: dict[str, list[list[float]]]) -> dict[str, Any] | None:
  """The lowest IQM over procedures with the interval of that minimum
  (`statistics.min_iqm`), named after the procedure attaining it (on a tie,
  an uncensored one: the minimum is then exact, not a lower bound).

  `runs[procedure]` holds the per-seed hardness of each task (one list per
  task) behind `cells[procedure]`.
  """
  known = sorted((cell["iqm"], cell["censored"] > 0, name)
                 for name, cell in cells.items() if cell is not None)
  if not known:
    return None
  name = known[0][2]
  lowest = statistics.min_iqm([runs[p] for *_, p in known])
  return {**cells[name], **lowest, "won": None, "procedure": name}


def _rank(rows: list[dict[str, Any]], key: str, p_next_of,
          value=lambda security: security["iqm"]) -> None:
  """Fills `by_alpha[key]["rank"]` and `["p_next"]` of `rows` in place;
  `p_next_of(row, below, key)` compares a row with the next-ranked one."""
  def order(row):
    security = row["by_alpha"][key]["security"]
    number = value(security) if security else math.nan
    return (number != number, -number if number == number else 0.0,
            row["split"])

  ranked = sorted(rows, key=order)
  for rank, (row, below) in enumerate(zip(ranked, ranked[1:] + [None]), 1):
    row["by_alpha"][key]["rank"] = rank
    row["by_alpha"][key]["p_next"] = (
        None if below is None else p_next_of(row, below, key))


def _p_harder(mine: list | None, theirs: list | None) -> float | None:
  """P(harder) from per-task seed values of two splits (None if absent)."""
  if not mine or not theirs:
    return None
  return statistics.probability_of_improvement(mine, theirs)["p"]


def _mark_pareto(rows: list[dict[str, Any]], key: str) -> None:
  values = [row["by_alpha"][key]["security"]["iqm"]
            if row["by_alpha"][key]["security"] else math.nan for row in rows]
  front = statistics.pareto_front([row["share"] for row in rows], values)
  for row, on_front in zip(rows, front):
    row["pareto"] = on_front


def ranking_alpha(group: Sequence[dict[str, Any]]
                  ) -> tuple[float, float | None]:
  """`(alpha that orders the rows, headline alpha or None)` of a sweep.

  Rows rank at the task's headline alpha (`protocol.headline_alpha`, in
  the records). Where no alpha qualifies (every margin is within two
  standard errors of the evaluation), no alpha can rank the task: the rows
  are then ordered at the lowest alpha, the widest margin and so the least
  noisy order, and the entry's notes say that it is no ranking to trust.
  """
  alphas = sorted({a for r in group for a in r["alphas"]})
  headlines = sorted({r["protocol"]["headline_alpha"] for r in group} -
                     {None})
  if not headlines:
    return alphas[0], None
  # Records of one sweep agree; the lowest is the conservative choice.
  return min(alphas, key=lambda a: abs(a - headlines[0])), headlines[0]


def ranking_line(group: Sequence[dict[str, Any]], alpha: float,
                 headline: float | None) -> str:
  """Which alpha ranks a sweep, and the rule that chose it, in one line."""
  protocol = group[0]["protocol"]
  error = protocol["evaluation_standard_error"]
  if headline is None:
    return (f"No alpha can rank this task: no margin (1 - alpha)(P* - P0) is "
            f"two standard errors of its evaluation ({error:.3g}); rows are "
            f"in the order of security at the lowest alpha, {alpha:g} (the "
            "widest margin), for reading only.")
  return (f"Ranked by security at alpha = {alpha:g}, the task's headline "
          f"alpha: {protocol.get('headline_rule') or HEADLINE_RULE} "
          f"(standard error {error:.3g}); the other alphas are shown too.")


def oracle_line(group: Sequence[dict[str, Any]]) -> str | None:
  """What a fine-tuning grid's best schedule in hindsight means (T3/T4)."""
  grids = {r["procedure"]["name"]: [s["label"] for s in
                                    r["procedure"]["schedules"]]
           for r in group if len(r["procedure"]["schedules"]) > 1}
  if not grids:
    return None
  names = sorted(grids)
  labels = dict.fromkeys(label for name in names for label in grids[name])
  return (f"{' and '.join(names)} take the best schedule of a small "
          f"fine-tuning grid in hindsight ({', '.join(labels)}): an oracle "
          "choice, so their costs are lower bounds on a real adversary's, "
          "the conservative side for security. Their cells name the "
          "schedule that won most often (k/n: of the seeds that reached "
          "alpha after training).")


def coverage_note(group: Sequence[dict[str, Any]]) -> str | None:
  """What a sweep in progress lacks: procedures of the protocol measured
  for no split, and splits without a procedure the others have. Security
  is the minimum over what was measured, so it can only fall as the rest
  arrives: readers must know."""
  measured = {r["procedure"]["name"] for r in group}
  by_split = collections.defaultdict(set)
  for record in group:
    by_split[record["split"]["name"]].add(record["procedure"]["name"])
  parts = []
  missing = [p for p in procedures_lib.PROCEDURES if p not in measured]
  if missing:
    parts.append(f"{', '.join(missing)} not measured")
  partial = [name for name, found in by_split.items() if found != measured]
  if partial:
    parts.append(f"{len(partial)} of {len(by_split)} split(s) without every "
                 "procedure shown (their missing cells read —)")
  if not parts:
    return None
  return (f"Partial sweep: {'; '.join(parts)}. Security is the minimum over "
          "the procedures measured, so it can only fall as the rest "
          "arrives.")


def task_entry(group: Sequence[dict[str, Any]], prefix: str = "",
               ranking: float | None = None) -> dict[str, Any]:
  """The board entry of one sweep (records of one task, variant, originals).

  Args:
    group: the sweep's records (protocol v2).
    prefix: leads from where the board is shown to the results folder.
    ranking: the alpha that orders the rows; default `ranking_alpha`.
  """
  first = group[0]
  alphas = sorted({a for r in group for a in r["alphas"]})
  chosen, headline = ranking_alpha(group)
  chosen = chosen if ranking is None else ranking
  procedures = sorted({r["procedure"]["name"] for r in group})
  by_split: dict[str, dict[str, dict]] = collections.defaultdict(dict)
  for record in group:
    by_split[record["split"]["name"]][record["procedure"]["name"]] = record
  rows, seeds = [], {}
  for name in sorted(by_split):
    by_procedure = by_split[name]
    split = next(iter(by_procedure.values()))["split"]
    row = {"split": name, "share": split["share"],
           "withheld": split["withheld"], "roles": split["roles"],
           "records": {p: record_link(r, prefix)
                       for p, r in sorted(by_procedure.items())},
           "by_alpha": {}}
    for alpha in alphas:
      hardness_rows = {p: hardness_row(r, alpha)
                       for p, r in by_procedure.items()}
      cells = {p: _cell(hardness_rows.get(p)) for p in procedures}
      security = _security(cells, {p: [hardness_rows[p]["hardness"]]
                                   for p in cells if cells[p] is not None})
      row["by_alpha"][alpha_key(alpha)] = {"cells": cells,
                                           "security": security}
      seeds[name, alpha_key(alpha)] = (
          None if security is None else
          [hardness_rows[security["procedure"]]["hardness"]])
    rows.append(row)
  for alpha in alphas:
    _rank(rows, alpha_key(alpha), lambda row, below, key: _p_harder(
        seeds[row["split"], key], seeds[below["split"], key]))
  _mark_pareto(rows, alpha_key(chosen))
  rows.sort(key=lambda r: r["by_alpha"][alpha_key(chosen)]["rank"])
  p_stars = ", ".join(f"{o['p_star']:.4g}" for o in first["originals"])
  summary = (f"{len(first['originals'])} original(s) (P* = {p_stars}; P0 = "
             f"{first['p0']:.4g}); budget {first['budget']['cost']:,} "
             f"{first['budget']['cost_unit']}; "
             f"{records_lib.seeds_in_words(first)} per cell")
  if "warm_start" in first["adversary"]:
    summary += ". " + trajectory_access_line(group).rstrip(".")
  notes = [ranking_line(group, chosen, headline), oracle_line(group),
           coverage_note(group), publishable_note(group)]
  return {"id": entry_id(first["task"], first["adversary"]["variant"]),
          "task": first["task"], "variant": first["adversary"]["variant"],
          "summary": summary, "notes": [n for n in notes if n],
          "procedures": procedures, "alphas": alphas,
          "ranking_alpha": chosen, "headline_alpha": headline,
          "caps": {alpha_key(a): cap_of(group, a) for a in alphas},
          "figures": [], "rows": rows}


def main_keys(groups: dict[tuple[str, str, str], list]) -> list[tuple]:
  """Per task, the key of the sweep with the most records (ties: the
  variant name), the one cross-task views use."""
  by_task = collections.defaultdict(list)
  for key in groups:
    by_task[key[0]].append(key)
  return [min(keys, key=lambda k: (-len(groups[k]), k))
          for _, keys in sorted(by_task.items())]


def main_groups(groups: dict[tuple[str, str, str], list]) -> list[list]:
  """Per task, the sweep with the most records (`main_keys`)."""
  return [groups[key] for key in main_keys(groups)]


def role_splits(group: Sequence[dict[str, Any]]) -> dict[str, str]:
  """Role -> the split playing it in a sweep (`split.roles`: the mask
  decides, not the name). Splits that play the same role share its mask;
  `role.<role>` is preferred, else the first name."""
  names = collections.defaultdict(set)
  for record in group:
    for role in record["split"]["roles"]:
      names[role].add(record["split"]["name"])
  return {role: min(found, key=lambda n: (n != splitter.ROLE_PREFIX + role,
                                          n))
          for role, found in names.items()}


def pooled_security(runs: Sequence[Sequence[Sequence[float]]],
                    reps: int = 2000) -> dict[str, float]:
  """The mean over tasks of each task's security, with its interval.

  `runs[t][p]` holds the per-seed hardness of task t under procedure p.
  A task's security is the lowest IQM over its procedures; the point is
  their mean, so every task weighs the same whatever its seed count. The
  95% interval resamples every (task, procedure) cell's seeds on its own
  (a stratified bootstrap) and recomputes the mean of the minima.

  Returns:
    `{"mean", "lo", "hi"}`.
  """
  cells = [np.asarray(seeds, np.float64) for task in runs for seeds in task]
  bounds = np.cumsum([0] + [len(task) for task in runs])

  def mean_of_minima(resampled):
    return np.mean([np.min([statistics.iqm(c) for c in resampled[a:b]],
                           axis=0) for a, b in zip(bounds[:-1], bounds[1:])],
                   axis=0)

  point = float(mean_of_minima([c[None, :] for c in cells])[0])
  low, high = statistics.stratified_interval(cells, mean_of_minima, reps)
  return {"mean": point, "lo": low, "hi": high}


def _role_order(role: str) -> tuple[int, str]:
  known = splitter.ROLES
  return (known.index(role) if role in known else len(known), role)


def cross_task_entry(sweeps: Sequence[tuple[Sequence[dict], dict]]
                     ) -> dict[str, Any] | None:
  """Roles across tasks: one row per role (`split.roles`), never per name.

  Args:
    sweeps: per task, its main sweep's records and their `task_entry`.

  Returns:
    The entry, or None unless two tasks or more tag a role. Per alpha, each
    task's cell is its security for the split playing the role (with its
    cap; None where the task did not run it); the row's security is
    `pooled_security` over the tasks that ran it (`mean`, censored: how
    many of those tasks' values are lower bounds). Rows rank at the lowest
    headline alpha of the tasks, where every task can rank.
  """
  sweeps = [(group, entry) for group, entry in sweeps if role_splits(group)]
  if len({entry["task"] for _, entry in sweeps}) < 2:
    return None
  tasks = [entry["task"] for _, entry in sweeps]
  alphas = sorted({a for _, entry in sweeps for a in entry["alphas"]})
  headlines = [e["headline_alpha"] for _, e in sweeps
               if e["headline_alpha"] is not None]
  chosen = min(headlines) if headlines else alphas[0]
  played = [role_splits(group) for group, _ in sweeps]
  roles = sorted({role for found in played for role in found},
                 key=_role_order)
  rows, seeds = [], {}
  for role in roles:
    row = {"split": role, "role": role, "share": None, "withheld": None,
           "records": {}, "pareto": False, "by_alpha": {}}
    for alpha in alphas:
      key, per_task, runs = alpha_key(alpha), {}, []
      for (group, entry), found in zip(sweeps, played):
        name = found.get(role)
        at = next((r["by_alpha"].get(key) for r in entry["rows"]
                   if r["split"] == name), None)
        if at is None:
          per_task[entry["task"]] = None  # Not run (at this alpha).
          continue
        security = at["security"] or {"iqm": None}
        per_task[entry["task"]] = {**security, "split": name,
                                   "cap": entry["caps"][key]}
        if at["security"] is None:
          continue
        seeds_of = {r["procedure"]["name"]: hardness_row(r, alpha)["hardness"]
                    for r in group if r["split"]["name"] == name}
        runs.append([seeds_of[p] for p, cell in sorted(at["cells"].items())
                     if cell is not None])
        seeds[role, entry["task"], key] = seeds_of[security["procedure"]]
      pooled = None
      if runs:
        pooled = {**pooled_security(runs), "tasks": len(runs),
                  "of": len(sweeps),
                  "censored": sum(bool(c and c.get("censored"))
                                  for c in per_task.values())}
      row["by_alpha"][key] = {"security": pooled, "per_task": per_task}
    rows.append(row)

  def p_next_of(row, below, key):
    """Over the tasks both roles were measured on."""
    both = [t for t in tasks if (row["split"], t, key) in seeds
            and (below["split"], t, key) in seeds]
    return _p_harder([seeds[row["split"], t, key] for t in both],
                     [seeds[below["split"], t, key] for t in both])

  for alpha in alphas:
    _rank(rows, alpha_key(alpha), p_next_of, value=lambda s: s["mean"])
  rows.sort(key=lambda r: r["by_alpha"][alpha_key(chosen)]["rank"])
  ranking = (f"Ranked by the pooled security at alpha = {chosen:g}, the "
             "lowest of the tasks' headline alphas (where every task can "
             "rank)." if headlines else
             f"No task has a headline alpha: rows are in the order at the "
             f"lowest alpha, {chosen:g}, for reading only.")
  return {"id": CROSS_TASK_ID, "kind": "roles", "task": "across tasks",
          "variant": "", "tasks": tasks, "procedures": [], "figures": [],
          "alphas": alphas, "ranking_alpha": chosen, "headline_alpha": None,
          "caps": {alpha_key(a): {e["task"]: e["caps"].get(alpha_key(a))
                                  for _, e in sweeps} for a in alphas},
          "summary": (f"Roles pooled across {len(tasks)} tasks (each "
                      "task's sweep with the most records), never split "
                      "names, whose shares differ between models"),
          "notes": [
              "Pooled = mean over the tasks that ran the role of each "
              "task's security (min over procedures of the IQM over its "
              "seeds): every task weighs the same, whatever its seeds; 95% "
              "stratified-bootstrap interval (seeds resampled within each "
              "task and procedure). Each task's value shows its cap (caps "
              "differ between tasks); a pooled value with a censored task "
              "is a lower bound (>). Not run: the task has no split in "
              "that role.", ranking],
          "rows": rows}


def build(records: Sequence[dict[str, Any]],
          prefix: str = "") -> dict[str, Any]:
  """The whole board for a set of valid protocol v2 records,
  deterministically.

  Args:
    records: validated records of protocol v2 (of any tasks and variants;
      `current_only` leaves older ones out).
    prefix: path from where the board is shown to the results folder, for
      the links to records (`""` beside `records/`, `"../"` one level down).

  Raises:
    InputError: a record of another protocol.
  """
  old = [r for r in records if not records_lib.is_current(r)]
  if old:
    raise InputError(records_lib.protocol_notice(
        old[0], record_link(old[0], prefix)))
  groups = sweep_groups(records)
  entries = {key: task_entry(group, prefix)
             for key, group in sorted(groups.items())}
  return {"title": TITLE, "note": NOTE,
          "alphas": sorted({a for r in records for a in r["alphas"]}),
          "tasks": list(entries.values()), "left_out": [],
          "cross_task": cross_task_entry(
              [(groups[key], entries[key]) for key in main_keys(groups)])}


def compare(records: Sequence[dict[str, Any]], first: str, second: str,
            alpha: float) -> dict[str, Any]:
  """P(split `first` is harder to complete than split `second`) at `alpha`,
  over the tasks (each task's sweep with the most records) that measured
  both, each split under its own security procedure there.

  A name `role.<role>` stands for the split playing that role in each task
  (`role_splits`), whatever its name there: across tasks, compare roles.

  Returns:
    `{"p", "lo", "hi", "tasks": [names]}` (95% stratified interval).

  Raises:
    InputError: no task measured both with a defined security.
  """
  mine, theirs, tasks = [], [], []
  for group in main_groups(sweep_groups(records)):
    if not any(math.isclose(a, alpha) for a in group[0]["alphas"]):
      continue
    roles = role_splits(group)
    names = [roles.get(name[len(splitter.ROLE_PREFIX):], name)
             if name.startswith(splitter.ROLE_PREFIX) else name
             for name in (first, second)]
    entry = task_entry(group, "", alpha)
    rows = {row["split"]: row for row in entry["rows"]}
    if names[0] not in rows or names[1] not in rows:
      continue
    securities = [rows[name]["by_alpha"][alpha_key(alpha)]["security"]
                  for name in names]
    if None in securities:
      continue
    by_split = {(r["split"]["name"], r["procedure"]["name"]): r for r in group}
    values = [hardness_row(by_split[name, s["procedure"]], alpha)["hardness"]
              for name, s in zip(names, securities)]
    mine.append(values[0])
    theirs.append(values[1])
    tasks.append(group[0]["task"])
  if not tasks:
    raise InputError(f"no task has records of both {first!r} and "
                     f"{second!r} with a hardness at alpha {alpha:g}")
  return {**statistics.probability_of_improvement(mine, theirs),
          "tasks": tasks}
