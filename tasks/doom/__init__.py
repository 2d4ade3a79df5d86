"""`doom-mywayhome/impala`: ViZDoom's "My Way Home" through envpool, a 3D
first-person navigation task learned by IMPALA.

The offline stand-in for DeepMind Lab's navigation levels (which need a
download and a build this project cannot do): the agent sees 84x84 RGB
frames (4 stacked, 12 channels) of a maze of rooms, spawns in a random room
and is rewarded for reaching the vest (envpool reports 0.5 there and 0 on
every other step: the scenario's living penalty does not reach its reward);
an episode ends at the vest or after 525 agent steps (2,100 tics). Actions are
envpool's 18 combined button presses (turn, move, ...). Frame skip 4.

Recipe: the Atari recipe's IMPALA settings (`tasks/atari`) with 128
environments, so that each of the 4 minibatches holds 32 unrolls as in the
IMPALA paper and the per-step cost of the host callback is shared by twice
the frames, for 20 million frames (5 million agent steps): the reward is
sparse (a random policy finds the vest in about 5% of episodes, and
restricting it to turning and moving forward does not raise that) and 7.7
million frames taught nothing (BUILD_NOTES). The game renders at 160x120
instead of the scenario's 320x240 (then resized to 84x84 like before): it
steps 1.5 times faster, and the CPU's stepping bounds the task's speed.
Switch `smoke` shrinks it for tests.
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
      env_id="MyWayHome-v1", num_envs=128, total_frames=20_000_000,
      train_env=options,
      eval_env=options,
      scenario={"screen_resolution": "RES_160X120"})
  if "smoke" in switches:
    envpool_envs.smoke(config)
  return config


def build(model: str, config: ml_collections.ConfigDict,
          data_dir: str | None, train_fraction: float) -> spec.Task:
  del data_dir  # The game is the data; its files come with envpool's assets.
  return envpool_envs.build(f"doom-mywayhome/{model}", config,
                            train_fraction)
