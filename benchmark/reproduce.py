"""`python -m benchmark.reproduce`: the command line of
`benchmark.sweeps.reproduce`.

Did a rerun reproduce the published records? Compared by identity and
result, not by bytes.
"""

import os
import sys

from absl import flags

from benchmark import cli
from benchmark.sweeps import reproduce
from contract.spec import InputError

flags.DEFINE_string("workdir", "workdir",
                    "The rerun's workdir (its records/ are compared).")
flags.DEFINE_string("published", "results",
                    "The published results folder (records/).")


def main(argv):
  """`python -m benchmark.reproduce --workdir=W [--published=results]`."""
  if len(argv) > 1:
    raise InputError(f"unexpected argument(s): {' '.join(argv[1:])}")
  values = flags.FLAGS
  mine = reproduce.read_records(os.path.join(values.workdir, "records"))
  if not mine:
    raise InputError(f"no record in {values.workdir}/records/<task>/ to "
                     "compare")
  published_root = os.path.join(values.published, "records")
  if not os.path.isdir(published_root):
    raise InputError(f"no published records folder {published_root}")
  published = list(reproduce.read_records(published_root).values())
  comparisons = reproduce.compare(mine, published)
  for comparison in comparisons:
    print(comparison.line)
  print(reproduce.summary_line(comparisons))
  if any(c.verdict == "differs" for c in comparisons):
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main)
