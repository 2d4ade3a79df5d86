"""`atari-pong/impala`, `atari-breakout/impala`: real ALE games through
envpool, learned by IMPALA (V-trace) with the deep residual torso.

Standard Atari preprocessing, envpool's defaults for `*-v5`: 30 random
no-ops at reset, frame skip 4 with max-pooling of the last two frames,
84x84 grayscale, 4 stacked frames, minimal action set, no sticky actions,
27,000 agent steps (108,000 frames) per episode at most. Training episodes
end at a lost life and rewards are clipped to their sign (DQN's
conventions); evaluation plays whole games with raw scores, the first game
of each environment of a new pool every time (`eval_pool="fresh"`, since
2026-12-02: on one continuing pool the same policy scored up to 6.4 points
apart, which broke the value-head calibration at alpha 0.99).

Recipe (cleanba's IMPALA settings): 64 environments x 20-step unrolls, 4
minibatches of 16 environments, Adam 6e-4 annealed linearly, global-norm
clipping at 40, entropy 0.01, baseline 0.5. The budget is 5 million frames,
less than the usual 10-50 million, so that an original fits one GPU call
(BUILD_NOTES). Switch `smoke` shrinks it for tests.
"""

from __future__ import annotations

import ml_collections

from contract import spec
from tasks import envpool_envs, recipes

MODELS = ("impala",)
GAMES = {"Pong-v5": "atari-pong", "Breakout-v5": "atari-breakout"}


def get_config(model: str, switches: list[str]) -> ml_collections.ConfigDict:
  del model  # Only "impala".
  recipes.check_switches("atari-*/impala", switches)
  config = envpool_envs.impala_config(
      total_frames=5_000_000,
      eval_pool="fresh",
      train_env={"episodic_life": True, "reward_clip": True},
      eval_env={"episodic_life": False, "reward_clip": False})
  if "smoke" in switches:
    envpool_envs.smoke(config)
  return config


def build(model: str, config: ml_collections.ConfigDict,
          data_dir: str | None, train_fraction: float) -> spec.Task:
  del data_dir  # The emulator is the data; ROMs come with envpool's assets.
  if config.env_id not in GAMES:
    raise spec.InputError(f"unknown Atari game {config.env_id!r}")
  return envpool_envs.build(f"{GAMES[config.env_id]}/{model}", config,
                            train_fraction)
