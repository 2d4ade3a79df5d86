"""Sums a profile's device time by kind of operation (xprof's `hlo_stats`).

    pip install xprof   # not a dependency of mcbench: only to read traces
    python results/logs/scripts/trace_summary.py TRACE.xplane.pb [--top=25]

Prints the total device time, the time per HLO category, and the operations
that took most of it.
"""

import argparse
import collections
import json

from xprof.convert import raw_to_tool_data


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("xplane")
  parser.add_argument("--top", type=int, default=25)
  args = parser.parse_args()
  data, _ = raw_to_tool_data.xspace_to_tool_data([args.xplane], "hlo_stats",
                                                 {})
  table = json.loads(data)
  names = [c["id"] for c in table["cols"]]
  rows = [dict(zip(names, (cell.get("v") if cell else None
                           for cell in row["c"]))) for row in table["rows"]]
  total = sum(r["total_self_time"] for r in rows)
  print(f"device time {total / 1e3:,.1f} ms in {len(rows)} operations")
  by_category = collections.Counter()
  for r in rows:
    by_category[r["category"]] += r["total_self_time"]
  for category, t in by_category.most_common():
    print(f"  {category}: {t / 1e3:,.1f} ms ({100 * t / total:.1f}%)")
  print("top operations:")
  for r in sorted(rows, key=lambda r: -r["total_self_time"])[:args.top]:
    print(f"  {r['total_self_time'] / 1e3:8.2f} ms {r['occurrences']:6d}x "
          f"{r['category']:>12} {r['hlo_op_name'][:40]:40} "
          f"{(r.get('tf_op_name') or '')[-70:]}")


if __name__ == "__main__":
  main()
