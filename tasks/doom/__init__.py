"""`doom-mywayhome/impala`: ViZDoom's "My Way Home" through envpool, a 3D
first-person navigation task learned by IMPALA.

The offline stand-in for DeepMind Lab's navigation levels (which need a
download and a build this project cannot do): the agent sees 84x84 RGB
frames (4 stacked, 12 channels) of a maze of rooms, spawns in a random room
and is rewarded for reaching the vest; an episode ends at the vest or after
525 agent steps (2,100 tics). Frame skip 4. The reward is 1 on the step that
ends an episode before its limit, which is the vest, and 0 elsewhere
(`reward_on_termination`), so performance is the share of evaluation
episodes that reach the vest. envpool's own reward (0.5, the vest's armour)
is lost whenever the pickup ends the episode within the same agent step: 33
of 43 vests reached by random play paid nothing (BUILD_NOTES 2026-12-02),
and every recipe before this one learned from those few that paid. (The
scenario's living penalty never reached envpool's reward either.)
Evaluations play fresh pools (`eval_pool="fresh"`): each one plays the
same 64 starts, and the same policy scores the same.

Actions: 5 of envpool's 18 combined button presses (strafe x forward x
turn): turn right, turn left, forward, forward + turn right, forward + turn
left, as in the small action sets of published agents on this map (Pathak
et al. 2017's curiosity agent has 4). The random policy finds the vest as
often with these 5 as with all 18 (6 of 128 episodes each, counting the
vests envpool paid).

Recipe: the Atari recipe's IMPALA settings (`tasks/atari`), Adam 6e-4
included, with 128 environments in 16 minibatches of 8 unrolls, for 10
million frames (2.5 million agent steps): at the measured 1.8e4 frames/s
of two seeds at once on one H200, a pair of originals takes about 730 s of
device time. Two changes against a torso that dies here (found while the
lost rewards left the agent almost nothing to learn from): until vests are
found, the value loss towards zero and the entropy bonus shrink the
torso's features until they no longer depend on the frame (BUILD_NOTES
2026-12-01). So the convolutions start from Flax's default (lecun_normal,
as in cleanba's IMPALA network) instead of orthogonal(sqrt 2), whose
values start at ~2.6 where the true ones are ~0.003, and the dense
layer's outputs are standardised before the ReLU (`layer_norm`, no
parameters), which keeps units active. The 16 minibatches make 4 times as
many optimiser steps from the same frames (V-trace corrects the lag of up
to 15 updates). Earlier recipes used Adam 1e-4 (Pathak et al.'s rate on
this map) to protect the torso; with every vest paid, two seeds of it
learned the critic (0.62 just before a vest, 0.03 on average) but kept a
uniform policy to 10M frames, while at 6e-4 the policy left uniform and
reached the vest in 34 of 64 evaluation episodes at 4.4M frames, its
torso alive (BUILD_NOTES 2026-12-02). Evaluations play 64 episodes: with
16, the random policy's P0 (12.5%) would be two vests. One envpool thread
per environment: ViZDoom's engines run as processes that the threads wait
on, and on the 2-core machine 32 environments stepped 1.5 times faster
with 32 threads than with 2. The game renders at 160x120 instead of the
scenario's 320x240 (then resized to 84x84 like before): it steps 1.5 times
faster, and the CPU's stepping bounds the task's speed.
Switch `smoke` shrinks it for tests.
"""

from __future__ import annotations

import ml_collections

from contract import spec
from tasks import envpool_envs, recipes

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
      env_id="MyWayHome-v1", num_envs=128, num_threads=128,
      num_minibatches=16, total_frames=10_000_000,
      conv_init="lecun_normal", layer_norm=True,
      actions=NAVIGATION_ACTIONS, eval_episodes=64,
      reward_on_termination=1.0, eval_pool="fresh",
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
