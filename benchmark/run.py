"""Runs a completion sweep and rebuilds the task's leaderboard.

    python -m benchmark.run                      # digits/mlp, every family
    python -m benchmark.run --task=fashion_mnist/cnn --splits=layers,types \
        --procedures=T1,T2,T3,T4 --seeds=5 --alphas=0.5,0.9,0.99 --workdir=DIR

Trains or reuses the originals, runs every (split, procedure) over the seeds,
writes one record per (split, procedure) under DIR/records/<task>/ and the
leaderboard under DIR/leaderboard/<task>.md, then prints the leaderboard.
Rerunning the same command resumes: finished records are skipped.
"""

import textwrap

from absl import flags

from benchmark import cli
from benchmark.publishing import leaderboard
from benchmark.science import procedures, splitter
from benchmark.sweeps import sweep
from contract.spec import InputError

cli.define_task_flags()
cli.define_vmap_flag()
cli.define_distributed_flags()
flags.DEFINE_list(
    "splits", list(splitter.FAMILIES),
    "Split families, built-in scheme names or scheme files (.yaml/.json). "
    f"Families: {', '.join(splitter.FAMILIES)}.")
flags.DEFINE_list("procedures", list(procedures.PROCEDURES),
                  "Retraining procedures (T1..T4).")
flags.DEFINE_integer("seeds", None, "Completion seeds per (split, procedure); "
                     "default: the task's (10 where a run costs seconds, "
                     "else 5, the least a published sweep may use).",
                     lower_bound=1)
flags.DEFINE_list("alphas", ["0.5", "0.9", "0.99"],
                  "Recovery levels, each in (0, 1].")
flags.DEFINE_integer("num_originals", 3,
                     "Originals (seeds) of the task; completion seed i "
                     "completes original i mod num_originals.")
flags.DEFINE_float("budget_fraction", 1.0,
                   "Completion budget B as a fraction of the recipe's.")
flags.DEFINE_float("train_fraction", 1.0,
                   "Adversary's data budget: fraction of the training set.")
flags.DEFINE_float("finetune_fraction", None,
                   "The low peak of the T3/T4 fine-tuning grid as a fraction "
                   "of the recipe's peak, in (0, 1] (default: the task's "
                   "own rate, else 0.1); the grid's other peak is the "
                   "recipe's.")
flags.DEFINE_string("reinit", "init",
                    "Re-initialise withheld parameters with the model's "
                    "initialisers ('init') or with zeros ('zeros').")
flags.DEFINE_bool("early_stop", True,
                  "Stop a run once it reaches the highest alpha.")
flags.DEFINE_integer("bootstrap_reps", 2000,
                     "Bootstrap resamples for the intervals.")
flags.DEFINE_integer("trajectory_episodes", 0,
                     "Trajectory access (RL tasks): the adversary receives "
                     "this many episodes of the original agent and "
                     "warm-starts by behaviour cloning on them; 0: none.",
                     lower_bound=0)
flags.DEFINE_integer("jobs_per_program", 1,
                     "(split, procedure) jobs run together in one compiled "
                     "program, their seeds vmapped with them (masks are "
                     "data); more jobs fill a large accelerator.",
                     lower_bound=1)
flags.DEFINE_bool("refill", False,
                  "Train --vmap_size runs of a program at a time in slots "
                  "that a stopped run hands to the next waiting one, so "
                  "early stopping saves time in batched programs too.")
flags.DEFINE_enum("matmul_precision", "default", sweep.MATMUL_PRECISIONS,
                  "Precision of float32 matrix products and convolutions in "
                  "completion runs (jax.default_matmul_precision); part of "
                  "the adversary variant when not 'default'.")
flags.DEFINE_integer("num_devices", None,
                     "Devices to spread each program's runs over (the "
                     "first N of every process); default: all.",
                     lower_bound=1)
flags.DEFINE_float("memory_limit_gib", None,
                   "Device memory one program may plan for; runs that do not "
                   "fit are vmapped in smaller chunks. Default: 90% of the "
                   "device's own limit (none on CPU).")
flags.DEFINE_bool("private", False,
                  "A private experiment: records are marked unpublishable "
                  "(allowed from uncommitted code and outside the "
                  "protocol's published settings; refused in results/).")
flags.DEFINE_bool("recompute", False,
                  "Compute again, and replace, records found corrupt or "
                  "edited; without it such a record stops the sweep with "
                  "one line naming it.")
FLAGS = flags.FLAGS


def parse_alphas(values: list[str]) -> tuple[float, ...]:
  try:
    return tuple(float(v) for v in values)
  except ValueError as e:
    raise InputError(f"--alphas must be numbers: {e}") from e


def main(argv):
  del argv
  cli.initialize_distributed()
  settings = sweep.SweepSettings(
      task=FLAGS.task, splits=tuple(FLAGS.splits),
      procedures=tuple(FLAGS.procedures), seeds=FLAGS.seeds,
      alphas=parse_alphas(FLAGS.alphas), num_originals=FLAGS.num_originals,
      budget_fraction=FLAGS.budget_fraction,
      train_fraction=FLAGS.train_fraction,
      finetune_fraction=FLAGS.finetune_fraction, reinit=FLAGS.reinit,
      early_stop=FLAGS.early_stop, bootstrap_reps=FLAGS.bootstrap_reps,
      workdir=FLAGS.workdir, data_dir=FLAGS.data_dir,
      vmap_size=cli.vmap_size(), jobs_per_program=FLAGS.jobs_per_program,
      refill=FLAGS.refill, trajectory_episodes=FLAGS.trajectory_episodes,
      num_devices=FLAGS.num_devices,
      matmul_precision=FLAGS.matmul_precision,
      memory_limit_gib=FLAGS.memory_limit_gib,
      implementation=tuple(cli.implementation().items()),
      private=FLAGS.private, recompute=FLAGS.recompute)
  result = leaderboard.sweep_and_write(settings, flags=cli.flag_values())
  if not result["markdown"]:
    return  # Not the writing process of a multi-process job.
  print(result["markdown"] + "\n")
  for line in result["guide"]:
    print(f"{textwrap.fill(line, width=79)}\n")
  print(f"{len(result['records'])} record(s) written, "
        f"{len(result['skipped'])} already done; leaderboard: "
        f"{result['leaderboard']}")


if __name__ == "__main__":
  cli.run(main)
