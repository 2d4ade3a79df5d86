"""`python -m benchmark.regression`: the command line of
`benchmark.diagnostics.regression`.

CI regression of metric values against committed reference files.
"""

import sys

from absl import flags

from benchmark import cli
from benchmark.diagnostics import regression
from benchmark.engine import compilation
from contract.spec import InputError

flags.DEFINE_bool("check", False, "Rerun the reference configurations "
                  "and compare; exit 1 on any metric out of band.")
flags.DEFINE_bool("refresh", False, "Rerun the reference "
                  "configurations and rewrite their files.")
flags.DEFINE_list("configs", None, "Configuration names (files "
                  "<reference_dir>/<name>.json); default: all.")
flags.DEFINE_string("reference_dir", regression.DEFAULT_REFERENCE_DIR,
                    "Folder of the reference files.")
flags.DEFINE_string(
    "compilation_cache_dir", compilation.DEFAULT_CACHE_DIR,
    "JAX's persistent compilation cache (empty: off).")


def main(argv):
  """`--check` or `--refresh` over the selected reference configurations."""
  if len(argv) > 1:
    raise InputError(f"unexpected argument(s): {' '.join(argv[1:])}")
  values = flags.FLAGS
  regression.pin_cpu_isa()
  if values.check == values.refresh:
    raise InputError("give exactly one of --check and --refresh")
  if values.refresh:
    regression.refresh(values.reference_dir, values.configs)
  elif regression.check(values.reference_dir, values.configs):
    sys.exit(1)


if __name__ == "__main__":
  cli.run(main)
