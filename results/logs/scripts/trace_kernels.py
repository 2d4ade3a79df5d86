"""Sums a profile's GPU kernel time by kernel, from the trace that
`jax.profiler.trace` writes beside its xplane (`*.trace.json.gz`), with the
standard library alone (so it runs on the device machine, where xprof is
not installed).

    python3 results/logs/scripts/trace_kernels.py TRACE_DIR [--top=25]

For each line of each GPU (its streams, XLA's ops and modules): the span
from its first event's start to its last event's end, the time some event
ran (the union of their intervals) and its share of the span (on a stream,
what is left is the device waiting: launches, host round trips), then the
events that took most of it.
"""

import argparse
import collections
import glob
import gzip
import json
import os


def busy_time(intervals):
  """Length of the union of `(start, end)` intervals."""
  total, end = 0.0, float("-inf")
  for start, stop in sorted(intervals):
    if stop > end:
      total += stop - max(start, end)
      end = stop
  return total


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("trace_dir")
  parser.add_argument("--top", type=int, default=25)
  args = parser.parse_args()
  for path in sorted(glob.glob(os.path.join(args.trace_dir, "**",
                                            "*.trace.json.gz"),
                               recursive=True)):
    with gzip.open(path) as f:
      events = json.load(f)["traceEvents"]
    devices = {e["pid"]: e["args"]["name"] for e in events
               if e.get("ph") == "M" and e.get("name") == "process_name"
               and "GPU" in e["args"]["name"]}
    print(path)
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
               if e.get("ph") == "M" and e.get("name") == "thread_name"}
    for pid, device in sorted(devices.items()):
      lines = collections.defaultdict(list)  # Thread name -> its events.
      for e in events:
        if e.get("pid") == pid and e.get("ph") == "X" and "dur" in e:
          lines[threads.get((pid, e.get("tid")), "?")].append(e)
      for line, kernels in sorted(lines.items()):
        span = (max(e["ts"] + e["dur"] for e in kernels)
                - min(e["ts"] for e in kernels))
        busy = busy_time((e["ts"], e["ts"] + e["dur"]) for e in kernels)
        print(f"{device} / {line}: {len(kernels)} events, span "
              f"{span / 1e3:,.2f} ms, busy {busy / 1e3:,.2f} ms "
              f"({100 * busy / max(span, 1e-9):.1f}%)")
        by_name = collections.defaultdict(lambda: [0.0, 0])
        for e in kernels:
          entry = by_name[e["name"]]
          entry[0] += e["dur"]
          entry[1] += 1
        for name, (total, count) in sorted(
            by_name.items(), key=lambda kv: -kv[1][0])[:args.top]:
          print(f"  {total / 1e3:9.2f} ms {100 * total / busy:5.1f}% "
                f"{count:7d}x {name[:110]}")


if __name__ == "__main__":
  main()
