"""`python -m benchmark.analysis`: the command line of
`benchmark.publishing.analysis`.

Type and location vs count: what explains a split's security, from records.
"""

import sys

from absl import flags

from benchmark import cli
from benchmark.publishing import analysis, leaderboard
from benchmark.sweeps import sweep

cli.define_task_flags()
flags.DEFINE_float("alpha", None, "Recovery level of the analysis "
                   "(default: the records' headline alpha).")
flags.DEFINE_string("variant", None, "Adversary variant to analyse "
                    "(default: the one with the most records).")
flags.DEFINE_string("output", None, "Markdown file to write (default: "
                    "WORKDIR/leaderboard/<task>_analysis.md).")


def main(argv):
  """`python -m benchmark.analysis --task=T --workdir=DIR [--alpha=A]`."""
  del argv
  values = flags.FLAGS
  source = sweep.records_dir(values.workdir, values.task)
  output = values.output or sweep.leaderboard_path(
      values.workdir, values.task).replace(".md", "_analysis.md")
  markdown, bad, note = analysis.write(source, output, values.alpha,
                                       values.variant)
  print(markdown)
  failed = leaderboard.report_left_out(bad)
  if note:
    print(f"mcbench: {note}", file=sys.stderr)
  if failed:
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main)
