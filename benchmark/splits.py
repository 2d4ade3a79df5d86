"""Shows a task's parameter paths and what a split scheme withholds.

    python -m benchmark.splits --task=fashion_mnist/cnn --list
    python -m benchmark.splits --task=fashion_mnist/cnn --scheme=my_split.yaml
    python -m benchmark.splits --task=digits/mlp --family=types
"""

import jax
from absl import flags

from benchmark import cli
from benchmark.science import splitter
from contract.spec import InputError
from tasks import registry

cli.define_task_flags()
flags.DEFINE_bool("list", False, "Print every parameter path, shape, size.")
flags.DEFINE_string("scheme", None,
                    "A scheme file (.yaml/.json), a family or a built-in "
                    "scheme name: print what it withholds.")
flags.DEFINE_string("family", None, "Print the schemes of a built-in family.")
FLAGS = flags.FLAGS


def describe(variables, scheme, mask) -> str:
  summary = splitter.summarize(variables, mask)
  lines = [f"{scheme.name}: withholds {summary['withheld']:,} of "
           f"{summary['total']:,} scalars ({summary['share']:.2%}) in "
           f"{len(summary['paths'])} array(s)"]
  lines += [f"  {path}" for path in summary["paths"]]
  return "\n".join(lines)


def main(argv):
  del argv
  if not (FLAGS.list or FLAGS.scheme or FLAGS.family):
    raise InputError("nothing to do: pass --list, --scheme=FILE or "
                     "--family=NAME")
  task = registry.get_task(FLAGS.task, data_dir=FLAGS.data_dir,
                           implementation=cli.implementation())
  variables = task.init(jax.random.key(0))
  if FLAGS.list:
    leaves = splitter.leaves(variables)
    width = max(len(leaf.path) for leaf in leaves)
    for leaf in leaves:
      print(f"{leaf.path:<{width}}  {str(leaf.shape):<18} {leaf.size:>10,}")
    print(f"{'total':<{width}}  {'':<18} "
          f"{sum(leaf.size for leaf in leaves):>10,}")
  for spec in filter(None, [FLAGS.scheme, FLAGS.family]):
    for scheme, mask in splitter.resolve_schemes(variables, [spec], task.name):
      print(describe(variables, scheme, mask))


if __name__ == "__main__":
  cli.run(main)
