"""Runs spread over the devices of a mesh, of one process or several.

A program's leading axis is its runs: `shard_runs` places that axis on the
mesh's `RUN_AXIS`, so one program trains runs on every device of a
`jax.distributed` job, and gathers the results on every process.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import PartitionSpec as P

from benchmark.engine import prng
from contract import spec


RUN_AXIS = "runs"


def run_mesh(num_devices: int | None = None) -> jax.sharding.Mesh:
  """A one-axis `Mesh` (`RUN_AXIS`) over the first `num_devices` devices of
  every process (None: all of them).

  Raises:
    spec.InputError: more devices asked for than there are, or fewer than 1.
  """
  devices = jax.devices()
  if num_devices is None:
    num_devices = len(devices)
  if not 1 <= num_devices <= len(devices):
    raise spec.InputError(
        f"asked for {num_devices} device(s); there are {len(devices)} "
        f"({devices[0].platform})")
  return jax.sharding.Mesh(np.asarray(devices[:num_devices]), (RUN_AXIS,))


def _global_array(value: Any, sharding: jax.sharding.Sharding) -> jax.Array:
  """`value` (the same on every process) as one array over `sharding`'s
  devices, each process placing only its own devices' parts."""
  host = np.asarray(value)
  return jax.make_array_from_callback(host.shape, sharding,
                                      lambda index: host[index])


def task_jit(task: spec.Task, fun: Callable, **jit_kwargs) -> Callable:
  """`jax.jit(fun)` compiled with the task's XLA options for this backend
  (`spec.Task.compiler_options`)."""
  return jax.jit(fun, compiler_options=task.compiler_options.get(
      jax.default_backend()), **jit_kwargs)


def shard_runs(runs: Callable, num_run_args: int,
               mesh: jax.sharding.Mesh, jit: Callable = jax.jit) -> Callable:
  """`runs` spread over the devices of `mesh`, of one process or of several
  (`jax.distributed`), jitted.

  The first `num_run_args` arguments of `runs` have a leading run axis; it
  is cut into equal shares, one per device, by `jax.shard_map`, and every
  device runs its share with `runs` (no communication: runs are
  independent). Later arguments (the data) are replicated. A run count
  that the devices do not divide is padded with copies of the last run,
  whose results are dropped. Every process passes the same arguments and
  gets every run's results (gathered with `process_allgather`). `jit`
  compiles (`task_jit` for a task's options).
  """
  if mesh.size == 1 and jax.process_count() == 1:
    return jit(runs)
  over_runs_sharding = jax.sharding.NamedSharding(mesh, P(RUN_AXIS))
  replicated = jax.sharding.NamedSharding(mesh, P())
  programs = {}

  def program(treedef, is_key):
    # Typed keys travel as their key data, which host arrays can hold.
    def with_keys(*raw):
      leaves = [jax.random.wrap_key_data(leaf) if key else leaf
                for leaf, key in zip(jax.tree.leaves(raw), is_key)]
      return runs(*jax.tree.unflatten(treedef, leaves))

    def sharded(*raw):
      return jax.shard_map(
          with_keys, mesh=mesh, out_specs=P(RUN_AXIS),
          in_specs=(P(RUN_AXIS),) * num_run_args
          + (P(),) * (len(raw) - num_run_args),
          check_vma=False)(*raw)

    return jit(sharded)

  def call(*args):
    leaves, treedef = jax.tree.flatten(args)
    is_key = tuple(prng.is_prng_key(leaf) for leaf in leaves)
    if (treedef, is_key) not in programs:
      programs[treedef, is_key] = program(treedef, is_key)
    raw = [jax.random.key_data(leaf) if key else leaf
           for leaf, key in zip(leaves, is_key)]
    unflattened = jax.tree.unflatten(treedef, raw)
    run_args, data = unflattened[:num_run_args], unflattened[num_run_args:]
    num_runs = len(jax.tree.leaves(run_args)[0])
    padding = -num_runs % mesh.size

    def spread(x):
      x = np.asarray(x)
      if padding:
        x = np.concatenate([x, np.repeat(x[-1:], padding, 0)])
      return _global_array(x, over_runs_sharding)

    out = programs[treedef, is_key](
        *jax.tree.map(spread, run_args),
        *jax.tree.map(lambda x: _global_array(x, replicated), data))
    if jax.process_count() > 1:
      out = multihost_utils.process_allgather(out, tiled=True)
    return jax.tree.map(lambda x: x[:num_runs], out)

  return call
