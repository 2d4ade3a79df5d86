"""Did a rerun reproduce the published records? Compared by identity and
result, not by bytes.

    # Rerun part of a published sweep anywhere, then compare:
    python -m benchmark.run --task=digits/mlp --workdir=/tmp/mine
    python -m benchmark.reproduce --workdir=/tmp/mine
    python -m benchmark.reproduce --workdir=/tmp/mine --published=results

Each record of `WORKDIR/records/` is matched with the published record
(`PUBLISHED/records/`) that answers the same question, its `record_id`
(`benchmark.sweeps.records`: task and recipe, split, procedure, adversary,
budget, alphas, seeds), and their measurements are compared at the evaluation
grid's resolution (`result_sha256`: each seed's first reach and censoring,
t0, the originals' first reaches). Bytes are not compared: on another CPU
the curves' floats differ in their last bits, and so do content hashes,
while the measurement need not.

One line per record (`same`, `differs` with the alphas where, or
`unpublished`), then a summary; exit status 1 when any record differs, 2 on
bad input (no records, an unreadable record on either side).
"""

from __future__ import annotations

import glob
import os
from typing import Any, NamedTuple, Sequence

from benchmark.sweeps import records as records_lib


class Comparison(NamedTuple):
  """One rerun record against the published record of its identity."""

  path: str  # The rerun record, relative to its records folder.
  verdict: str  # "same", "differs" or "unpublished".
  where: tuple[str, ...] = ()  # For "differs": what differs, readable.

  @property
  def line(self) -> str:
    detail = f": {'; '.join(self.where)}" if self.where else ""
    return f"{self.verdict:<11} {self.path}{detail}"


def read_records(records_root: str) -> dict[str, dict[str, Any]]:
  """Every record under `records_root/<task>/`, by its path relative to
  `records_root`.

  Raises:
    InputError: an unreadable, invalid or edited record (named).
  """
  paths = sorted(glob.glob(os.path.join(records_root, "*", "*.json")))
  return {os.path.relpath(path, records_root): records_lib.read(path)
          for path in paths}


def differences(mine: dict[str, Any],
                published: dict[str, Any]) -> tuple[str, ...]:
  """Where two measurements of one question differ, one phrase each: the
  alphas whose t0 or seeds' first reaches differ, then other parts."""
  a, b = records_lib.measurement(mine), records_lib.measurement(published)
  where = []
  for row, other in zip(a["rows"], b["rows"]):
    if row == other:
      continue
    moved = sum(x != y or c != d for x, y, c, d in zip(
        row["t"], other["t"], row["censored"], other["censored"]))
    t0 = ("" if row["t0"] == other["t0"] else
          f", t0 {row['t0']:g} (published {other['t0']:g})")
    where.append(f"alpha {row['alpha']:g}: {moved} of {len(row['t'])} "
                 f"seed(s) first reach at another evaluation{t0}")
  for name in sorted(set(a) - {"rows"}):
    if a[name] != b[name]:
      where.append(f"{name.replace('_', ' ')} differs")
  return tuple(where)


def compare(mine: dict[str, dict[str, Any]],
            published: Sequence[dict[str, Any]]) -> list[Comparison]:
  """Each record of `mine` (by path) against `published`, in path order.

  A record is `same` when a published record of its identity has its
  result, else `differs` (against the first such record), else
  `unpublished`.
  """
  by_id: dict[str, list[dict[str, Any]]] = {}
  for record in published:
    by_id.setdefault(records_lib.record_id(record), []).append(record)
  found = []
  for path, record in sorted(mine.items()):
    matches = by_id.get(records_lib.record_id(record), [])
    result = records_lib.result_sha256(record)
    if not matches:
      found.append(Comparison(path, "unpublished"))
    elif any(records_lib.result_sha256(m) == result for m in matches):
      found.append(Comparison(path, "same"))
    else:
      found.append(Comparison(path, "differs",
                              differences(record, matches[0])))
  return found


def summary_line(comparisons: Sequence[Comparison]) -> str:
  """The last line: how many records reproduce, differ, are unpublished."""
  counts = {v: sum(c.verdict == v for c in comparisons)
            for v in ("same", "differs", "unpublished")}
  compared = counts["same"] + counts["differs"]
  return (f"mcbench reproduce: {counts['same']} of {compared} published "
          f"record(s) reproduced, {counts['differs']} differ; "
          f"{counts['unpublished']} not published")
