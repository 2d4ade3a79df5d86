"""Training from scratch: completion with everything withheld under T2.

Originals (`benchmark.sweeps.originals`) and the recipe's cost from scratch
(hardness's denominator, `t0`) are trained by these programs, so they share
every line of training code with completion runs.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from benchmark.engine import batching, completion, sharding
from benchmark.science import procedures
from contract import spec


def everything_withheld(variables: Any) -> Any:
  return jax.tree.map(lambda v: jnp.ones(jnp.shape(v), bool), variables)


def make_scratch_training(task: spec.Task, vmap_size: int | None = None):
  """Trains originals from scratch, several seeds in one program.

  Args:
    task: the task.
    vmap_size: seeds vmapped together (see `batching.over_runs`; None: all).

  Returns:
    `train(keys) -> (completion.Curve, variables)` with a leading seed axis:
    the run of procedure T2 with every variable withheld and no early stop.
  """
  run = completion.make_completion(task)
  procedure = procedures.settings("T2", task.recipe)
  map_runs = batching.over_runs(vmap_size)

  def train(keys, data):
    def one(key):
      placeholder = completion.zeros_like_init(task, key)
      return run(key, placeholder, everything_withheld(placeholder),
                 procedure, jnp.inf, data)
    return map_runs(one, keys)

  batched = sharding.task_jit(task, train)
  return lambda keys: batched(keys, task.data)


class StagedTraining(NamedTuple):
  """Originals trained one evaluation segment per program call
  (`make_staged_scratch_training`), each callable with a leading seed axis.

  Attributes:
    start: `keys -> (states, first_performances)`.
    advance: `(states, keys, segment_lengths) -> (states, performances)`,
      `performances` of shape `[seeds, len(segment_lengths)]`.
    train: `(states, keys, num_updates) -> states`, updates without an
      evaluation: the first part of a segment, before a pause.
    variables: `(states, keys) -> variables`.
    reattach: `(states, keys) -> states`, after a restore in another process.
  """

  start: Callable
  advance: Callable
  train: Callable
  variables: Callable
  reattach: Callable


def make_staged_scratch_training(task: spec.Task,
                                 vmap_size: int | None = None
                                 ) -> StagedTraining:
  """`make_scratch_training` cut at the evaluation points, for training that
  is checkpointed between segments and resumed in a later process.

  Each stage is jitted once; `advance` with segment lengths of one shape
  reuses its program for every segment.
  """
  stages = completion.make_stages(task)
  procedure = procedures.settings("T2", task.recipe)
  map_runs = batching.over_runs(vmap_size)

  def fixed(key):
    placeholder = completion.zeros_like_init(task, key)
    return placeholder, everything_withheld(placeholder)

  def start(keys, data):
    def one(key):
      placeholder, withheld = fixed(key)
      state, first, _ = stages.start(key, placeholder, withheld, procedure,
                                     jnp.inf, data)
      return state, first
    return map_runs(one, keys)

  def advance(states, keys, segment_lengths, data):
    def one(args):
      state, key = args
      return stages.advance(state, segment_lengths, key, fixed(key)[1],
                            procedure, jnp.inf, data)
    return map_runs(one, (states, keys))

  def train(states, keys, num_updates, data):
    def one(args):
      state, key = args
      return stages.train(state, num_updates, key, fixed(key)[1], procedure,
                          data)
    return map_runs(one, (states, keys))

  def per_seed(stage):
    return sharding.task_jit(task, jax.vmap(lambda state, key: stage(
        state, fixed(key)[1], procedure)))

  start_jit, advance_jit, train_jit = (sharding.task_jit(task, f)
                                      for f in (start, advance, train))
  return StagedTraining(
      start=lambda keys: start_jit(keys, task.data),
      advance=lambda states, keys, lengths: advance_jit(states, keys, lengths,
                                                        task.data),
      # A traced count: one program serves every partial segment.
      train=lambda states, keys, n: train_jit(states, keys,
                                              jnp.asarray(n, jnp.int32),
                                              task.data),
      variables=per_seed(stages.variables),
      reattach=per_seed(stages.reattach))
