"""`doom-mywayhome/impala`: ViZDoom's "My Way Home" through envpool, a 3D
first-person navigation task learned by IMPALA.

The offline stand-in for DeepMind Lab's navigation levels (which need a
download and a build this project cannot do): the agent sees 84x84 RGB
frames (4 stacked, 12 channels) of a maze of rooms, spawns in a random room
and is rewarded +1 for reaching the vest, -0.0001 a tic otherwise; an
episode ends at the vest or after 525 agent steps (2,100 tics). Actions are
envpool's 18 combined button presses (turn, move, ...). Frame skip 4.

Recipe: the Atari recipe's IMPALA settings (`tasks/atari`) with 128
environments, so that each of the 4 minibatches holds 32 unrolls as in the
IMPALA paper and the per-step cost of the host callback is shared by twice
the frames, for 10 million frames (2.5 million agent steps): the reward is
sparse (a random policy finds the vest in about 3% of episodes) and 1
million frames taught nothing (BUILD_NOTES). Switch `smoke` shrinks it for
tests.
"""

from __future__ import annotations

import ml_collections

from tasks import envpool_envs, recipes, spec

MODELS = ("impala",)


def get_config(model: str, switches: list[str]) -> ml_collections.ConfigDict:
  del model  # Only "impala".
  recipes.check_switches("doom-mywayhome/impala", switches)
  options = {"use_combined_action": True}
  config = envpool_envs.impala_config(
      env_id="MyWayHome-v1", num_envs=128, total_frames=10_000_000,
      train_env=options,
      eval_env=options)
  if "smoke" in switches:
    envpool_envs.smoke(config)
  return config


def build(model: str, config: ml_collections.ConfigDict,
          data_dir: str | None, train_fraction: float) -> spec.Task:
  del data_dir  # The game is the data; its files come with envpool's assets.
  return envpool_envs.build(f"doom-mywayhome/{model}", config,
                            train_fraction)
