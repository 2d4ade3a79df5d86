"""Tasks on gymnax environments (CartPole, MinAtar) learned by PPO.

Everything runs on the device: the environments are JAX functions, so a
completion run (collecting frames, PPO updates, evaluation episodes) is one
compiled program, like the supervised tasks.

Cost is counted in environment frames: one learner update collects
`num_envs x num_steps` frames (`Recipe.cost_per_update`). Performance is the
mean undiscounted return of `eval_episodes` episodes of the agent's
stochastic policy, played with one fixed key for every evaluation of every
run (common random numbers, so curves differ only by the agents). `P_0` is
the same measurement for the uniformly random policy.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import ml_collections
import optax

from agents import policies
from contract import spec
from tasks import actor_critic, recipes, resnet_layers


def ppo_config(**values) -> ml_collections.ConfigDict:
  """PPO settings shared by the gymnax tasks; `values` override them."""
  config = ml_collections.ConfigDict()
  config.env_name = ""
  config.framework = "flax"
  config.torso = "mlp"
  config.hidden = (64, 64)
  config.shared_torso = True
  config.num_envs = 4
  config.num_steps = 128
  config.total_frames = 500_000
  config.update_epochs = 4
  config.num_minibatches = 4
  config.learning_rate = 2.5e-4
  config.max_grad_norm = 0.5
  config.gamma = 0.99
  config.gae_lambda = 0.95
  config.clip_epsilon = 0.2
  config.entropy_coefficient = 0.01
  config.value_coefficient = 0.5
  config.eval_episodes = 32
  config.eval_seed = 0
  config.eval_geometric = 12
  config.eval_linear = 20
  config.update(values)
  return config


# What `smoke` variants evaluate: few points, few episodes.
SMOKE_EVALUATION = {"eval_episodes": 4, "eval_geometric": 3, "eval_linear": 3}
# The trajectory-access adversary's behaviour cloning: Adam at the recipe's
# peak rate for this many minibatches of this many steps. Not part of the
# task's config: it is the adversary's, and changes no original.
CLONING_UPDATES = 1000
CLONING_BATCH_SIZE = 256


def _import_rl():
  try:
    import gymnax  # pylint: disable=g-import-not-at-top
    from agents import behaviour_cloning  # pylint: disable=g-import-not-at-top
    from agents import ppo  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise spec.InputError(
        f"the gymnax tasks need the rl extra ({e.name} is missing): "
        "pip install -e '.[rl]'") from e
  return gymnax, ppo, behaviour_cloning


def adam_linear_decay(max_grad_norm: float):
  """The recipe's optimiser: global-norm clipping then Adam (eps 1e-5)."""
  return lambda rate: optax.chain(optax.clip_by_global_norm(max_grad_norm),
                                  optax.adam(rate, eps=1e-5))


def linear_decay(peak: float, num_updates: int,
                 steps_per_update: int) -> optax.Schedule:
  """purejaxrl's annealing: constant within a learner update, falling
  linearly from `peak` to 0 over the `num_updates` updates (the schedule
  counts optimiser steps, `steps_per_update` of them per update)."""

  def schedule(count):
    return peak * (1.0 - (count // steps_per_update) / num_updates)

  return schedule


# The `conv` implementation option of the MinAtar torso: XLA's convolution
# (its kernel gradient as `conv_kernel_grad` says) or matrix products of
# bands of rows with their dense operator (`resnet_layers.RowBandConv`).
CONVS = ("xla", "bands")


def build(name: str, config: ml_collections.ConfigDict,
          train_fraction: float, conv_kernel_grad: str = "xla",
          conv: str = "xla") -> spec.Task:
  """The PPO task on `config.env_name`; `conv_kernel_grad` is how the
  MinAtar torso's kernel gradient is computed
  (`resnet_layers.KERNEL_GRAD_CONVS`), `conv` the convolution (`CONVS`).

  Raises:
    spec.InputError: unknown environment, framework or torso, sizes that do
      not fit, a data budget (RL has no data set to cut), or the rl extra
      missing.
  """
  gymnax, ppo, cloning = _import_rl()
  if train_fraction != 1.0:
    raise spec.InputError(
        f"{name}: an RL adversary has no data set to cut "
        f"(train_fraction={train_fraction}); its data is the environment")
  if config.env_name not in gymnax.registered_envs:
    raise spec.InputError(f"{name}: unknown gymnax environment "
                          f"{config.env_name!r}")
  if config.framework not in actor_critic.FRAMEWORKS:
    raise spec.InputError(f"{name}: framework must be one of "
                          f"{', '.join(actor_critic.FRAMEWORKS)}")
  if config.torso not in actor_critic.TORSOS or (
      config.framework == "haiku" and config.torso != "mlp"):
    raise spec.InputError(f"{name}: torso must be one of "
                          f"{', '.join(actor_critic.TORSOS)} (haiku: mlp)")
  hp = ppo.Hyperparameters(
      num_envs=config.num_envs, num_steps=config.num_steps,
      update_epochs=config.update_epochs,
      num_minibatches=config.num_minibatches, gamma=config.gamma,
      gae_lambda=config.gae_lambda, clip_epsilon=config.clip_epsilon,
      entropy_coefficient=config.entropy_coefficient,
      value_coefficient=config.value_coefficient)
  ppo.check_hyperparameters(hp)
  num_updates = config.total_frames // hp.frames_per_update
  if num_updates < 1:
    raise spec.InputError(f"{name}: total_frames {config.total_frames} is "
                          f"less than one update ({hp.frames_per_update})")

  env, env_params = gymnax.make(config.env_name)
  num_actions = env.action_space(env_params).n
  observation_shape = env.observation_space(env_params).shape
  options = {"conv_kernel_grad": conv_kernel_grad, "conv": conv}
  chosen = [f"{key}={value}" for key, value in options.items()
            if value != "xla"]
  if chosen and (config.framework, config.torso) != ("flax", "minatar"):
    raise spec.InputError(f"{name}: {chosen[0]} applies to the flax "
                          "MinAtar torso only")
  if len(chosen) > 1:
    raise spec.InputError(f"{name}: {' and '.join(chosen)} together: a "
                          "convolution in bands has its own kernel gradient")
  network_options, compiler_options = {}, {}
  if conv == "bands":
    # With Triton's products a sweep ran at 0.92 of this speed (BUILD_NOTES,
    # 2026-12-03, second session).
    compiler_options = spec.CUBLAS_GEMMS
    network_options.update(conv=resnet_layers.RowBandConv,
                           conv_features_once=True)
  elif conv_kernel_grad != "xla":
    network_options["conv"] = functools.partial(
        nn.Conv, conv_general_dilated=resnet_layers.KERNEL_GRAD_CONVS[
            conv_kernel_grad])
  init, apply = actor_critic.FRAMEWORKS[config.framework](
      num_actions, config.torso, tuple(config.hidden), config.shared_torso,
      observation_shape, **network_options)
  recipe = spec.Recipe(
      optimizer=adam_linear_decay(config.max_grad_norm),
      schedule=linear_decay(config.learning_rate, num_updates,
                            hp.optimizer_steps_per_update),
      peak_learning_rate=config.learning_rate, batch_size=hp.frames_per_update,
      num_updates=num_updates,
      eval_updates=recipes.eval_schedule(num_updates, config.eval_geometric,
                                         config.eval_linear),
      cost_unit="frames", cost_per_update=hp.frames_per_update)
  eval_key = jax.random.key(config.eval_seed)
  max_steps = int(env_params.max_steps_in_episode)

  def make_learner(tx, trainable):
    return ppo.make_learner(env, env_params, apply, hp, tx, trainable)

  def keyed_evaluate(variables, data, key):
    return ppo.mean_episode_return(env, data,
                                   policies.sampling_policy(apply, variables),
                                   key, config.eval_episodes, max_steps)

  def evaluate(variables, data, key):
    del key  # One fixed key for every evaluation (see the module doc).
    return keyed_evaluate(variables, data, eval_key)

  def warm_start(variables, demonstrator, trainable, key, data,
                 num_episodes):
    collect_key, clone_key = jax.random.split(key)
    demonstrations, frames = cloning.collect_demonstrations(
        lambda k, n: ppo.reset_envs(env, data, k, n),
        lambda k, s, a: ppo.step_envs(env, data, k, s, a),
        policies.sampling_policy(apply, demonstrator), collect_key, num_episodes,
        max_steps)
    cloned = cloning.behaviour_cloning(
        apply, variables, trainable, demonstrations, clone_key,
        CLONING_UPDATES, CLONING_BATCH_SIZE, config.learning_rate)
    return cloned, frames

  random_return = jax.jit(lambda params: ppo.mean_episode_return(
      env, params, policies.uniform_policy(num_actions), eval_key,
      config.eval_episodes, max_steps))(env_params)
  return spec.Task(
      roles=actor_critic.ROLES, keyed_evaluate=keyed_evaluate,
      name=name, init=init, recipe=recipe, make_learner=make_learner,
      evaluate=evaluate, data=env_params, p0=float(random_return),
      performance_name="mean episode return",
      # XLA:CPU (jax 0.10) deadlocked running seeds of PPO vmapped
      # together (BUILD_NOTES); in turn (`lax.map`) it runs. GPUs vmap.
      default_vmap_size=1 if jax.default_backend() == "cpu" else None,
      warm_start=warm_start, compiler_options=compiler_options,
      description=f"{config.env_name} (gymnax), PPO, {config.framework} "
                  f"{config.torso} actor-critic",
      data_info={"environment": f"gymnax {config.env_name}",
                 "gymnax_version": getattr(gymnax, "__version__", "unknown"),
                 "frames_per_update": hp.frames_per_update,
                 "observation_shape": list(observation_shape),
                 "num_actions": int(num_actions),
                 "trajectory_access": {
                     "behaviour_cloning_updates": CLONING_UPDATES,
                     "behaviour_cloning_batch_size": CLONING_BATCH_SIZE,
                     "behaviour_cloning_learning_rate": config.learning_rate,
                     "demonstrator_policy": "original agent, sampling"}})
