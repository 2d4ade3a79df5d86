"""Leaderboards computed from records alone: tables, the public page, figures.

    python -m benchmark.leaderboard                  # rebuild results/
    python -m benchmark.leaderboard --workdir=DIR    # another results folder

rebuilds, deterministically (same records, same bytes): `LEADERBOARD.md`
(one table per task and variant ranked by security at the task's headline
alpha, with every other alpha beside it, the caps, intervals, share
withheld, Pareto marks, P(harder than next) and links to the records; then
the roles that several tasks share), `site/index.html` (the same, sortable
and filterable, with the figures), and under `leaderboard/` each task's
tables at every alpha and its figures.

Only records of the current protocol (v2) count: each folder holding older
ones gets one notice line, and they are never mixed in. Of those, only the
records measured against the folder's published originals count; any other
record, and any invalid or edited one, is named and makes the command exit
1. The published `results/` folder (`protocol.is_published_workdir`) takes
only records that a clean commit reproduces (`board.unpublishable_because`):
the build refuses any other before writing anything (exit 2); another folder
builds and says which records could not be published.

The per-task tables (`build`, `write`, also rebuilt by every sweep):

For each task and adversary variant, one markdown table per alpha (the
ranking alpha first, with its cap beside each): one row per split with the
share of parameters withheld, the hardness (IQM and its 95% bootstrap
interval) under each procedure, and the split's security, the adversary's
best case: the minimum over procedures. Rows are ranked by security at the
task's headline alpha in every table, hardest first. A censored value (some
seeds never recovered within the budget) is shown as `>x`, `c=k/n` counts
the censored seeds, and `at cap` marks a value whose every seed was
censored.
"""

from __future__ import annotations

import collections
import glob
import os
import sys
from typing import Any, Callable, Sequence

from benchmark.publishing import board as board_lib
from benchmark.science import protocol
from benchmark.sweeps import originals as originals_lib
from benchmark.sweeps import records as records_lib
from benchmark.sweeps import storage, sweep
from contract.spec import InputError


def cell_text(cell: dict[str, Any] | None) -> str:
  """A hardness cell as `IQM [lo, hi]`; `>` and `c=k/n` where censored,
  `at cap` where every seed was, and the grid's most frequent winner."""
  if cell is None:
    return "n/a"
  text = f"{cell['iqm']:.3f} [{cell['lo']:.3f}, {cell['hi']:.3f}]"
  if cell["censored"]:
    text = (">" + text + f" c={cell['censored']}/{cell['seeds']}" +
            (" at cap" if cell.get("at_cap") else ""))
  won = cell.get("won")
  if won:
    text += f" ({won['schedule']} {won['count']}/{won['reached']})"
  return text


def security_text(security: dict[str, Any] | None) -> str:
  """A split's security with the procedure attaining it."""
  if not security:
    return "n/a"
  return f"{cell_text(security)} ({security['procedure']})"


def security(cells: dict[str, dict[str, Any] | None]) -> tuple[float, str]:
  """`(min IQM over procedures, procedure attaining it)`; NaN if none. On a
  tie an uncensored procedure wins (the minimum is then exact)."""
  known = [(s["iqm"], s["censored"] > 0, name) for name, s in cells.items()
           if s is not None]
  if not known:
    return float("nan"), ""
  value, _, name = min(known)
  return value, name


def summary_at(record: dict[str, Any], alpha: float) -> dict[str, Any] | None:
  """The record's hardness summary at `alpha`; None where it has none."""
  row = board_lib.hardness_row(record, alpha)
  return None if row is None else row["summary"]


def alpha_heading(entry: dict[str, Any], alpha: float) -> str:
  """`alpha = 0.99 (cap 2.703: ...)`, saying which alpha ranks."""
  cap = entry["caps"][board_lib.alpha_key(alpha)]
  ranks = (" ranks this task" if alpha == entry["ranking_alpha"] else "")
  return (f"alpha = {alpha:g}{ranks} ({board_lib.cap_text(cap)}"
          f"{': ' + board_lib.CAP_MEANING if cap is not None else ''})")


def task_tables(entry: dict[str, Any]) -> str:
  """Markdown for one board entry (`board.task_entry`): a table per alpha,
  the ranking alpha first, every table in the ranking alpha's order."""
  procedures = entry["procedures"]
  ranking = board_lib.alpha_key(entry["ranking_alpha"])
  out = [f"### {entry['task']} — variant `{entry['variant']}`", "",
         entry["summary"] + ".", ""]
  out += [f"- {note}" for note in entry["notes"]] + [""]
  alphas = [entry["ranking_alpha"]] + [a for a in entry["alphas"]
                                       if a != entry["ranking_alpha"]]
  for alpha in alphas:
    key = board_lib.alpha_key(alpha)
    out += [f"#### {alpha_heading(entry, alpha)}", "",
            f"| rank (alpha {ranking}) | split | withheld | " +
            " | ".join(procedures) + " | security (min) |",
            "|---:|---|---:|" + "---|" * len(procedures) + "---|"]
    for row in entry["rows"]:
      at = row["by_alpha"][key]
      out.append(
          f"| {row['by_alpha'][ranking]['rank']} | {row['split']} | "
          f"{row['share']:.2%} | " +
          " | ".join(cell_text(at["cells"][p]) if p in row["records"]
                     else "—" for p in procedures) +
          f" | {security_text(at['security'])} |")
    out.append("")
  return "\n".join(out)


HEADER = ("Hardness = cost of completion / cost of training from scratch "
          "(t_T(alpha) / t_0(alpha)); IQM [95% stratified-bootstrap "
          "interval] over seeds. Security = min over procedures. A censored "
          "value is a lower bound: `>x`, with `c=k/n` censored seeds of n; "
          "`at cap` where all were, at the cap B/t0(alpha). Generated from "
          "records by `python -m benchmark.leaderboard`; do not edit.")


def build(records: Sequence[dict[str, Any]]) -> str:
  """The per-task tables of a set of protocol v2 records,
  deterministically."""
  return tables_markdown(board_lib.build(records)["tasks"])


def tables_markdown(entries: Sequence[dict[str, Any]]) -> str:
  return "\n".join(["# mcbench leaderboard", "", HEADER, ""] +
                   [task_tables(entry) for entry in entries])


def check_publishable(records: Sequence[dict[str, Any]], workdir: str) -> None:
  """Refuses, for the published `results/` only, records that no clean
  commit reproduces (`board.unpublishable_because`).

  Raises:
    InputError: one line naming how many and the first file.
  """
  if not protocol.is_published_workdir(workdir):
    return
  refused = [r for r in records if board_lib.unpublishable_because(r)]
  if refused:
    first = refused[0]
    raise InputError(
        f"{len(refused)} record(s) in the published {workdir} cannot be "
        f"published ({board_lib.unpublishable_because(first)[0]}), the "
        f"first {os.path.join(workdir, board_lib.record_link(first, ''))}: "
        "published records come from a clean commit; rerun them there or "
        "build another --workdir")


def read_current(records_dir: str) -> tuple[list[dict[str, Any]], list[str]]:
  """The valid protocol v2 records of one folder, and one line per invalid
  record and one notice for the folder's records of protocol v1."""
  good, bad = records_lib.read_all(records_dir)
  good, notices = board_lib.current_only(good, records_dir)
  return good, bad + notices


def write(records_dir: str, output: str) -> tuple[str, list[str]]:
  """Rebuilds `output` from every protocol v2 record in `records_dir`.

  Returns:
    The markdown, and one line per invalid record (left out) and per folder
    of protocol v1 records (`board.current_only`).

  Raises:
    InputError: no valid v2 record at all; or, in the published results
      folder, records that cannot be published (`check_publishable`).
  """
  markdown, bad, _ = _write_tables(records_dir, output)
  return markdown, bad


def _write_tables(records_dir: str, output: str
                  ) -> tuple[str, list[str], list[dict[str, Any]]]:
  """`write`, also returning the board entries the tables show."""
  good, bad = read_current(records_dir)
  if not good:
    raise InputError(f"no valid record of protocol v2 in {records_dir}" +
                     (f"; {bad[0]}" if bad else ""))
  check_publishable(good, os.path.dirname(os.path.dirname(
      os.path.abspath(records_dir))))
  entries = board_lib.build(good)["tasks"]
  markdown = tables_markdown(entries)
  storage.write_text_atomic(output, markdown + "\n")
  return markdown, bad, entries


def reading_guide(entry: dict[str, Any]) -> list[str]:
  """Three lines under a task's tables that say how to read its top row:
  what hardness and security are, what the top split's numbers mean, and
  what a censored cell's bound is."""
  alpha = entry["ranking_alpha"]
  key = board_lib.alpha_key(alpha)
  top = entry["rows"][0]
  security = top["by_alpha"][key]["security"]
  cap = entry["caps"][key]
  lines = [
      f"How to read it: each row is a split, ranked by its security at "
      f"alpha {alpha:g} (this task's headline alpha: the first table), the "
      "lowest hardness over T1-T4; hardness is the adversary's cost to get "
      "a share alpha of the way from P0 to P* over the cost of training "
      "from scratch to the same level (1: as costly as from scratch)."]
  if security:
    lines.append(
        f"Top row: `{top['split']}` withholds {top['share']:.2%} of the "
        f"parameters; security {security_text(security)}: the adversary's "
        f"best procedure, {security['procedure']}, needs "
        f"{security['iqm']:.3g} times the cost of training from scratch "
        "(IQM over seeds, 95% interval).")
  if cap is not None:
    lines.append(
        f"A cell `>x c=k/n`: k of n seeds did not recover within the budget "
        f"B and count at the cap B/t0 = {cap:.3f}, so x is only a lower "
        "bound; `at cap`: no seed recovered.")
  return lines


def entry_markdown(entry: dict[str, Any]) -> list[str]:
  """One task's board entry as a markdown table ranked by security at its
  ranking alpha, with the security at its other alphas beside it."""
  if entry.get("kind") == "roles":
    return roles_markdown(entry)
  ranking = entry["ranking_alpha"]
  key = board_lib.alpha_key(ranking)
  also = [a for a in entry["alphas"] if a != ranking]
  procedures = entry["procedures"]
  heading = entry["task"] + (f" — variant `{entry['variant']}`"
                             if entry["variant"] else "")
  out = [f"## {heading}", "", entry["summary"] + ".", ""]
  out += [f"- {note}" for note in entry["notes"]]
  out += ["- Caps B/t0(alpha) (" + board_lib.CAP_MEANING + "): " +
          "; ".join(f"alpha = {a:g}: " + board_lib.cap_text(
              entry["caps"][board_lib.alpha_key(a)]) for a in entry["alphas"])
          + ".", ""]
  if entry["figures"]:
    out += [" · ".join(f"[{f['title']}]({f['src']})"
                       for f in entry["figures"]), ""]

  def header(alpha, ranks=""):
    cap = board_lib.cap_text(entry["caps"][board_lib.alpha_key(alpha)])
    return f"security α={alpha:g} ({ranks}{cap}) | "

  out += ["| rank | split | withheld | " +
          " | ".join(f"{p} α={ranking:g}" for p in procedures) + " | " +
          header(ranking, "ranks; ") + "".join(header(a) for a in also) +
          "Pareto | P(harder than next) | records |",
          "|---:|---|---:|" + "---|" * len(procedures) + "---|" * len(also) +
          "---|:-:|---:|---|"]
  for row in entry["rows"]:
    at = row["by_alpha"][key]
    withheld = f"{row['share']:.2%} ({row['withheld']:,})"
    cells = [cell_text(at["cells"][p]) if at["cells"].get(p) else "—"
             for p in procedures]
    links = " ".join(f"[{p}]({link})" for p, link in row["records"].items())
    others = [row["by_alpha"][board_lib.alpha_key(a)]["security"]
              for a in also]
    out.append(
        f"| {at['rank']} | {row['split']} | {withheld} | " +
        " | ".join(cells) + f" | {security_text(at['security'])} | " +
        "".join(f"{security_text(other)} | " for other in others) +
        ("★" if row["pareto"] else "") + " | " +
        (f"{at['p_next']:.2f}" if at["p_next"] is not None else "—") +
        f" | {links or '—'} |")
  out.append("")
  return out


def pooled_text(pooled: dict[str, Any] | None) -> str:
  """A pooled security (`board.pooled_security`): `>` where a task's
  value is censored, and how many tasks it pools."""
  if pooled is None:
    return "n/a"
  text = f"{pooled['mean']:.3f} [{pooled['lo']:.3f}, {pooled['hi']:.3f}]"
  censored = (f", {pooled['censored']} censored" if pooled["censored"]
              else "")
  return ((">" if pooled["censored"] else "") + text +
          f" ({pooled['tasks']} of {pooled['of']} tasks{censored})")


def task_value_text(cell: dict[str, Any] | None) -> str:
  """One task's value in the roles table, with its cap and split."""
  if cell is None:
    return "not run"
  if cell.get("iqm") is None:
    return f"n/a ({cell['split']}; {board_lib.cap_text(cell['cap'])})"
  return (f"{cell_text(cell)} ({cell['split']}, {cell['procedure']}; "
          f"{board_lib.cap_text(cell['cap'])})")


def roles_markdown(entry: dict[str, Any]) -> list[str]:
  """The cross-task entry (`board.cross_task_entry`): one row per role,
  its pooled security at every alpha, then each task's value at the
  ranking alpha with its cap."""
  ranking = entry["ranking_alpha"]
  key = board_lib.alpha_key(ranking)
  also = [a for a in entry["alphas"] if a != ranking]
  out = ["## Across tasks: roles", "", entry["summary"] + ".", ""]
  out += [f"- {note}" for note in entry["notes"]] + [""]
  out += ["| rank | role | " + f"pooled security α={ranking:g} (ranks) | " +
          "".join(f"pooled α={a:g} | " for a in also) +
          "".join(f"{task} α={ranking:g} | " for task in entry["tasks"]) +
          "P(harder than next) |",
          "|---:|---|---|" + "---|" * (len(also) + len(entry["tasks"])) +
          "---:|"]
  for row in entry["rows"]:
    at = row["by_alpha"][key]
    out.append(
        f"| {at['rank']} | {row['role']} | {pooled_text(at['security'])} | " +
        "".join(pooled_text(row["by_alpha"][board_lib.alpha_key(a)]
                            ["security"]) + " | " for a in also) +
        "".join(task_value_text(at["per_task"].get(task)) + " | "
                for task in entry["tasks"]) +
        (f"{at['p_next']:.2f}" if at["p_next"] is not None else "—") + " |")
  out.append("")
  return out


def board_markdown(board: dict[str, Any]) -> str:
  """`LEADERBOARD.md`: one table per task and variant, then the roles
  shared by several tasks, then what was left out."""
  entries = board["tasks"] + ([board["cross_task"]]
                              if board["cross_task"] else [])
  out = [f"# {board['title']}", "", board["note"], "",
         "Each task ranks at its headline alpha (" + board_lib.HEADLINE_RULE +
         "). Rebuilt from the records alone by `python -m "
         "benchmark.leaderboard`; do not edit. The same tables, sortable and "
         "filterable, with every figure: [site/index.html](site/index.html). "
         "Every alpha of each task: `leaderboard/<task>.md`. How to submit a "
         "split scheme: README, *Contributing a split scheme*.", ""]
  for entry in entries:
    out += entry_markdown(entry)
  if board["left_out"]:
    out += ["## Left out", ""] + [f"- {line}" for line in board["left_out"]]
    out.append("")
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
  """Every valid protocol v2 record under `workdir/records/` measured
  against the published originals, and one line per other record (one per
  folder for records of protocol v1)."""
  records, bad = [], []
  for directory in sorted(glob.glob(os.path.join(workdir, "records", "*"))):
    good, left_out = read_current(directory)
    records += good
    bad += left_out
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
                  workdir: str) -> None:
  """Draws one entry's figures under `workdir/leaderboard/` and lists them
  in the entry (links relative to `workdir`)."""
  # pylint: disable-next=g-import-not-at-top
  from benchmark.publishing import figures  # Loads matplotlib.
  stem = f"{originals_lib.task_slug(entry['task'])}_{entry['variant']}"
  key = board_lib.alpha_key(entry["ranking_alpha"])
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
  task's tables at every alpha and its figures, all or nothing: a record
  that is invalid, edited, or measured against originals other than the
  published ones stops the build before anything is written, so that the
  committed outputs never silently lose a row. Records of protocol v1 are
  left out with one notice per folder, which the outputs list too.
  Deterministic: the same records give the same bytes.

  Returns:
    The paths written, and the notices of records of protocol v1 left out
    (one per folder).

  Raises:
    InputError: an invalid record (naming how many and the first), no
      valid record of protocol v2 at all, or, in the published results
      folder, records that cannot be published (`check_publishable`);
      before anything is written.
  """
  from benchmark.publishing import site  # pylint: disable=g-import-not-at-top
  records, bad = read_published(workdir)
  invalid = [line for line in bad if not board_lib.is_notice(line)]
  if invalid:
    raise InputError(
        f"{len(invalid)} record(s) cannot be trusted, nothing written "
        f"(first: {invalid[0]}); repair or remove them, or rerun their "
        "sweep with --recompute")
  if not records:
    raise InputError(f"no valid record of protocol v2 under {workdir}/records" +
                     (f"; {bad[0]}" if bad else ""))
  check_publishable(records, workdir)
  board = board_lib.build(records)
  # Notices name folders from the results folder: the same bytes wherever
  # it is.
  inside = os.path.join(workdir, "")
  board["left_out"] = [line[len(inside):] if line.startswith(inside) else line
                       for line in bad if board_lib.is_notice(line)]
  groups = [group for _, group in sorted(board_lib.sweep_groups(
      records).items())]
  written = []
  by_task = collections.defaultdict(list)
  for entry in board["tasks"]:
    by_task[originals_lib.task_slug(entry["task"])].append(entry)
  for slug, entries in sorted(by_task.items()):
    path = os.path.join(workdir, "leaderboard", f"{slug}.md")
    storage.write_text_atomic(path, tables_markdown(entries) + "\n")
    written.append(path)
  for entry, group in zip(board["tasks"], groups):
    _draw_figures(entry, group, workdir)
    written += [os.path.join(workdir, f["src"]) for f in entry["figures"]]
  path = os.path.join(workdir, "LEADERBOARD.md")
  storage.write_text_atomic(path, board_markdown(board) + "\n")
  written.append(path)
  written.append(site.write(_relinked(board, "../"),
                            os.path.join(workdir, "site", "index.html")))
  return written, bad


def compare_line(workdir: str, splits: Sequence[str], alpha: float) -> str:
  """`--compare=A,B`: the probability of improvement of split A over B
  (`role.<role>`: the split playing that role in each task)."""
  if len(splits) != 2:
    raise InputError(f"--compare takes two split names, got {len(splits)}")
  records, _ = read_published(workdir)
  result = board_lib.compare(records, splits[0], splits[1], alpha)
  return (f"P({splits[0]} harder to complete than {splits[1]}) at alpha "
          f"{alpha:g} = {result['p']:.3f} [{result['lo']:.3f}, "
          f"{result['hi']:.3f}] over {len(result['tasks'])} task(s): "
          f"{', '.join(result['tasks'])}")


def report_left_out(lines: Sequence[str]) -> bool:
  """Prints each left-out line to stderr; True if any names an invalid
  record (notices of protocol v1 records alone are not an error)."""
  for line in lines:
    kind = "left out" if board_lib.is_notice(line) else (
        "invalid record left out")
    print(f"mcbench: {kind}: {line}", file=sys.stderr)
  return any(not board_lib.is_notice(line) for line in lines)


def sweep_and_write(settings: sweep.SweepSettings,
                    log: Callable[[str], None] = print,
                    flags: dict | None = None) -> dict[str, Any]:
  """Runs (or resumes) a sweep (`sweep.run_sweep`), then rebuilds its task's
  table from every record of the task.

  Returns:
    `run_sweep`'s result, `"markdown"`: the tables ("" on a process that
    does not write), and `"guide"`: `reading_guide`'s lines for a folder of
    one sweep (none where the folder holds several variants).
  """
  result = sweep.run_sweep(settings, log=log, flags=flags)
  if not result["writer"]:
    return {**result, "markdown": "", "guide": []}
  markdown, bad, entries = _write_tables(result["records_dir"],
                                         result["leaderboard"])
  for line in bad:
    log(f"warning: left out of the leaderboard: {line}")
  guide = reading_guide(entries[0]) if len(entries) == 1 else []
  return {**result, "markdown": markdown, "guide": guide}
