"""`minatar-breakout/ppo`, `minatar-asterix/ppo`, `minatar-spaceinvaders/ppo`:
MinAtar games (gymnax, on the device) learned by PPO.

One recipe for every game, as in purejaxrl's MinAtar runs: 128 environments
x 128 steps a learner update, 4 epochs of 8 minibatches, Adam 5e-4 annealed
linearly over 10 million frames, entropy bonus 0.05; the MinAtar paper's network (a 3x3
convolution of 16 channels, a dense layer of 128, ReLU). The game comes from
the task name (the registry's preset `env_name`). Switch `smoke` shrinks it
for tests.
"""

from __future__ import annotations

import ml_collections

from contract import spec
from tasks import gymnax_envs, recipes, resnet_layers

MODELS = ("ppo",)
# How the torso's convolution is computed (registry: implementation
# options): its kernel gradient, or the whole convolution as matrix products
# (`conv=bands`, the fastest for sweeps on an H200). Its one convolution (4
# to 10 channels on 10x10 frames) is a grouped convolution when runs are
# vmapped, the slow case of a sweep (BUILD_NOTES, 2026-12-02 and
# 2026-12-03).
IMPLEMENTATION_OPTIONS = {
    "conv_kernel_grad": tuple(resnet_layers.KERNEL_GRAD_CONVS),
    "conv": gymnax_envs.CONVS}
GAMES = {"Breakout-MinAtar": "minatar-breakout",
         "Asterix-MinAtar": "minatar-asterix",
         "SpaceInvaders-MinAtar": "minatar-spaceinvaders"}


def get_config(model: str, switches: list[str]) -> ml_collections.ConfigDict:
  del model  # Only "ppo".
  recipes.check_switches("minatar-*/ppo", switches)
  config = gymnax_envs.ppo_config(
      torso="minatar", hidden=(128,), num_envs=128, num_steps=128,
      total_frames=10_000_000, num_minibatches=8, learning_rate=5e-4,
      # 0.01 let the policy collapse near a return of 7 on Breakout
      # (BUILD_NOTES, "MinAtar: entropy bonus 0.05").
      entropy_coefficient=0.05, eval_episodes=64)
  if "smoke" in switches:
    config.hidden = (32,)
    config.num_envs = 8
    config.num_steps = 16
    config.num_minibatches = 2
    config.total_frames = 8 * 8 * 16
    config.update(gymnax_envs.SMOKE_EVALUATION)
  return config


def build(model: str, config: ml_collections.ConfigDict,
          data_dir: str | None, train_fraction: float,
          implementation: dict[str, str] | None = None) -> spec.Task:
  del data_dir  # The environment is the data.
  if config.env_name not in GAMES:
    raise spec.InputError(f"unknown MinAtar game {config.env_name!r}")
  return gymnax_envs.build(f"{GAMES[config.env_name]}/{model}", config,
                           train_fraction, **(implementation or {}))
