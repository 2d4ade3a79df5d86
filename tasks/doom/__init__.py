"""`doom-mywayhome/impala`: ViZDoom's "My Way Home" through envpool, a 3D
first-person navigation task learned by IMPALA.

The offline stand-in for DeepMind Lab's navigation levels (which need a
download and a build this project cannot do): the agent sees 84x84 RGB
frames (4 stacked, 12 channels) of a maze of rooms, spawns in a random room
and is rewarded for reaching the vest (envpool pays 0.5 there, its armour
reward, and 0 on every other step: the scenario's living penalty does not
reach its reward); an episode ends at the vest or after 525 agent steps
(2,100 tics). Frame skip 4.

Actions: 5 of envpool's 18 combined button presses (strafe x forward x
turn): turn right, turn left, forward, forward + turn right, forward + turn
left: forward and turning, as in the small action sets of published agents
on this map (Pathak et al. 2017's curiosity agent: 4). The random policy finds the vest as often with these 5 as with all 18
(6 of 128 episodes each), and with all 18 the agent's policy was still
uniform to 2e-5 nats after 11 million frames (BUILD_NOTES): every button
combination is its own logit to learn, and strafing does not help.

Recipe: the Atari recipe's IMPALA settings (`tasks/atari`) with 128
environments, so that each of the 4 minibatches holds 32 unrolls as in the
IMPALA paper and the per-step cost of the host callback is shared by twice
the frames, for 20 million frames (5 million agent steps). Evaluations play
64 episodes: with 16, the random policy's P0 (about 5%) was one vest. The
game renders at 160x120 instead of the scenario's 320x240 (then resized to
84x84 like before): it steps 1.5 times faster, and the CPU's stepping bounds
the task's speed. Switch `smoke` shrinks it for tests.
"""

from __future__ import annotations

import ml_collections

from tasks import envpool_envs, recipes, spec

MODELS = ("impala",)

# Indices into envpool's combined actions, ordered strafe (none, right,
# left) x forward (off, on) x turn (none, right, left): 6*strafe +
# 3*forward + turn.
NAVIGATION_ACTIONS = (1, 2, 3, 4, 5)


def get_config(model: str, switches: list[str]) -> ml_collections.ConfigDict:
  del model  # Only "impala".
  recipes.check_switches("doom-mywayhome/impala", switches)
  options = {"use_combined_action": True}
  config = envpool_envs.impala_config(
      env_id="MyWayHome-v1", num_envs=128, total_frames=20_000_000,
      actions=NAVIGATION_ACTIONS, eval_episodes=64,
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
