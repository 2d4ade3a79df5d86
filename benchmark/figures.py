"""`python -m benchmark.figures`: the command line of
`benchmark.publishing.figures`.

Figures: hardness curves from records alone, the leaderboard's Pareto and
interval views from its board (`benchmark.publishing.board`), and throughput
bars from `benchmark.perf` results.
"""

import collections
import sys

from absl import flags

from benchmark import cli
from benchmark.publishing import figures, leaderboard
from benchmark.sweeps import sweep
from contract.spec import InputError

cli.define_task_flags()
flags.DEFINE_string("output", None, "PNG to write (default: beside "
                    "the leaderboard, one per variant).")


def main(argv):
  del argv
  values = flags.FLAGS
  source = sweep.records_dir(values.workdir, values.task)
  good, bad = leaderboard.read_current(source)
  groups = collections.defaultdict(list)
  for record in good:
    groups[record["adversary"]["variant"]].append(record)
  if not groups:
    raise InputError(f"no valid record of protocol v2 in {source}" +
                     (f"; {bad[0]}" if bad else ""))
  for variant, group in sorted(groups.items()):
    output = values.output or sweep.leaderboard_path(
        values.workdir, values.task).replace(".md", f"_{variant}.png")
    print(figures.hardness_curves(group, output))
  if leaderboard.report_left_out(bad):
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main)
