"""`python -m benchmark.findings`: the command line of
`benchmark.publishing.findings`.

The paper's two findings, computed from records alone.
"""

from absl import flags

from benchmark import cli
from benchmark.publishing import findings

flags.DEFINE_string("workdir", "results",
                    "Results folder (records/); FINDINGS.md and "
                    "findings/ are written beside them.")
flags.DEFINE_bool("check", False,
                  "Write nothing; fail (exit 2) unless "
                  "WORKDIR/FINDINGS.md is what the records give.")


def main(argv):
  """`python -m benchmark.findings [--workdir=results] [--check]`."""
  del argv
  values = flags.FLAGS
  if values.check:
    print(f"{findings.check(values.workdir)} rebuilds from its records")
    return
  for path in findings.write(values.workdir):
    print(path)


if __name__ == "__main__":
  cli.run(main)
