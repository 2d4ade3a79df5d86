"""Leaderboards computed from records alone: tables, the public page, figures.

    python -m benchmark.leaderboard                  # rebuild results/
    python -m benchmark.leaderboard --workdir=DIR    # another results folder

rebuilds, deterministically (same records, same bytes): `LEADERBOARD.md`
(one table per task and variant ranked by security at alpha = 0.99, with
intervals, share withheld, Pareto marks, P(harder than next) and links to
the records; then the splits several tasks share), `site/index.html` (the
same, sortable and filterable, with the figures), and under `leaderboard/`
each task's tables at every alpha and its figures. Only records measured
against the folder's published originals count; any other record, and any
invalid or edited one, is named and makes the command exit 1.

The per-task tables (`build`, `write`, also rebuilt by every sweep):

For each task and adversary variant, one markdown table per alpha: one row per
split with the share of parameters withheld, the hardness (IQM and its 95%
bootstrap interval) under each procedure, and the split's security, the
adversary's best case: the minimum over procedures. Rows are ranked by
security, hardest first. A censored value (some seeds never recovered within
the budget) is shown as `>x`; `c=k/n` counts the censored seeds.
"""

from __future__ import annotations

import collections
import glob
import math
import os
import sys
from typing import Any, Sequence

from benchmark import board as board_lib
from benchmark import originals as originals_lib
from benchmark import records as records_lib
from benchmark import storage
from tasks.spec import InputError


def _cell(summary: dict[str, Any] | None, num_seeds: int) -> str:
  if summary is None:
    return "n/a"
  lo, hi = summary["iqm_ci"]
  return _interval({"iqm": summary["iqm"], "lo": lo, "hi": hi,
                    "censored": summary["censored"], "seeds": num_seeds})


def security(cells: dict[str, dict[str, Any] | None]) -> tuple[float, str]:
  """`(min IQM over procedures, procedure attaining it)`; NaN if none."""
  known = [(s["iqm"], name) for name, s in cells.items() if s is not None]
  return min(known) if known else (float("nan"), "")


def summary_at(record: dict[str, Any], alpha: float) -> dict[str, Any] | None:
  """The record's hardness summary at `alpha`; None where it has none."""
  row = board_lib.hardness_row(record, alpha)
  return None if row is None else row["summary"]


def _rows_by_alpha(group: Sequence[dict[str, Any]]):
  procedures = sorted({r["procedure"]["name"] for r in group})
  splits: dict[str, dict[str, dict]] = collections.defaultdict(dict)
  for record in group:
    splits[record["split"]["name"]][record["procedure"]["name"]] = record
  alphas = sorted({a for r in group for a in r["alphas"]})
  return procedures, splits, alphas


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
    out += [board_lib.trajectory_access_line(group), ""]
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
  for _, group in sorted(board_lib.sweep_groups(records).items()):
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


def _interval(cell: dict[str, Any]) -> str:
  text = f"{cell['iqm']:.3f} [{cell['lo']:.3f}, {cell['hi']:.3f}]"
  if cell["censored"]:
    text = ">" + text + f" c={cell['censored']}/{cell['seeds']}"
  return text


def _security_text(at_alpha: dict[str, Any] | None) -> str:
  security = at_alpha and at_alpha["security"]
  if not security:
    return "n/a"
  return f"{_interval(security)} ({security['procedure']})"


def entry_markdown(entry: dict[str, Any], alpha: float,
                   also: Sequence[float]) -> list[str]:
  """One board entry as a markdown table ranked by security at `alpha`,
  with the security at the `also` alphas beside it."""
  key = board_lib.alpha_key(alpha)
  procedures = entry["procedures"]
  heading = entry["task"] + (f" — variant `{entry['variant']}`"
                             if entry["variant"] else "")
  out = [f"## {heading}", "", entry["summary"] + ".", ""]
  if entry["figures"]:
    out += [" · ".join(f"[{f['title']}]({f['src']})"
                       for f in entry["figures"]), ""]
  out += ["| rank | split | withheld | " + " | ".join(procedures) +
          f" | security α={alpha:g} | " +
          "".join(f"security α={a:g} | " for a in also) +
          "Pareto | P(harder than next) | records |",
          "|---:|---|---:|" + "---|" * len(procedures) + "---|" * len(also) +
          "---|:-:|---:|---|"]
  for row in entry["rows"]:
    at = row["by_alpha"][key]
    withheld = f"{row['share']:.2%}" + (
        f" ({row['withheld']:,})" if row["withheld"] is not None else
        f" (mean of {len(row.get('tasks', []))} tasks)")
    cells = [_interval(at["cells"][p]) if at["cells"].get(p) else "—"
             for p in procedures]
    links = " ".join(f"[{p}]({link})" for p, link in row["records"].items())
    others = [row["by_alpha"].get(board_lib.alpha_key(a)) for a in also]
    out.append(
        f"| {at['rank']} | {row['split']} | {withheld} | " +
        " | ".join(cells) + f" | {_security_text(at)} | " +
        "".join(f"{_security_text(other)} | " for other in others) +
        ("★" if row["pareto"] else "") + " | " +
        (f"{at['p_next']:.2f}" if at["p_next"] is not None else "—") +
        f" | {links or '—'} |")
  out.append("")
  return out


def board_markdown(board: dict[str, Any]) -> str:
  """`LEADERBOARD.md`: one table per task and variant, then the splits
  shared by several tasks."""
  alpha = board["alpha"]
  also = [a for a in board["alphas"] if a != alpha and a >= 0.9]
  entries = board["tasks"] + ([board["cross_task"]]
                              if board["cross_task"] else [])
  out = [f"# {board['title']}", "", board["note"], "",
         "Ranked by security at alpha = " + f"{alpha:g}. Rebuilt from the "
         "records alone by `python -m benchmark.leaderboard`; do not edit. "
         "The same tables, sortable and filterable, with every figure: "
         "[site/index.html](site/index.html). Every alpha of each task: "
         "`leaderboard/<task>.md`. How to submit a split scheme: README, "
         "*Contributing a split scheme*.", ""]
  for entry in entries:
    out += entry_markdown(entry, alpha, also)
  return "\n".join(out)


def published_only(records: Sequence[dict[str, Any]], workdir: str
                   ) -> tuple[list[dict[str, Any]], list[str]]:
  """The records measured against the originals `workdir` publishes
  (`originals.published_manifests`), and one error line per other record.
  """
  published, good, bad = {}, [], []
  for record in records:
    slug = originals_lib.task_slug(record["task"])
    if slug not in published:
      manifests = originals_lib.published_manifests(workdir, slug)
      published[slug] = manifests and originals_lib.originals_hash(
          [m["content_sha256"] for m in manifests])
    where = board_lib.record_link(record, "")
    if not published[slug]:
      bad.append(f"record {where}: {record['task']} has no published "
                 f"originals (no manifest in "
                 f"{os.path.join(workdir, 'originals', slug)})")
    elif record["originals_sha256"] != published[slug]:
      bad.append(f"record {where} was measured against originals "
                 f"{record['originals_sha256'][:12]}, not the published "
                 f"{published[slug][:12]}")
    else:
      good.append(record)
  return good, bad


def read_published(workdir: str) -> tuple[list[dict[str, Any]], list[str]]:
  """Every valid record under `workdir/records/` measured against the
  published originals, and one error line per other record."""
  records, bad = [], []
  for directory in sorted(glob.glob(os.path.join(workdir, "records", "*"))):
    good, invalid = records_lib.read_all(directory)
    records += good
    bad += invalid
  records, refused = published_only(records, workdir)
  return records, bad + refused


def _relinked(board: dict[str, Any], prefix: str) -> dict[str, Any]:
  """The board with every link to the results folder behind `prefix`."""
  def entry(e):
    return {**e, "figures": [{**f, "src": prefix + f["src"]}
                             for f in e["figures"]],
            "rows": [{**r, "records": {p: prefix + link for p, link in
                                       r["records"].items()}}
                     for r in e["rows"]]}
  return {**board, "tasks": [entry(e) for e in board["tasks"]],
          "cross_task": board["cross_task"] and entry(board["cross_task"])}


def _draw_figures(entry: dict[str, Any], group: Sequence[dict[str, Any]],
                  workdir: str, alpha: float) -> None:
  """Draws one entry's figures under `workdir/leaderboard/` and lists them
  in the entry (links relative to `workdir`)."""
  from benchmark import figures  # pylint: disable=g-import-not-at-top
  stem = f"{originals_lib.task_slug(entry['task'])}_{entry['variant']}"
  key = board_lib.alpha_key(alpha)
  drawn = [("Hardness vs alpha", f"{stem}.png",
            lambda path: figures.hardness_curves(group, path)),
           (f"Pareto view at alpha = {key}", f"{stem}_pareto.png",
            lambda path: figures.pareto(entry, key, path)),
           (f"IQM with 95% intervals at alpha = {key}", f"{stem}_intervals.png",
            lambda path: figures.security_intervals(entry, key, path))]
  for title, name, draw in drawn:
    draw(os.path.join(workdir, "leaderboard", name))
    entry["figures"].append({"title": title, "src": f"leaderboard/{name}"})


def build_all(workdir: str) -> tuple[list[str], list[str]]:
  """Rebuilds every output of a results folder from its records alone.

  Writes `LEADERBOARD.md`, `site/index.html`, and under `leaderboard/` each
  task's tables at every alpha and its figures. Records that are invalid,
  edited, or measured against originals other than the published ones are
  left out and reported. Deterministic: the same records give the same
  bytes.

  Returns:
    The paths written, and one error line per record left out.

  Raises:
    InputError: no valid record at all.
  """
  from benchmark import site  # pylint: disable=g-import-not-at-top
  records, bad = read_published(workdir)
  if not records:
    raise InputError(f"no valid record under {workdir}/records" +
                     (f"; {bad[0]}" if bad else ""))
  written = []
  by_task = collections.defaultdict(list)
  for record in records:
    by_task[originals_lib.task_slug(record["task"])].append(record)
  for slug, task_records in sorted(by_task.items()):
    path = os.path.join(workdir, "leaderboard", f"{slug}.md")
    storage.write_text_atomic(path, build(task_records) + "\n")
    written.append(path)
  board = board_lib.build(records)
  groups = [group for _, group in sorted(board_lib.sweep_groups(
      records).items())]
  for entry, group in zip(board["tasks"], groups):
    _draw_figures(entry, group, workdir, board["alpha"])
    written += [os.path.join(workdir, f["src"]) for f in entry["figures"]]
  path = os.path.join(workdir, "LEADERBOARD.md")
  storage.write_text_atomic(path, board_markdown(board) + "\n")
  written.append(path)
  written.append(site.write(_relinked(board, "../"),
                            os.path.join(workdir, "site", "index.html")))
  return written, bad


def compare_line(workdir: str, splits: Sequence[str], alpha: float) -> str:
  """`--compare=A,B`: the probability of improvement of split A over B."""
  if len(splits) != 2:
    raise InputError(f"--compare takes two split names, got {len(splits)}")
  records, _ = read_published(workdir)
  result = board_lib.compare(records, splits[0], splits[1], alpha)
  return (f"P({splits[0]} harder to complete than {splits[1]}) at alpha "
          f"{alpha:g} = {result['p']:.3f} [{result['lo']:.3f}, "
          f"{result['hi']:.3f}] over {len(result['tasks'])} task(s): "
          f"{', '.join(result['tasks'])}")


def main(argv):
  """`python -m benchmark.leaderboard [--workdir=results]`: rebuilds every
  output of a results folder; with `--task`, only that task's tables; with
  `--compare=A,B`, prints P(A harder than B) over the tasks with both."""
  del argv
  from absl import flags  # pylint: disable=g-import-not-at-top
  values = flags.FLAGS
  if values.compare:
    print(compare_line(values.workdir, values.compare, values.alpha))
    return
  if values.task:
    slug = originals_lib.task_slug(values.task)
    markdown, bad = write(os.path.join(values.workdir, "records", slug),
                          os.path.join(values.workdir, "leaderboard",
                                       f"{slug}.md"))
    print(markdown)
  else:
    written, bad = build_all(values.workdir)
    print(f"{len(written)} file(s) written, among them "
          f"{os.path.join(values.workdir, 'LEADERBOARD.md')} and "
          f"{os.path.join(values.workdir, 'site', 'index.html')}")
  for line in bad:
    print(f"mcbench: invalid record left out: {line}", file=sys.stderr)
  if bad:
    sys.exit(1)


if __name__ == "__main__":
  from absl import flags as absl_flags  # pylint: disable=g-import-not-at-top
  from benchmark import cli  # pylint: disable=g-import-not-at-top
  absl_flags.DEFINE_string("workdir", "results",
                           "Results folder (records/, originals/); the "
                           "outputs are written beside them.")
  absl_flags.DEFINE_string("task", None, "Only rebuild this task's tables "
                           "(WORKDIR/leaderboard/<task>.md).")
  absl_flags.DEFINE_list("compare", None, "Two split names A,B: print the "
                         "probability that A is harder to complete than B "
                         "(95% stratified interval) over the tasks with "
                         "both; writes nothing.")
  absl_flags.DEFINE_float("alpha", 0.99, "Recovery level of --compare.")
  cli.run(main)
