"""Trains and checkpoints a task's originals (orbax), or verifies cached ones.

    python -m benchmark.train --task=fashion_mnist/cnn --seeds=3 --workdir=DIR

With `--resumable`, training is checkpointed after every evaluation segment
and a rerun of the same command continues an interrupted one (for long
originals on machines that limit a command's time).

Each seed gets DIR/originals/<task>/seed-<i>/ with its checkpoint and a
manifest holding the evaluation curve, content hash and provenance. Their
curves are the from-scratch references t0(alpha) of every sweep.
"""

from absl import flags

from benchmark import cli, originals
from tasks import registry

cli.define_task_flags()
cli.define_vmap_flag()
flags.DEFINE_integer("seeds", 3, "Number of originals (seeds 0..n-1).")
flags.DEFINE_bool(
    "resumable", False,
    "Checkpoint the training after every evaluation segment, so that a run "
    "stopped at a time limit continues when the same command is rerun.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  task = registry.get_task(FLAGS.task, data_dir=FLAGS.data_dir)
  trained = originals.ensure_originals(task, FLAGS.workdir, FLAGS.seeds,
                                       flags=cli.flag_values(),
                                       vmap_size=cli.vmap_size(),
                                       resumable=FLAGS.resumable)
  for original in trained:
    print(f"{originals.original_dir(FLAGS.workdir, task.name, original.seed)}"
          f"  P*={original.p_star:.4f}  sha256={original.content_hash}")


if __name__ == "__main__":
  cli.run(main)
