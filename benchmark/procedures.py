"""Retraining procedures T1-T4 as optax transformations over traced masks.

A procedure is a small record of *values* (`ProcedureSettings`): which
parameters train and which schedule is used. Because they are values, not
Python branches, one compiled completion program serves every procedure and
every split of an architecture (DESIGN.md: "a mask is data, not structure").

| id | what trains               | schedule                              |
| -- | ------------------------- | ------------------------------------- |
| T1 | only withheld parameters  | the recipe's schedule from step 0     |
| T2 | all parameters            | the recipe's schedule from step 0     |
| T3 | only withheld parameters  | constant fine-tuning rate             |
| T4 | all parameters            | constant fine-tuning rate             |

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

from tasks import spec

# id -> (train_only_withheld, finetune)
PROCEDURES = {
    "T1": (True, False),
    "T2": (False, False),
    "T3": (True, True),
    "T4": (False, True),
}
REINIT_MODES = ("init", "zeros")
DEFAULT_FINETUNE_FRACTION = 0.1


class ProcedureSettings(NamedTuple):
  """Procedure hyper-parameters as arrays (so they can be traced or batched).

  Attributes:
    train_only_withheld: True for T1/T3, False for T2/T4.
    finetune: True for T3/T4 (constant rate), False for T1/T2 (recipe's
      schedule).
    finetune_learning_rate: the constant rate used when `finetune`.
    reinit_zeros: re-initialise withheld parameters to zeros instead of
      with the model's initialisers.
  """

  train_only_withheld: Any
  finetune: Any
  finetune_learning_rate: Any
  reinit_zeros: Any


def finetune_learning_rate(recipe: spec.Recipe,
                           fraction: float | None = None) -> float:
  """The T3/T4 rate: the task's own, else `fraction` of the recipe's peak.

  An explicit `fraction` overrides the task's declared rate.
  """
  if fraction is None:
    if recipe.finetune_learning_rate is not None:
      return recipe.finetune_learning_rate
    fraction = DEFAULT_FINETUNE_FRACTION
  return fraction * recipe.peak_learning_rate


def settings(name: str, recipe: spec.Recipe, *,
             finetune_fraction: float | None = None,
             reinit: str = "init") -> ProcedureSettings:
  """The settings of procedure `name` ("T1".."T4") for a recipe.

  Raises:
    spec.InputError: unknown procedure or re-initialisation mode.
  """
  if name not in PROCEDURES:
    raise spec.InputError(f"unknown procedure {name!r}; procedures: "
                          f"{', '.join(PROCEDURES)}")
  if reinit not in REINIT_MODES:
    raise spec.InputError(f"unknown re-initialisation {reinit!r}; choose "
                          f"from {', '.join(REINIT_MODES)}")
  only_withheld, finetune = PROCEDURES[name]
  return ProcedureSettings(
      train_only_withheld=jnp.asarray(only_withheld),
      finetune=jnp.asarray(finetune),
      finetune_learning_rate=jnp.asarray(
          finetune_learning_rate(recipe, finetune_fraction), jnp.float32),
      reinit_zeros=jnp.asarray(reinit == "zeros"))


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
  """What may change: the withheld part (T1/T3) or everything (T2/T4)."""
  return jax.tree.map(
      lambda m: jnp.logical_or(m, jnp.logical_not(
          procedure.train_only_withheld)), withheld)


def learning_rate(recipe: spec.Recipe,
                  procedure: ProcedureSettings) -> optax.Schedule:
  """The recipe's schedule, or the constant fine-tuning rate (T3/T4)."""

  def schedule(count):
    return jnp.where(procedure.finetune, procedure.finetune_learning_rate,
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
