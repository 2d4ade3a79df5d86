"""The leaderboard as data: every number the markdown, the web page and the
figures show, computed once from records.

`build(records)` returns a plain dict (the *board*) with one entry per (task,
adversary variant). Each entry has one row per split with, per alpha:

* per procedure, the IQM hardness over seeds with its 95% interval (from the
  record), the median and the censored count;
* the split's **security**, the adversary's best case: the lowest IQM over
  procedures, with the bootstrap interval of that minimum;
* its rank by security (hardest first; undefined values last);
* `p_next`: the probability that the split is harder to complete than the
  next-ranked one (`statistics.probability_of_improvement` over the seeds of
  each split's security procedure), i.e. how much the order of two
  neighbours can be trusted;

and, at the ranking alpha, whether the split is on the Pareto frontier of
(share withheld, security). A cross-task entry aggregates the splits that
several tasks share (built-in families give the same names on every model):
the IQM of all their seeds with a stratified bootstrap interval
(`statistics.aggregate_iqm`). Nothing here names a task.
"""

from __future__ import annotations

import collections
import math
from typing import Any, Sequence

import numpy as np

from benchmark import originals, statistics
from benchmark import records as records_lib
from tasks.spec import InputError

TITLE = "mcbench leaderboard"
NOTE = ("Hardness = cost of completion / cost of training from scratch "
        "(t_T(alpha) / t_0(alpha)): 1 is as hard as training from scratch. "
        "IQM [95% stratified-bootstrap interval] over seeds (medians with "
        "their intervals: in the records, and on the page when pointing at a "
        "value); > and c=k/n: k of n seeds never recovered within the "
        "budget (counted at the budget). Security = min over procedures "
        "(the adversary's best case). Pareto: no other split withholds no "
        "more and is harder.")
RANKING_ALPHA = 0.99
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


def _cell(row: dict[str, Any] | None) -> dict[str, Any] | None:
  """A record's hardness row at one alpha as a table cell."""
  if row is None or row["summary"] is None:
    return None
  summary = row["summary"]
  return {"iqm": summary["iqm"], "lo": summary["iqm_ci"][0],
          "hi": summary["iqm_ci"][1], "median": summary["median"],
          "median_lo": summary["median_ci"][0],
          "median_hi": summary["median_ci"][1],
          "censored": summary["censored"], "seeds": len(row["hardness"])}


def hardness_row(record: dict[str, Any], alpha: float) -> dict | None:
  """The record's hardness row at `alpha`; None where it has none."""
  return next((row for row in record["hardness"]
               if math.isclose(row["alpha"], alpha)), None)


def _security(cells: dict[str, dict | None],
              runs: dict[str, list[list[float]]]) -> dict[str, Any] | None:
  """The lowest IQM over procedures with the interval of that minimum
  (`statistics.min_iqm`), named after the procedure attaining it.

  `runs[procedure]` holds the per-seed hardness of each task (one list per
  task) behind `cells[procedure]`.
  """
  known = sorted((cell["iqm"], name) for name, cell in cells.items()
                 if cell is not None)
  if not known:
    return None
  _, name = known[0]
  lowest = statistics.min_iqm([runs[p] for _, p in known])
  return {**cells[name], **lowest, "procedure": name}


def _rank(rows: list[dict[str, Any]], key: str, p_next_of) -> None:
  """Fills `by_alpha[key]["rank"]` and `["p_next"]` of `rows` in place;
  `p_next_of(row, below, key)` compares a row with the next-ranked one."""
  def order(row):
    security = row["by_alpha"][key]["security"]
    value = security["iqm"] if security else math.nan
    return (value != value, -value if value == value else 0.0, row["split"])

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


def task_entry(group: Sequence[dict[str, Any]], alphas: Sequence[float],
               ranking_alpha: float, prefix: str) -> dict[str, Any]:
  """The board entry of one sweep (records of one task, variant, originals).

  `prefix` leads from where the board is shown to the results folder.
  """
  first = group[0]
  procedures = sorted({r["procedure"]["name"] for r in group})
  by_split: dict[str, dict[str, dict]] = collections.defaultdict(dict)
  for record in group:
    by_split[record["split"]["name"]][record["procedure"]["name"]] = record
  rows, seeds = [], {}
  for name in sorted(by_split):
    by_procedure = by_split[name]
    split = next(iter(by_procedure.values()))["split"]
    row = {"split": name, "share": split["share"],
           "withheld": split["withheld"],
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
  _mark_pareto(rows, alpha_key(ranking_alpha))
  rows.sort(key=lambda r: r["by_alpha"][alpha_key(ranking_alpha)]["rank"])
  p_stars = ", ".join(f"{o['p_star']:.4g}" for o in first["originals"])
  summary = (f"{len(first['originals'])} original(s) (P* = {p_stars}; P0 = "
             f"{first['p0']:.4g}); budget {first['budget']['cost']:,} "
             f"{first['budget']['cost_unit']}; "
             f"{records_lib.seeds_in_words(first)} per cell")
  if "warm_start" in first["adversary"]:
    summary += ". " + trajectory_access_line(group).rstrip(".")
  return {"id": entry_id(first["task"], first["adversary"]["variant"]),
          "task": first["task"], "variant": first["adversary"]["variant"],
          "summary": summary, "procedures": procedures, "figures": [],
          "rows": rows}


def main_groups(groups: dict[tuple[str, str, str], list]) -> list[list]:
  """Per task, the sweep with the most records (ties: the variant name),
  the one cross-task aggregates use."""
  by_task = collections.defaultdict(list)
  for key in groups:
    by_task[key[0]].append(key)
  return [groups[min(keys, key=lambda k: (-len(groups[k]), k))]
          for _, keys in sorted(by_task.items())]


def cross_task_entry(groups: Sequence[Sequence[dict[str, Any]]],
                     alphas: Sequence[float],
                     ranking_alpha: float) -> dict[str, Any] | None:
  """Splits measured on two or more tasks (one sweep each), aggregated.

  Per procedure and alpha: the IQM of every seed of every task with a
  stratified-bootstrap interval; security = the lowest over procedures;
  `p_next` averages the probability of improvement over the tasks both
  splits share. Share is the mean over tasks. None if no split is shared.
  """
  # values[split][procedure][alpha] -> {task: per-seed hardness}
  values: dict = collections.defaultdict(
      lambda: collections.defaultdict(lambda: collections.defaultdict(dict)))
  shares = collections.defaultdict(dict)
  censored = collections.defaultdict(int)
  for group in groups:
    for record in group:
      name, task = record["split"]["name"], record["task"]
      shares[name][task] = record["split"]["share"]
      for alpha in alphas:
        row = hardness_row(record, alpha)
        if row is not None and row["summary"] is not None:
          values[name][record["procedure"]["name"]][alpha_key(alpha)][task] = (
              row["hardness"])
          censored[name, record["procedure"]["name"], alpha_key(alpha)] += (
              row["summary"]["censored"])
  shared = sorted(name for name, tasks in shares.items() if len(tasks) >= 2)
  if not shared:
    return None
  procedures = sorted({p for name in shared for p in values[name]})
  rows = []
  for name in shared:
    row = {"split": name,
           "share": sum(shares[name].values()) / len(shares[name]),
           "withheld": None, "tasks": sorted(shares[name]), "records": {},
           "by_alpha": {}}
    for alpha in alphas:
      key = alpha_key(alpha)
      cells = {}
      for procedure in procedures:
        per_task = values[name][procedure][key]
        if len(per_task) < 2:
          cells[procedure] = None
          continue
        aggregate = statistics.aggregate_iqm(list(per_task.values()))
        seeds = [v for s in per_task.values() for v in s]
        cells[procedure] = {
            "iqm": aggregate["iqm"], "lo": aggregate["lo"],
            "hi": aggregate["hi"],
            "median": float(np.median(seeds)),
            "censored": censored[name, procedure, key], "seeds": len(seeds)}
      runs = {p: list(values[name][p][key].values())
              for p in cells if cells[p] is not None}
      row["by_alpha"][key] = {"cells": cells,
                              "security": _security(cells, runs)}
    rows.append(row)

  def p_next_of(row, below, key):
    """Over the tasks both splits were measured on."""
    mine, theirs = ([], [])
    security, other = (row["by_alpha"][key]["security"],
                       below["by_alpha"][key]["security"])
    if security is None or other is None:
      return None
    a = values[row["split"]][security["procedure"]][key]
    b = values[below["split"]][other["procedure"]][key]
    for task in sorted(set(a) & set(b)):
      mine.append(a[task])
      theirs.append(b[task])
    return _p_harder(mine, theirs)

  for alpha in alphas:
    _rank(rows, alpha_key(alpha), p_next_of)
  for row in rows:
    row["pareto"] = False  # Shares differ between tasks: no frontier.
  rows.sort(key=lambda r: r["by_alpha"][alpha_key(ranking_alpha)]["rank"])
  return {"id": CROSS_TASK_ID, "task": "across tasks", "variant": "",
          "summary": (f"Splits measured on two or more of "
                      f"{len(groups)} tasks (each task's sweep with the "
                      "most records): IQM over every seed of every task, "
                      "95% stratified-bootstrap interval (seeds resampled "
                      "within tasks); withheld = mean share over tasks; "
                      "P(harder than next) averaged over the tasks both "
                      "splits share"),
          "procedures": procedures, "figures": [], "rows": rows}


def build(records: Sequence[dict[str, Any]], prefix: str = "",
          ranking_alpha: float = RANKING_ALPHA) -> dict[str, Any]:
  """The whole board for a set of valid records, deterministically.

  Args:
    records: validated records (of any tasks and variants).
    prefix: path from where the board is shown to the results folder, for
      the links to records (`""` beside `records/`, `"../"` one level down).
    ranking_alpha: the alpha that orders rows and marks the frontier.
  """
  groups = sweep_groups(records)
  alphas = sorted({a for r in records for a in r["alphas"]})
  if not any(math.isclose(a, ranking_alpha) for a in alphas):
    ranking_alpha = alphas[-1]
  entries = [task_entry(group, alphas, ranking_alpha, prefix)
             for _, group in sorted(groups.items())]
  return {"title": TITLE, "note": NOTE, "alpha": ranking_alpha,
          "alphas": alphas, "tasks": entries,
          "cross_task": cross_task_entry(main_groups(groups), alphas,
                                         ranking_alpha)}


def compare(records: Sequence[dict[str, Any]], first: str, second: str,
            alpha: float) -> dict[str, Any]:
  """P(split `first` is harder to complete than split `second`) at `alpha`,
  over the tasks (each task's sweep with the most records) that measured
  both, each split under its own security procedure there.

  Returns:
    `{"p", "lo", "hi", "tasks": [names]}` (95% stratified interval).

  Raises:
    InputError: no task measured both with a defined security.
  """
  mine, theirs, tasks = [], [], []
  for group in main_groups(sweep_groups(records)):
    entry = task_entry(group, [alpha], alpha, "")
    rows = {row["split"]: row for row in entry["rows"]}
    if first not in rows or second not in rows:
      continue
    securities = [rows[name]["by_alpha"][alpha_key(alpha)]["security"]
                  for name in (first, second)]
    if None in securities:
      continue
    by_split = {(r["split"]["name"], r["procedure"]["name"]): r for r in group}
    values = [hardness_row(by_split[name, s["procedure"]], alpha)["hardness"]
              for name, s in zip((first, second), securities)]
    mine.append(values[0])
    theirs.append(values[1])
    tasks.append(group[0]["task"])
  if not tasks:
    raise InputError(f"no task has records of both {first!r} and "
                     f"{second!r} with a hardness at alpha {alpha:g}")
  return {**statistics.probability_of_improvement(mine, theirs),
          "tasks": tasks}
