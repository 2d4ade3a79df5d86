"""The contract between a task and the benchmark.

A task is a learning problem with one fixed recipe (PROTOCOL.md, "Words"). The
benchmark (`benchmark/`) only ever sees a `Task`: it never imports a task
module by name and never branches on a task's family. Everything a completion
run needs is here:

* `init(key) -> variables`: the model's own initialisers. Variables are a dict
  of collections (`{"params": ..., "batch_stats": ...}`), each a plain pytree.
* `recipe`: optimiser factory, schedule, budget and evaluation schedule.
* `make_learner(tx, trainable) -> Learner`: how the task's agent learns with a
  given optimiser (`agents/` implements it). `trainable` has the structure of
  the variables; non-gradient collections (batch-norm statistics) that are not
  trainable must keep their values bit for bit.
* `evaluate(variables, data, key) -> P`: scalar performance, higher is
  better, jittable, run on the device.
* `data`: the arrays (or environment parameters) the learner and evaluation
  read. They are passed to compiled code as arguments, never closed over, so
  that a data set is not baked into a program as a constant.
* `p0`: the reference performance (chance accuracy or random-policy return).
* `warm_start` (RL tasks only): the trajectory-access adversary's first move,
  `warm_start(variables, demonstrator, trainable, key, data, num_episodes)
  -> (variables, cost)`: plays `num_episodes` episodes with the original
  agent `demonstrator`, fits the `trainable` part of `variables` to them
  (behaviour cloning) and returns the result with the episodes' cost in the
  task's cost unit. Jittable.

Streamed tasks (`streamed=True`). A data set that cannot live on the
accelerator (ImageNet) is fed from the host, and the benchmark runs such a
task with `benchmark/engine/streaming.py` instead of the all-on-device
engine. For such a task:

* `data` is a `StreamedData`: `train_batches(key)` gives the (endless)
  training batches of a run as numpy arrays, one per update, in an order and
  with an augmentation fixed by `key`; `eval_batches()` gives the evaluation
  batches.
* the learner's `step(state, batch)` takes one of those batches (on the
  device) instead of the whole data set.
* `evaluate(variables, data, key)` is a host-level function, not jittable: it
  loops over `data.eval_batches()` with its own compiled step and returns a
  Python float.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator, NamedTuple, Protocol

import jax
import optax

Variables = Any  # dict of collections -> pytree of arrays
Mask = Any  # same structure as Variables, boolean arrays


class Learner(NamedTuple):
  """A learner as pure functions (the purejaxrl pattern).

  Attributes:
    init: `(variables, key) -> state`; the state is a pytree holding variables,
      optimiser state and whatever the learner needs (data order, env state).
    step: `(state, data) -> (state, loss)`: one optimiser update at the
      recipe's batch size. `loss` is a scalar used to detect divergence.
    variables: `(state) -> variables`.
    reattach: `(state) -> state` for a state restored from a checkpoint in
      another process: points it at this process's host resources (an
      envpool pool's handle). None: the state holds arrays only.
  """

  init: Callable[[Variables, jax.Array], Any]
  step: Callable[[Any, Any], tuple[Any, jax.Array]]
  variables: Callable[[Any], Variables]
  reattach: Callable[[Any], Any] | None = None


class StreamedData(Protocol):
  """The `data` of a streamed task: batches produced on the host.

  A batch is a pytree of numpy arrays that the task's learner (training) or
  evaluation (evaluation) understands, e.g. `(images, labels)`.
  """

  def train_batches(self, key: jax.Array) -> Iterator[Any]:
    """The training batches of one run, one per update, without end; the
    shuffle and augmentation are fixed by `key`."""

  def eval_batches(self) -> Iterator[Any]:
    """One pass over the evaluation set, in a fixed order."""


@dataclasses.dataclass(frozen=True)
class Recipe:
  """How an original is trained, and what a completion run may spend.

  Attributes:
    optimizer: `learning_rate -> GradientTransformation` (the rate may be a
      schedule). Weight decay and clipping belong here.
    schedule: the recipe's learning-rate schedule, `step -> rate`.
    peak_learning_rate: the schedule's peak; fine-tuning (T3/T4) defaults to
      a fraction of it (PROTOCOL.md: not the final value of a cosine).
    batch_size: examples per update.
    num_updates: the full budget, i.e. the cost of training from scratch.
    eval_updates: increasing update counts at which performance is measured,
      starting at 0 and ending at `num_updates`; dense near the start.
    cost_unit: what one unit of cost is ("updates" or "frames").
    cost_per_update: cost units per optimiser update (1 for supervised tasks).
    finetune_learning_rate: the task's own T3/T4 rate, if it declares one.
  """

  optimizer: Callable[[optax.ScalarOrSchedule], optax.GradientTransformation]
  schedule: optax.Schedule
  peak_learning_rate: float
  batch_size: int
  num_updates: int
  eval_updates: tuple[int, ...]
  cost_unit: str = "updates"
  cost_per_update: int = 1
  finetune_learning_rate: float | None = None

  def __post_init__(self):
    e = self.eval_updates
    if e[0] != 0 or e[-1] != self.num_updates or any(
        b <= a for a, b in zip(e, e[1:])):
      raise ValueError(
          "eval_updates must increase strictly from 0 to num_updates="
          f"{self.num_updates}, got {e}")


@dataclasses.dataclass(frozen=True)
class Task:
  """A named learning problem with one fixed recipe. See the module doc."""

  name: str
  init: Callable[[jax.Array], Variables]
  recipe: Recipe
  make_learner: Callable[[optax.GradientTransformation, Mask], Learner]
  evaluate: Callable[[Variables, Any, jax.Array], jax.Array]
  data: Any
  p0: float
  performance_name: str = "test accuracy"
  description: str = ""
  data_info: dict = dataclasses.field(default_factory=dict)
  # The settings the task was built with (its config), for provenance.
  config: dict = dataclasses.field(default_factory=dict)
  # Host-fed data (`StreamedData`) and a host-level `evaluate`; see the
  # module docstring.
  streamed: bool = False
  # Runs vmapped together when the user does not say (None: all of them).
  default_vmap_size: int | None = None
  # The trajectory-access warm start (module doc); None: no trajectories.
  warm_start: Callable[..., tuple[Variables, jax.Array]] | None = None
  # Whether runs may be spread over several devices; False where the
  # environments are one host object (an envpool pool) that every device
  # would step at once.
  shardable: bool = True
  # XLA options its compiled programs take, by backend (`jax.default_backend()`
  # names): like an implementation option, how it computes, not what; one
  # may set them (e.g. MinAtar's `conv=bands`).
  compiler_options: dict = dataclasses.field(default_factory=dict)
  # The splits that play a role pooled across tasks (the benchmark's
  # `splitter.ROLES`), where its layer order does not say: role ->
  # {"withhold": patterns, "keep": patterns}.
  roles: dict = dataclasses.field(default_factory=dict)
  # Completion seeds per cell of a sweep by default: 10 where a run costs
  # seconds, else 5 (the protocol's least for published sweeps).
  default_seeds: int = 5
  # `P -> standard error` of one evaluation at performance P: supervised
  # tasks' binomial error over their evaluation set. None: measured from
  # repeated evaluations of the originals with independent keys (RL
  # returns over their evaluation episodes), by `keyed_evaluate`.
  evaluation_error: Callable[[float], float] | None = None
  # `evaluate` with its randomness (episodes, sampled actions) drawn from
  # `key`, for tasks whose `evaluate` fixes one key for every evaluation
  # (common random numbers); None: `evaluate` already uses its key.
  keyed_evaluate: Callable[[Variables, Any, jax.Array], jax.Array] | None = None


# `Task.compiler_options` for matrix products by cuBLAS rather than fused
# into Triton kernels by XLA:GPU: vmapped runs' batched products ran faster
# so (BUILD_NOTES, "Matrix products by cuBLAS for the Fashion-MNIST MLP").
CUBLAS_GEMMS = {"gpu": {"xla_gpu_enable_triton_gemm": False}}


class InputError(Exception):
  """Bad input from the user: an unknown name, a malformed file, missing data.

  Command-line entry points print its message as one line and exit non-zero;
  anything else escaping them is a bug and keeps its traceback.
  """
