"""Trains and checkpoints a task's originals (orbax), or verifies cached ones.

    python -m benchmark.train --task=fashion_mnist/cnn --seeds=3 --workdir=DIR

With `--resumable`, training is checkpointed after every evaluation segment
and a rerun of the same command continues an interrupted one (for long
originals on machines that limit a command's time). `--time_limit_s` makes
such a call train what fits in that time at its measured pace, checkpoint it
(within a segment if need be) and pause cleanly instead of being killed; it
then exits with status 75 (EX_TEMPFAIL: run it again), e.g.

    until python -m benchmark.train ... --resumable --time_limit_s=500; \
      [ $? -ne 75 ]; do :; done

`--first_seed` trains other seeds than 0..n-1, so that processes can share
a machine that one process of a task which cannot vmap its runs leaves
idle (envpool's pools), each with its own workdir and a share of the GPU:

    XLA_PYTHON_CLIENT_MEM_FRACTION=0.3 python -m benchmark.train ... \
      --seeds=1 --first_seed=2 --workdir=DIR2

Each seed gets DIR/originals/<task>/seed-<i>/ with its checkpoint and a
manifest holding the evaluation curve, content hash and provenance. Their
curves are the from-scratch references t0(alpha) of every sweep.

Then it reports whether the task's originals in DIR (every complete seed of
this recipe there, not only this call's) have converged and agree
(`protocol.convergence`, protocol v2), and warns when DIR holds fewer than
a published task's `protocol.MIN_PUBLISHED_ORIGINALS`. A failed check is a
finding about the recipe, not an error: the originals stay saved and the
command succeeds; `benchmark.run` refuses to sweep over them into the
published results/.
"""

import sys

from absl import flags

from benchmark import cli
from benchmark.science import protocol
from benchmark.sweeps import originals, storage, sweep
from tasks import registry

cli.define_task_flags()
cli.define_vmap_flag()
flags.DEFINE_integer("seeds", 3, "Number of originals (seeds 0..n-1).")
flags.DEFINE_integer(
    "first_seed", 0,
    "Train seeds first_seed..first_seed+seeds-1 instead, e.g. one seed per "
    "process in processes that share a machine (copy the seed-* folders "
    "into one workdir afterwards).")
flags.DEFINE_bool(
    "resumable", False,
    "Checkpoint the training after every evaluation segment, so that a run "
    "stopped at a time limit continues when the same command is rerun.")
flags.DEFINE_float(
    "time_limit_s", None,
    "With --resumable: train the updates that fit in this many seconds of "
    "this call (at its measured pace), checkpoint them, and exit with "
    "status 75; rerun the command to continue.")
FLAGS = flags.FLAGS

EXIT_PAUSED = 75  # EX_TEMPFAIL from sysexits.h: try again later.


def main(argv):
  del argv
  if FLAGS.time_limit_s is not None and not FLAGS.resumable:
    raise cli.InputError("--time_limit_s needs --resumable")
  # Checked again by `ensure_originals`; here before the task is built.
  if FLAGS.seeds < 1:
    raise cli.InputError(f"need at least one original, got {FLAGS.seeds}")
  if FLAGS.first_seed < 0:
    raise cli.InputError(
        f"seeds start at 0, got first seed {FLAGS.first_seed}")
  storage.check_workdir(FLAGS.workdir)
  task = registry.get_task(FLAGS.task, data_dir=FLAGS.data_dir,
                           implementation=cli.implementation())
  try:
    trained = originals.ensure_originals(
        task, FLAGS.workdir, FLAGS.seeds, flags=cli.flag_values(),
        vmap_size=cli.vmap_size(), resumable=FLAGS.resumable,
        time_limit_s=FLAGS.time_limit_s, first_seed=FLAGS.first_seed)
  except originals.Paused as e:
    print(f"mcbench: {e}")
    sys.exit(EXIT_PAUSED)
  for original in trained:
    print(f"{originals.original_dir(FLAGS.workdir, task.name, original.seed)}"
          f"  P*={original.p_star:.4f}  sha256={original.content_hash}")
  for line in convergence_report(
      task, FLAGS.workdir, sweep.evaluation_standard_error(task, trained)):
    print(line)


def convergence_report(task, workdir: str,
                       standard_error: float = 0.0) -> list[str]:
  """Lines saying whether the task's originals in `workdir` have converged
  and agree (`protocol.convergence_line`; `standard_error`: of one
  evaluation), after a warning if there are fewer than a published task
  needs.

  Every complete original of the task's recipe in `workdir` counts, so that
  seeds trained by separate calls (`--first_seed`) are judged together.
  """
  config = storage.as_json(task.config)
  manifests = [m for m in originals.published_manifests(
      workdir, originals.task_slug(task.name)) if m["task_config"] == config]
  lines = []
  if len(manifests) < protocol.MIN_PUBLISHED_ORIGINALS:
    lines.append(
        f"mcbench: warning: {workdir} holds {len(manifests)} original(s) of "
        f"{task.name}; a published task has at least "
        f"{protocol.MIN_PUBLISHED_ORIGINALS} (protocol v2)")
  costs = [u * task.recipe.cost_per_update for u in task.recipe.eval_updates]
  check = protocol.convergence(costs, [m["performance"] for m in manifests],
                               task.p0, standard_error)
  lines.append(protocol.convergence_line(check))
  return lines


if __name__ == "__main__":
  cli.run(main)
