"""`python -m benchmark.leaderboard`: the command line of
`benchmark.publishing.leaderboard`.

Leaderboards computed from records alone: tables, the public page, figures.
"""

import os
import sys

from absl import flags

from benchmark import cli
from benchmark.publishing import leaderboard
from benchmark.sweeps import originals as originals_lib

flags.DEFINE_string("workdir", "results",
                    "Results folder (records/, originals/); the "
                    "outputs are written beside them.")
flags.DEFINE_string("task", None, "Only rebuild this task's tables "
                    "(WORKDIR/leaderboard/<task>.md).")
flags.DEFINE_list("compare", None, "Two split names A,B: print the "
                  "probability that A is harder to complete than B "
                  "(95% stratified interval) over the tasks with "
                  "both; `role.<role>` names the split playing that "
                  "role in each task. Writes nothing.")
flags.DEFINE_float("alpha", 0.99, "Recovery level of --compare.")


def main(argv):
  """`python -m benchmark.leaderboard [--workdir=results]`: rebuilds every
  output of a results folder; with `--task`, only that task's tables; with
  `--compare=A,B`, prints P(A harder than B) over the tasks with both."""
  del argv
  values = flags.FLAGS
  if values.compare:
    print(leaderboard.compare_line(values.workdir, values.compare,
                                   values.alpha))
    return
  if values.task:
    slug = originals_lib.task_slug(values.task)
    markdown, bad = leaderboard.write(
        os.path.join(values.workdir, "records", slug),
        os.path.join(values.workdir, "leaderboard", f"{slug}.md"))
    print(markdown)
  else:
    written, bad = leaderboard.build_all(values.workdir)
    print(f"{len(written)} file(s) written, among them "
          f"{os.path.join(values.workdir, 'LEADERBOARD.md')} and "
          f"{os.path.join(values.workdir, 'site', 'index.html')}")
  if leaderboard.report_left_out(bad):
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main)
