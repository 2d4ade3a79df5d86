"""Looks tasks up by name, importing a family only when it is asked for.

A task name is `family/model`, optionally followed by `:arg` where `arg` is a
comma-separated list of config switches and `key=value` overrides passed to
the family's `get_config` (big_vision's `file.py:arg` convention), e.g.
`fashion_mnist/cnn:smoke` or `digits/mlp:num_updates=200`. A changed config
is a different recipe, so the full string is the task's name in every record.

Each family is a package under `tasks/` that exposes
`MODELS: tuple[str, ...]`, `get_config(model, switches) -> ConfigDict` and
`build(model, config, data_dir, train_fraction) -> Task`. A family may also
declare `IMPLEMENTATION_OPTIONS: dict[str, tuple[str, ...]]`: how it
computes, not what (cifar10's `conv_kernel_grad`). Those change speed and
rounding, like the vmap size, but neither the config nor the name, so a
task's originals and records stay its own; `build` then takes them as
`implementation=`, and the entry points' `--implementation` flag records
them in provenance. Several families
may share a package with different presets (the MinAtar games): a preset
sets config keys that the task name then fixes, so they cannot be overridden.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
from typing import Any, Mapping

from contract import spec

# family -> package, or (package, preset config values).
FAMILIES = {
    "cifar10": "tasks.cifar10",
    "imagenet": "tasks.imagenet",
    "digits": "tasks.digits",
    "fashion_mnist": "tasks.fashion_mnist",
    "cartpole": "tasks.cartpole",
    "minatar-breakout": ("tasks.minatar", {"env_name": "Breakout-MinAtar"}),
    "minatar-asterix": ("tasks.minatar", {"env_name": "Asterix-MinAtar"}),
    "minatar-spaceinvaders": ("tasks.minatar",
                              {"env_name": "SpaceInvaders-MinAtar"}),
    "atari-pong": ("tasks.atari", {"env_id": "Pong-v5"}),
    "atari-breakout": ("tasks.atari", {"env_id": "Breakout-v5"}),
    "doom-mywayhome": ("tasks.doom", {}),
}


def _family_entry(family: str) -> tuple[str, dict[str, Any]]:
  entry = FAMILIES[family]
  return (entry, {}) if isinstance(entry, str) else entry


def _family_module(family: str):
  if family not in FAMILIES:
    raise spec.InputError(
        f"unknown task family {family!r}; known tasks: "
        f"{', '.join(task_names())}")
  return importlib.import_module(_family_entry(family)[0])


def task_names() -> list[str]:
  """Every registered `family/model`."""
  return [f"{family}/{model}" for family in FAMILIES
          for model in importlib.import_module(_family_entry(family)[0]).MODELS]


def _parse_value(text: str) -> Any:
  """A Python literal if `text` is one (`3`, `1e-3`, `True`), else a string."""
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def get_config(name: str):
  """Returns `(family, model, config)` for a task name with its `:arg`."""
  base, _, arg = name.partition(":")
  family, _, model = base.partition("/")
  module = _family_module(family)
  if model not in module.MODELS:
    raise spec.InputError(
        f"unknown task {base!r}; known tasks: {', '.join(task_names())}")
  items = [item for item in arg.split(",") if item]
  switches = [item for item in items if "=" not in item]
  config = module.get_config(model, switches)
  presets = _family_entry(family)[1]
  config.update(presets)
  for item in items:
    if "=" not in item:
      continue
    key, _, text = item.partition("=")
    if key in presets:
      raise spec.InputError(
          f"{key!r} is fixed by the task name {base!r}; choose another task")
    if key not in config:
      raise spec.InputError(
          f"task {base!r} has no config key {key!r}; keys: "
          f"{', '.join(sorted(config.keys()))}")
    try:
      config[key] = _parse_value(text)  # ConfigDict checks the type.
    except (TypeError, ValueError) as e:
      raise spec.InputError(f"bad value for {key!r} in {name!r}: {e}") from e
  return family, model, config


def implementation_options(name: str) -> dict[str, tuple[str, ...]]:
  """The implementation options of task `name`'s family, with their
  values (module docstring)."""
  family = name.partition(":")[0].partition("/")[0]
  return dict(getattr(_family_module(family), "IMPLEMENTATION_OPTIONS", {}))


def get_task(name: str, *, data_dir: str | None = None,
             train_fraction: float = 1.0,
             implementation: Mapping[str, str] | None = None) -> spec.Task:
  """Builds the task called `name`.

  Args:
    name: `family/model[:arg]`, see the module docstring.
    data_dir: where the family's data files are, if not the default place.
    train_fraction: the share of the training set the learner may use (the
      adversary's data budget); originals always use 1.0.
    implementation: options of how the family computes, not what (module
      docstring); none: its defaults.

  Raises:
    spec.InputError: unknown name, config key or implementation option, or
      missing data.
  """
  family, model, config = get_config(name)
  module = _family_module(family)
  if not implementation:
    task = module.build(model, config, data_dir, train_fraction)
    return dataclasses.replace(task, name=name, config=config.to_dict())
  known = implementation_options(name)
  for key, value in implementation.items():
    if key not in known:
      raise spec.InputError(
          f"task {name!r} has no implementation option {key!r}; known: "
          f"{', '.join(sorted(known)) or 'none'}")
    if value not in known[key]:
      raise spec.InputError(
          f"implementation option {key!r} of {name!r} is one of "
          f"{', '.join(known[key])}, got {value!r}")
  task = module.build(model, config, data_dir, train_fraction,
                      implementation=dict(implementation))
  return dataclasses.replace(task, name=name, config=config.to_dict())
