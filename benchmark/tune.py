"""`python -m benchmark.tune`: the command line of
`benchmark.sweeps.tune`.

Checks that a task's recipe is tuned (protocol v2, PROTOCOL.md "Recipes must
be tuned"): hardness is relative to the recipe's cost from scratch, so a
recipe that another learning rate beats by far would make every split look
easy.
"""

from absl import flags

from benchmark import cli
from benchmark.sweeps import storage, tune
from contract import spec

cli.define_task_flags()
cli.define_vmap_flag()
flags.FLAGS.set_default("workdir", "results")
flags.DEFINE_integer(
    "seeds", None, "From-scratch runs per learning-rate factor (default: "
    "as many as --num_originals).")
flags.DEFINE_integer(
    "num_originals", tune.DEFAULT_NUM_ORIGINALS,
    "Originals (seeds 0..N-1) whose median first reach is t0: as many as "
    "the task's published sweeps use.")
flags.DEFINE_list(
    "factors", [f"{f:g}" for f in tune.DEFAULT_FACTORS],
    "Factors of the recipe's peak learning rate to train from scratch at.")
flags.DEFINE_list(
    "pool", [], "Instead of a check: tuning results (JSON files written by "
    "this command) whose runs are pooled by peak learning rate and "
    "printed as one table; nothing is trained or written.")


def main(argv):
  del argv
  values = flags.FLAGS
  if values.pool:
    results = []
    for path in tune.pool_paths(values.pool):
      result = storage.read_json(path)
      if not isinstance(result, dict) or result.get("schema") != tune.SCHEMA:
        raise spec.InputError(f"{path}: not a benchmark.tune result")
      results.append(result)
    for line in tune.pooled_table(results, tune.pool_by_rate(results)):
      print(line)
    return
  # Checked again by `tune.check_recipe`; here before the task is built.
  factors = tune.parse_factors(values.factors)
  if values.seeds is not None:
    tune.check_seeds(values.seeds)
  result, path = tune.check_recipe(
      values.task, values.workdir, factors, values.seeds,
      num_originals=values.num_originals,
      data_dir=values.data_dir, implementation=cli.implementation(),
      vmap_size=cli.vmap_size(), flags=cli.flag_values())
  for line in tune.table(result):
    print(line)
  print(f"wrote {path}")


if __name__ == "__main__":
  cli.run(main)
