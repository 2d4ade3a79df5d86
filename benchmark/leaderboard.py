"""Leaderboard tables computed from records alone.

For each task and adversary variant, one markdown table per alpha: one row per
split with the share of parameters withheld, the hardness (IQM and its 95%
bootstrap interval) under each procedure, and the split's security, the
adversary's best case: the minimum over procedures. Rows are ranked by
security, hardest first. A censored value (some seeds never recovered within
the budget) is shown as `>x`; `c=k/n` counts the censored seeds.
"""

from __future__ import annotations

import collections
import math
import sys
from typing import Any, Sequence

from benchmark import records as records_lib
from benchmark import storage
from tasks.spec import InputError


def _cell(summary: dict[str, Any] | None, num_seeds: int) -> str:
  if summary is None:
    return "n/a"
  lo, hi = summary["iqm_ci"]
  text = f"{summary['iqm']:.3f} [{lo:.3f}, {hi:.3f}]"
  if summary["censored"]:
    text = ">" + text + f" c={summary['censored']}/{num_seeds}"
  return text


def security(cells: dict[str, dict[str, Any] | None]) -> tuple[float, str]:
  """`(min IQM over procedures, procedure attaining it)`; NaN if none."""
  known = [(s["iqm"], name) for name, s in cells.items() if s is not None]
  return min(known) if known else (float("nan"), "")


def summary_at(record: dict[str, Any], alpha: float) -> dict[str, Any] | None:
  """The record's hardness summary at `alpha`; None where it has none."""
  return next((row["summary"] for row in record["hardness"]
               if math.isclose(row["alpha"], alpha)), None)


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


def _rows_by_alpha(group: Sequence[dict[str, Any]]):
  procedures = sorted({r["procedure"]["name"] for r in group})
  splits: dict[str, dict[str, dict]] = collections.defaultdict(dict)
  for record in group:
    splits[record["split"]["name"]][record["procedure"]["name"]] = record
  alphas = sorted({a for r in group for a in r["alphas"]})
  return procedures, splits, alphas


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


def task_tables(group: Sequence[dict[str, Any]]) -> str:
  """Markdown for the records of one task and adversary variant."""
  procedures, splits, alphas = _rows_by_alpha(group)
  first = group[0]
  p_stars = ", ".join(f"{o['p_star']:.4f}" for o in first["originals"])
  out = [f"### {first['task']} — variant `{first['adversary']['variant']}`",
         "",
         f"Originals: {len(first['originals'])} "
         f"(P* = {p_stars}, P0 = {first['p0']:.4f}); budget "
         f"{first['budget']['cost']} {first['budget']['cost_unit']}; "
         f"seeds per cell: {len(first['seeds'])}.", ""]
  if "warm_start" in first["adversary"]:
    out += [trajectory_access_line(group), ""]
  for alpha in alphas:
    rows = []
    for split_name, by_procedure in splits.items():
      cells = {}
      for name in procedures:
        record = by_procedure.get(name)
        cells[name] = None if record is None else summary_at(record, alpha)
      share = next(iter(by_procedure.values()))["split"]["share"]
      value, argmin = security(cells)
      rows.append((split_name, share, cells, value, argmin, by_procedure))
    # Hardest first; splits without a value last.
    rows.sort(key=lambda r: (math.isnan(r[3]), -r[3] if not math.isnan(r[3])
                             else 0.0, r[0]))
    out += [f"#### alpha = {alpha:g}", "",
            "| rank | split | withheld | " + " | ".join(procedures) +
            " | security (min) |",
            "|---:|---|---:|" + "---|" * len(procedures) + "---|"]
    for rank, (split_name, share, cells, value, argmin, by_proc) in enumerate(
        rows, 1):
      seeds = len(next(iter(by_proc.values()))["seeds"])
      out.append(
          f"| {rank} | {split_name} | {share:.2%} | " +
          " | ".join(_cell(cells[p], seeds) if p in by_proc else "—"
                     for p in procedures) +
          (f" | {value:.3f} ({argmin}) |" if value == value else " | n/a |"))
    out.append("")
  return "\n".join(out)


def build(records: Sequence[dict[str, Any]]) -> str:
  """The whole leaderboard for a set of records, deterministically."""
  parts = ["# mcbench leaderboard", "",
           "Hardness = cost of completion / cost of training from scratch "
           "(t_T(alpha) / t_0(alpha)); IQM [95% stratified-bootstrap "
           "interval] over seeds. Security = min over procedures. Generated "
           "from records by `python -m benchmark.leaderboard`; do not edit.",
           ""]
  for _, group in sorted(sweep_groups(records).items()):
    parts.append(task_tables(group))
  return "\n".join(parts)


def write(records_dir: str, output: str) -> tuple[str, list[str]]:
  """Rebuilds `output` from every record in `records_dir`.

  Returns:
    The markdown, and one error line per invalid record (left out).

  Raises:
    InputError: no valid record at all.
  """
  good, bad = records_lib.read_all(records_dir)
  if not good:
    raise InputError(f"no valid record in {records_dir}" +
                     (f"; {bad[0]}" if bad else ""))
  markdown = build(good)
  storage.write_text_atomic(output, markdown + "\n")
  return markdown, bad


def main(argv):
  """`python -m benchmark.leaderboard --task=T --workdir=DIR` (or
  `--records=DIR --output=FILE`): rebuilds a leaderboard from records."""
  del argv
  from absl import flags  # pylint: disable=g-import-not-at-top
  from benchmark import sweep  # pylint: disable=g-import-not-at-top
  values = flags.FLAGS
  source = values.records or sweep.records_dir(values.workdir, values.task)
  output = values.output or sweep.leaderboard_path(values.workdir, values.task)
  markdown, bad = write(source, output)
  print(markdown)
  for line in bad:
    print(f"mcbench: invalid record left out: {line}", file=sys.stderr)
  if bad:
    sys.exit(1)


if __name__ == "__main__":
  from absl import flags as absl_flags  # pylint: disable=g-import-not-at-top
  from benchmark import cli  # pylint: disable=g-import-not-at-top
  cli.define_task_flags()
  absl_flags.DEFINE_string("records", None, "Folder of records (default: "
                           "WORKDIR/records/<task>).")
  absl_flags.DEFINE_string("output", None, "Markdown file to write (default: "
                           "WORKDIR/leaderboard/<task>.md).")
  cli.run(main)
