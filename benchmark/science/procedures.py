"""Retraining procedures T1-T4 as optax transformations over traced masks.

A procedure is a small record of *values* (`ProcedureSettings`): which
parameters train and which schedule is used. Because they are values, not
Python branches, one compiled completion program serves every procedure and
every split of an architecture (PROTOCOL.md: a mask is data, not structure).

| id | what trains               | schedule                              |
| -- | ------------------------- | ------------------------------------- |
| T1 | only withheld parameters  | the recipe's schedule from step 0     |
| T2 | all parameters            | the recipe's schedule from step 0     |
| T3 | only withheld parameters  | fine-tuning: the best of a small grid |
| T4 | all parameters            | fine-tuning: the best of a small grid |

The fine-tuning grid (`schedule_grid`, PROTOCOL.md "The fine-tuning grid"): peak
rate in {the task's fine-tuning rate, the recipe's peak} x {constant, linear
decay to zero over half the budget}. Each completion seed runs every
schedule of the grid from the same starting point and data order, and
`t_T(alpha)` is the first cost at which any of them reaches alpha: an oracle
choice of schedule, so a lower bound on a real adversary's cost.

Batch-norm running statistics (every collection other than `params`) are
estimates from data, not learned weights: under every procedure they follow
the completion run's training forward passes (`trainable_mask`), withheld or
not.

Freezing is arithmetic rather than `optax.masked` (which needs a static
mask): gradients of frozen parameters are zeroed going into the optimiser, so
its moments stay clean, and updates coming out are zeroed, so that weight
decay or any other additive term cannot move them either.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from contract import spec

# id -> (train_only_withheld, finetune)
PROCEDURES = {
    "T1": (True, False),
    "T2": (False, False),
    "T3": (True, True),
    "T4": (False, True),
}
REINIT_MODES = ("init", "zeros")
DEFAULT_FINETUNE_FRACTION = 0.1
# The decaying schedules of the grid reach zero after this share of the
# completion budget.
DECAY_SHARE = 0.5
RECIPE_SCHEDULE = "recipe"


class ProcedureSettings(NamedTuple):
  """Procedure hyper-parameters as arrays (so they can be traced or batched).

  Attributes:
    train_only_withheld: True for T1/T3, False for T2/T4.
    finetune: True for T3/T4 (a fine-tuning schedule), False for T1/T2
      (the recipe's schedule).
    finetune_learning_rate: the fine-tuning schedule's peak rate.
    decay_updates: updates over which the fine-tuning rate decays linearly
      to zero; 0 keeps it constant.
    reinit_zeros: re-initialise withheld parameters to zeros instead of
      with the model's initialisers.
  """

  train_only_withheld: Any
  finetune: Any
  finetune_learning_rate: Any
  decay_updates: Any
  reinit_zeros: Any


class Schedule(NamedTuple):
  """One schedule of a procedure's grid: a label and its settings."""

  label: str
  settings: ProcedureSettings

  def to_json(self) -> dict[str, Any]:
    """What a record says of the schedule."""
    finetune = bool(self.settings.finetune)
    return {"label": self.label,
            "peak_learning_rate": (float(self.settings.finetune_learning_rate)
                                   if finetune else None),
            "decay_updates": (int(self.settings.decay_updates)
                              if finetune else None)}


def finetune_learning_rate(recipe: spec.Recipe,
                           fraction: float | None = None) -> float:
  """The T3/T4 rate: the task's own, else `fraction` of the recipe's peak.

  An explicit `fraction` overrides the task's declared rate.

  Raises:
    spec.InputError: a fraction outside (0, 1]: above the recipe's peak the
      grid would measure how slow the recipe is, not what the kept
      parameters are worth (PROTOCOL.md).
  """
  if fraction is not None and not 0.0 < fraction <= 1.0:
    raise spec.InputError(
        f"fine-tuning fraction must be in (0, 1] (the fine-tuning peak never "
        f"exceeds the recipe's), got {fraction}")
  if fraction is None:
    if recipe.finetune_learning_rate is not None:
      return recipe.finetune_learning_rate
    fraction = DEFAULT_FINETUNE_FRACTION
  return fraction * recipe.peak_learning_rate


def settings(name: str, recipe: spec.Recipe, *,
             finetune_fraction: float | None = None,
             reinit: str = "init",
             finetune_peak: float | None = None,
             decay_updates: int = 0) -> ProcedureSettings:
  """The settings of procedure `name` ("T1".."T4") for a recipe.

  T3/T4 fine-tune at `finetune_peak` (default: `finetune_learning_rate`),
  constant or decaying to zero over `decay_updates`; `schedule_grid` gives
  the grid a sweep runs.

  Raises:
    spec.InputError: unknown procedure or re-initialisation mode.
  """
  if name not in PROCEDURES:
    raise spec.InputError(f"unknown procedure {name!r}; procedures: "
                          f"{', '.join(PROCEDURES)}")
  if reinit not in REINIT_MODES:
    raise spec.InputError(f"unknown re-initialisation {reinit!r}; choose "
                          f"from {', '.join(REINIT_MODES)}")
  if decay_updates < 0:
    raise spec.InputError(f"decay length must be 0 (constant) or more, got "
                          f"{decay_updates}")
  only_withheld, finetune = PROCEDURES[name]
  if finetune_peak is None:
    finetune_peak = finetune_learning_rate(recipe, finetune_fraction)
  return ProcedureSettings(
      train_only_withheld=jnp.asarray(only_withheld),
      finetune=jnp.asarray(finetune),
      finetune_learning_rate=jnp.asarray(finetune_peak, jnp.float32),
      decay_updates=jnp.asarray(decay_updates if finetune else 0, jnp.int32),
      reinit_zeros=jnp.asarray(reinit == "zeros"))


def schedule_grid(name: str, recipe: spec.Recipe, budget_updates: int, *,
                  finetune_fraction: float | None = None,
                  reinit: str = "init") -> tuple[Schedule, ...]:
  """The schedules a completion seed of procedure `name` runs.

  T1/T2: the recipe's schedule alone. T3/T4: peak in {the fine-tuning rate,
  the recipe's peak} x {constant, linear decay to zero over `DECAY_SHARE`
  of the budget} (PROTOCOL.md, "The fine-tuning grid"); a fine-tuning rate equal
  to the recipe's peak leaves two. Linear decay to zero is the budget-aware
  default of the budgeted-training literature (Li, Yumer, Ramanan, ICLR
  2020); the constant schedules keep what a decay would spend on annealing.

  Raises:
    spec.InputError: see `settings` and `finetune_learning_rate`.
  """
  if not PROCEDURES.get(name, (None, False))[1]:
    return (Schedule(RECIPE_SCHEDULE, settings(
        name, recipe, finetune_fraction=finetune_fraction, reinit=reinit)),)
  decay = max(1, int(round(DECAY_SHARE * budget_updates)))
  low = finetune_learning_rate(recipe, finetune_fraction)
  peaks = [("ft", low)] + ([("peak", recipe.peak_learning_rate)]
                           if recipe.peak_learning_rate != low else [])
  return tuple(
      Schedule(f"{which}-{shape}", settings(
          name, recipe, reinit=reinit, finetune_peak=peak,
          decay_updates=length))
      for which, peak in peaks
      for shape, length in (("constant", 0), ("linear", decay)))


def zero_where_frozen(trainable: Any) -> optax.GradientTransformation:
  """Sets updates to zero wherever `trainable` is False.

  Unlike `optax.masked`, the mask may be a traced array, so it can differ
  between runs batched with `jax.vmap`.

  Args:
    trainable: boolean arrays broadcastable to the updates' leaves.
  """

  def init_fn(params):
    del params
    return optax.EmptyState()

  def update_fn(updates, state, params=None):
    del params
    updates = jax.tree.map(lambda u, t: jnp.where(t, u, jnp.zeros_like(u)),
                           updates, trainable)
    return updates, state

  return optax.GradientTransformation(init_fn, update_fn)


def trainable_mask(withheld: spec.Mask,
                   procedure: ProcedureSettings) -> spec.Mask:
  """What may change: the withheld parameters (T1/T3) or every parameter
  (T2/T4), and under every procedure the other collections (batch-norm
  running statistics: estimates that the adversary, holding the data,
  updates for free; frozen, they no longer describe a model whose kernels
  were re-initialised)."""
  return {
      collection: jax.tree.map(
          lambda m: jnp.logical_or(m, jnp.logical_not(
              procedure.train_only_withheld)), mask)
      if collection == "params" else
      jax.tree.map(lambda m: jnp.ones_like(m, bool), mask)
      for collection, mask in withheld.items()}


def learning_rate(recipe: spec.Recipe,
                  procedure: ProcedureSettings) -> optax.Schedule:
  """The recipe's schedule, or the fine-tuning schedule (T3/T4): the peak,
  constant or decaying linearly to zero over `decay_updates`."""

  def schedule(count):
    length = jnp.maximum(procedure.decay_updates, 1)
    decay = jnp.where(procedure.decay_updates > 0,
                      jnp.clip(1.0 - count / length, 0.0, 1.0), 1.0)
    return jnp.where(procedure.finetune,
                     procedure.finetune_learning_rate * decay,
                     recipe.schedule(count))

  return schedule


def optimizer(recipe: spec.Recipe, procedure: ProcedureSettings,
              trainable_params: Any) -> optax.GradientTransformation:
  """The adversary's optimiser: the recipe's, restricted to what trains.

  Args:
    recipe: the task's recipe.
    procedure: the procedure's settings.
    trainable_params: boolean arrays with the structure of `params`.

  Returns:
    `chain(zero frozen gradients, recipe optimiser, zero frozen updates)`.
  """
  return optax.chain(
      zero_where_frozen(trainable_params),
      recipe.optimizer(learning_rate(recipe, procedure)),
      zero_where_frozen(trainable_params),
  )
