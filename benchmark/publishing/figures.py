"""Figures: hardness curves from records alone, the leaderboard's Pareto and
interval views from its board (`benchmark.publishing.board`), and throughput
bars from `benchmark.perf` results.

Hardness curves: one panel per procedure; in each, one line per split: the
IQM hardness at each alpha of the records' grid with its 95% interval as a
band. A censored point (some seed never recovered, so the value is a lower
bound) is a hollow upward triangle; a dotted line marks the cap B/t0(alpha),
the largest value a censored seed can show, and a dashed one hardness 1
(training from scratch); the axis is logarithmic above 0.1. The board's
views mark censored securities the same way and label them `>x` (`at cap`
where every seed was censored). Only records of protocol v2 are drawn.
Every figure is saved without a timestamp: the same input gives the same
bytes.

    python -m benchmark.figures --task=fashion_mnist/cnn --workdir=results
"""

from __future__ import annotations

import collections
from typing import Any, Sequence

from benchmark.publishing import board as board_lib
from benchmark.sweeps import records as records_lib
from contract.spec import InputError

# Censored values are lower bounds: triangles pointing to where the true
# value lies (up on a vertical hardness axis, right on a horizontal one).
CENSORED_UP, CENSORED_RIGHT = "^", ">"


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _save(figure, output: str) -> str:
  """Saves with fixed metadata (no timestamp): same input, same bytes."""
  figure.tight_layout()
  figure.savefig(output, dpi=120, metadata={"Software": None})
  figure.clear()
  _pyplot().close(figure)
  return output


def value_label(cell: dict[str, Any]) -> str:
  """A hardness value as a figure labels it: `0.52`, `>1.22` (a lower
  bound), `>1.22 at cap` (every seed censored)."""
  if not cell["censored"]:
    return f"{cell['iqm']:.2f}"
  return f">{cell['iqm']:.2f}" + (" at cap" if cell.get("at_cap") else "")


def hardness_curves(records: Sequence[dict[str, Any]], output: str,
                    max_splits: int = 12) -> str:
  """Draws the protocol v2 records of one task and variant into `output`
  (PNG).

  Splits are ordered by their hardness at the top alpha under T2 (or the
  first procedure), hardest first; at most `max_splits` are drawn, chosen
  evenly along that order so both ends of the ranking show.

  Raises:
    InputError: no records, or a record of protocol v1.
  """
  plt = _pyplot()
  if not records:
    raise InputError("no records to draw")
  old = [r for r in records if not records_lib.is_current(r)]
  if old:
    raise InputError(records_lib.protocol_notice(
        old[0], board_lib.record_link(old[0], "")))
  by_procedure = collections.defaultdict(dict)
  for record in records:
    by_procedure[record["procedure"]["name"]][record["split"]["name"]] = record
  procedures = sorted(by_procedure)
  anchor = by_procedure["T2" if "T2" in by_procedure else procedures[0]]

  def top_value(record):
    summary = record["hardness"][-1]["summary"]
    return summary["iqm"] if summary else -1.0

  ranked = sorted(anchor, key=lambda s: (-top_value(anchor[s]), s))
  if len(ranked) > max_splits:
    step = (len(ranked) - 1) / (max_splits - 1)
    ranked = [ranked[round(i * step)] for i in range(max_splits)]
  colours = plt.get_cmap("tab20")(range(len(ranked)))
  caps = sorted((row["alpha"], row["cap"]) for row in records[0]["hardness"]
                if row["cap"] is not None)

  figure, axes = plt.subplots(1, len(procedures), sharey=True,
                              figsize=(4 * len(procedures) + 2, 4),
                              squeeze=False)
  for axis, procedure in zip(axes[0], procedures):
    for colour, split in zip(colours, ranked):
      record = by_procedure[procedure].get(split)
      if record is None:
        continue
      rows = [r for r in record["hardness"] if r["summary"] is not None]
      alphas = [r["alpha"] for r in rows]
      iqm = [r["summary"]["iqm"] for r in rows]
      axis.fill_between(alphas, [r["summary"]["iqm_ci"][0] for r in rows],
                        [r["summary"]["iqm_ci"][1] for r in rows],
                        color=colour, alpha=0.15, linewidth=0)
      axis.plot(alphas, iqm, color=colour, label=split, linewidth=1.5)
      for alpha, value, row in zip(alphas, iqm, rows):
        censored = row["summary"]["censored"] > 0
        axis.plot([alpha], [value], CENSORED_UP if censored else "o",
                  color=colour, markerfacecolor="none" if censored else colour)
    axis.plot([a for a, _ in caps], [c for _, c in caps], color="black",
              linestyle=":", linewidth=1, label="cap B/t0 (censored seeds)")
    axis.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    # Hardness spans 0 (free) to far above 1 (censored): linear near 0.
    axis.set_yscale("symlog", linthresh=0.1)
    axis.set_title(procedure)
    axis.set_xlabel("recovery level alpha")
  axes[0][0].set_ylabel("MC-hardness (IQM, 95% CI)")
  first = records[0]
  figure.suptitle(f"{first['task']} ({first['adversary']['variant']}), "
                  f"{records_lib.seeds_in_words(first)}")
  axes[0][-1].plot([], [], CENSORED_UP, color="grey", markerfacecolor="none",
                   linestyle="none", label="censored: a lower bound (>)")
  axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5),
                     fontsize="small")
  return _save(figure, output)


def _security_points(entry: dict[str, Any], alpha_key: str):
  """(split, share, security cell, pareto) of rows with a security."""
  return [(row["split"], row["share"], row["by_alpha"][alpha_key]["security"],
           row.get("pareto", False)) for row in entry["rows"]
          if row["by_alpha"][alpha_key]["security"] is not None]


def pareto(entry: dict[str, Any], alpha_key: str, output: str) -> str:
  """Security against share withheld for one board entry (PNG): each split
  a point with its 95% interval, a hollow triangle labelled `>x` where
  censored; the frontier (no split withholds less and is harder) joined by
  a line and labelled; the cap as a dotted line."""
  plt = _pyplot()
  points = _security_points(entry, alpha_key)
  if not points:
    raise InputError(f"{entry['id']}: no split has a security value")
  figure, axis = plt.subplots(figsize=(7, 4.5))
  for name, share, cell, on_front in points:
    colour = "tab:red" if on_front else "tab:blue"
    censored = cell["censored"] > 0
    axis.errorbar([share], [cell["iqm"]],
                  yerr=[[cell["iqm"] - cell["lo"]], [cell["hi"] - cell["iqm"]]],
                  fmt=CENSORED_UP if censored else "o", color=colour,
                  ecolor=colour, alpha=0.8,
                  markerfacecolor="none" if censored else colour,
                  capsize=2, linewidth=1)
    label = " ".join(([name] if on_front else []) +
                     ([value_label(cell)] if censored else []))
    if label:
      axis.annotate(label, (share, cell["iqm"]), fontsize="x-small",
                    xytext=(4, 4), textcoords="offset points")
  front = sorted((share, cell["iqm"]) for _, share, cell, on in points if on)
  axis.step([s for s, _ in front], [v for _, v in front], where="post",
            color="tab:red", linewidth=1, label="Pareto frontier")
  axis.axhline(1.0, color="grey", linestyle="--", linewidth=1,
               label="training from scratch")
  cap = entry["caps"].get(alpha_key)
  if cap is not None:
    axis.axhline(cap, color="black", linestyle=":", linewidth=1,
                 label=f"{board_lib.cap_text(cap)} (B/t0)")
  axis.set_xscale("log")
  axis.set_yscale("symlog", linthresh=0.1)
  axis.set_xlabel("share of parameters withheld")
  axis.set_ylabel(f"security at alpha = {alpha_key} (min IQM over procedures)")
  axis.plot([], [], CENSORED_UP, color="grey", markerfacecolor="none",
            linestyle="none", label="censored: a lower bound (>)")
  axis.set_title(f"{entry['task']} ({entry['variant']})", fontsize="medium")
  axis.legend(fontsize="small", loc="best")
  return _save(figure, output)


def security_intervals(entry: dict[str, Any], alpha_key: str,
                       output: str) -> str:
  """IQM hardness with 95% interval bars, one row per split in rank order
  and one marker per procedure (PNG); the security is the leftmost. A
  censored value is a hollow right-pointing triangle (a lower bound), and
  each split's label ends with its security (`>x` where censored)."""
  plt = _pyplot()
  rows = entry["rows"]
  procedures = entry["procedures"]
  figure, axis = plt.subplots(figsize=(8, 0.28 * len(rows) + 1.4))
  colours = plt.get_cmap("tab10")(range(len(procedures)))
  offsets = [(i - (len(procedures) - 1) / 2) * 0.15
             for i in range(len(procedures))]
  for colour, offset, procedure in zip(colours, offsets, procedures):
    points = collections.defaultdict(lambda: ([], [], [[], []]))
    for y, row in enumerate(rows):
      cell = row["by_alpha"][alpha_key]["cells"].get(procedure)
      if cell is None:
        continue
      ys, values, errors = points[cell["censored"] > 0]
      ys.append(y + offset)
      values.append(cell["iqm"])
      errors[0].append(cell["iqm"] - cell["lo"])
      errors[1].append(cell["hi"] - cell["iqm"])
    for censored, (ys, values, errors) in sorted(points.items()):
      axis.errorbar(values, ys, xerr=errors, fmt="none", ecolor=colour,
                    linewidth=1, alpha=0.7)
      axis.scatter(values, ys, s=18,
                   marker=CENSORED_RIGHT if censored else "o",
                   facecolors="none" if censored else colour,
                   edgecolors=colour)
    axis.scatter([], [], s=14, color=colour, label=procedure)  # Legend.
  axis.scatter([], [], s=18, marker=CENSORED_RIGHT, facecolors="none",
               edgecolors="grey", label="censored: a lower bound (>)")

  def label(row):
    security = row["by_alpha"][alpha_key]["security"]
    return row["split"] + ("" if security is None else
                           f" ({value_label(security)})")

  axis.set_yticks(range(len(rows)), [label(row) for row in rows],
                  fontsize="small")
  axis.invert_yaxis()
  axis.axvline(1.0, color="grey", linestyle="--", linewidth=1)
  cap = entry["caps"].get(alpha_key)
  if cap is not None:
    axis.axvline(cap, color="black", linestyle=":", linewidth=1,
                 label=f"{board_lib.cap_text(cap)} (B/t0)")
  axis.set_xscale("symlog", linthresh=0.1)
  axis.set_xlabel(f"MC-hardness at alpha = {alpha_key} (IQM, 95% interval)")
  axis.set_title(f"{entry['task']} ({entry['variant']})", fontsize="medium")
  axis.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
  return _save(figure, output)


def throughput_bars(results: Sequence[dict[str, Any]], output: str) -> str:
  """Draws `benchmark.perf` results into `output` (PNG): one panel per
  task, a bar of examples per second per measurement, the
  big-job limit as a dashed line where measured."""
  plt = _pyplot()
  if not results:
    raise InputError("no perf results to draw")
  figure, axes = plt.subplots(len(results), 1, squeeze=False,
                              figsize=(8, 0.45 * sum(
                                  len(r["rows"]) for r in results) + 1.2 *
                                       len(results)))
  for axis, result in zip(axes[:, 0], results):
    rows = result["rows"]
    labels = [f"{r['measurement']} ({r['runs']})" for r in rows]
    speeds = [r["examples_per_s"] for r in rows]
    axis.barh(range(len(rows)), speeds, color="tab:blue")
    axis.set_yticks(range(len(rows)), labels)
    axis.invert_yaxis()
    for row in rows:
      if row["measurement"] == "big job":
        axis.axvline(row["examples_per_s"], color="black", linestyle="--",
                     linewidth=1)
    axis.set_xlabel("examples per second (batch items: images, frames)")
    axis.set_title(f"{result['task']}: {result['updates']} updates, batch "
                   f"{result['batch_size']}", fontsize="medium")
  return _save(figure, output)
