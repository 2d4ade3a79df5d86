"""`python -m benchmark.submit`: the command line of
`benchmark.publishing.submit`.

Submits a split scheme to a task's leaderboard.
"""

import os
import sys

from absl import flags

from benchmark import cli
from benchmark.publishing import board as board_lib
from benchmark.publishing import leaderboard, submit
from contract.spec import InputError

cli.define_task_flags()
cli.define_vmap_flag()
flags.FLAGS.set_default("workdir", "results")
flags.DEFINE_string("scheme", None, "The scheme file (.yaml/.json).")
flags.DEFINE_integer("jobs_per_program", 1, "Procedures run together "
                     "in one compiled program.", lower_bound=1)
flags.DEFINE_integer("num_devices", None, "Devices to spread the runs "
                     "over; default: all.", lower_bound=1)


def main(argv):
  del argv
  values = flags.FLAGS
  if not values.scheme:
    raise InputError("--scheme is required: a .yaml or .json scheme file")
  result = submit.submit(values.scheme, values.task, values.workdir,
                  values.data_dir, vmap_size=cli.vmap_size(),
                  jobs_per_program=values.jobs_per_program,
                  num_devices=values.num_devices,
                  implementation=tuple(cli.implementation().items()))
  for row in result["rows"]:
    for key, at in sorted(row["by_alpha"].items()):
      print(f"{row['split']} on {values.task}, alpha {key}: security "
            f"{leaderboard.security_text(at['security'])}")
  print(f"{len(result['records'])} record(s); scheme kept as "
        f"{result['submission']}; leaderboard: "
        f"{os.path.join(values.workdir, 'LEADERBOARD.md')}")
  invalid = [line for line in result["bad"] if not board_lib.is_notice(line)]
  for line in result["bad"]:
    kind = "left out" if board_lib.is_notice(line) else (
        "invalid record left out of the leaderboard")
    print(f"mcbench: {kind}: {line}", file=sys.stderr)
  if invalid:
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main)
