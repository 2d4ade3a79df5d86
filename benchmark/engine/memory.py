"""Device memory: how many runs of a program fit at once.

`fit_vmap_size` compiles a program at a candidate vmap width, reads the
compiled program's memory need and halves the width until it fits the
device's limit, so a sweep runs in chunks instead of running out of memory.
"""

from __future__ import annotations

from typing import Callable

import jax

from contract import spec


def device_memory_limit() -> int | None:
  """Bytes the first local device may allocate (`bytes_limit` of its memory
  stats), None where the backend does not say (XLA:CPU)."""
  stats = jax.local_devices()[0].memory_stats() or {}
  return stats.get("bytes_limit")


def program_bytes(compiled: jax.stages.Compiled) -> int:
  """Device memory a compiled program needs at its peak, as XLA plans it:
  arguments, outputs and temporaries, less outputs that reuse arguments."""
  stats = compiled.memory_analysis()
  return (stats.argument_size_in_bytes + stats.output_size_in_bytes +
          stats.temp_size_in_bytes - stats.alias_size_in_bytes)


def fit_vmap_size(runs_for: Callable[[int | None], Callable], args: tuple,
                  vmap_size: int | None, limit_bytes: int,
                  log: Callable[[str], None] = lambda _: None,
                  jit: Callable = jax.jit
                  ) -> tuple[int | None, jax.stages.Compiled]:
  """`(size, program)`: the largest vmap size, at most `vmap_size`, whose
  program fits, and that program compiled.

  `runs_for(v)` is the unjitted program of one device with vmap size `v`
  (None: all runs) and `args` its arguments (arrays or shape structs), the
  first with a leading run axis. Each candidate is compiled ahead of time
  and XLA's own memory plan (`program_bytes`) is checked against
  `limit_bytes`; a candidate that does not fit is shrunk in proportion
  (memory grows about linearly with the runs vmapped together) and at
  least by one, so a few compilations settle it. Candidates divide the run
  count: equal chunks, no second program for a remainder.

  Raises:
    spec.InputError: not even one run at a time fits.
  """
  num_runs = len(jax.tree.leaves(args[0])[0])

  def divisor_at_most(cap):  # Equal chunks: no remainder program beside.
    return max(d for d in range(1, max(1, cap) + 1) if num_runs % d == 0)

  size = divisor_at_most(num_runs if vmap_size is None else vmap_size)
  while True:
    vmapped = None if size == num_runs else size
    program = jit(runs_for(vmapped)).lower(*args).compile()
    need = program_bytes(program)
    if need <= limit_bytes:
      log(f"device memory: {size} of {num_runs} run(s) vmapped together "
          f"need {need / 2**20:,.1f} MiB of {limit_bytes / 2**20:,.1f} MiB")
      return vmapped, program
    if size == 1:
      raise spec.InputError(
          f"one run needs {need / 2**20:,.1f} MiB of device memory; "
          f"{limit_bytes / 2**20:,.1f} MiB is available")
    size = divisor_at_most(min(size - 1, size * limit_bytes // need))
