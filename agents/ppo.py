"""PPO (clipped surrogate, GAE) as pure functions over vectorised gymnax envs.

The purejaxrl pattern: one learner `step` collects `num_steps` transitions in
each of `num_envs` environments with `lax.scan`, computes generalised
advantages (rlax), then makes `update_epochs` passes of `num_minibatches`
optimiser updates with the clipped surrogate loss (rlax). Everything, the
environments included, is one jittable function, so a whole run of updates
is a `lax` loop on the device and can be vmapped or mapped over seeds.

The same step trains originals and completion runs (the engine's contract,
`contract/spec.py`): the optimiser is given, and parameters whose `trainable`
entry is False keep their values bit for bit.

A network is `apply(variables, observations) -> (logits, values)` for a batch
of observations, whatever framework built it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
import rlax

from agents import policies
from contract import spec

ActorCriticFn = policies.ActorCriticFn


class Hyperparameters(NamedTuple):
  """PPO's settings besides the optimiser (which the recipe owns)."""

  num_envs: int
  num_steps: int
  update_epochs: int
  num_minibatches: int
  gamma: float = 0.99
  gae_lambda: float = 0.95
  clip_epsilon: float = 0.2
  entropy_coefficient: float = 0.01
  value_coefficient: float = 0.5

  @property
  def frames_per_update(self) -> int:
    """Environment frames one learner step consumes."""
    return self.num_envs * self.num_steps

  @property
  def optimizer_steps_per_update(self) -> int:
    return self.update_epochs * self.num_minibatches


class Transition(NamedTuple):
  observation: jax.Array
  action: jax.Array
  log_prob: jax.Array
  value: jax.Array
  reward: jax.Array
  done: jax.Array


class LearnerState(NamedTuple):
  variables: spec.Variables
  opt_state: optax.OptState
  env_state: Any
  observation: jax.Array
  key: jax.Array


def check_hyperparameters(hp: Hyperparameters) -> None:
  """Raises `spec.InputError` unless the rollout splits into minibatches."""
  if min(hp.num_envs, hp.num_steps, hp.update_epochs,
         hp.num_minibatches) < 1:
    raise spec.InputError(f"PPO sizes must be positive, got {hp}")
  if hp.frames_per_update % hp.num_minibatches:
    raise spec.InputError(
        f"PPO: num_envs x num_steps = {hp.frames_per_update} does not split "
        f"into {hp.num_minibatches} minibatches")


def reset_envs(env, env_params, key: jax.Array, num: int):
  """`(observations, states)` of `num` freshly reset environments."""
  return jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num),
                                                env_params)


def step_envs(env, env_params, key: jax.Array, states, actions):
  """One step of every environment; gymnax resets finished ones itself.

  `done` is termination or truncation (time limit): the observation after
  either is already the next episode's, so neither can bootstrap.
  """
  keys = jax.random.split(key, actions.shape[0])
  observations, states, rewards, terminated, truncated, _ = jax.vmap(
      env.step, in_axes=(0, 0, 0, None))(keys, states, actions, env_params)
  return observations, states, rewards, terminated | truncated


def generalised_advantages(trajectory: Transition, last_value: jax.Array,
                           hp: Hyperparameters) -> jax.Array:
  """GAE over a `[time, env]` trajectory; a done step does not bootstrap
  (time limits count as terminal, as in purejaxrl; see `step_envs`)."""
  values = jnp.concatenate([trajectory.value, last_value[None]], axis=0)
  discounts = hp.gamma * (1.0 - trajectory.done.astype(jnp.float32))
  per_env = jax.vmap(rlax.truncated_generalized_advantage_estimation,
                     in_axes=(1, 1, None, 1), out_axes=1)
  return per_env(trajectory.reward, discounts, hp.gae_lambda, values)


def ppo_loss(apply: ActorCriticFn, hp: Hyperparameters,
             variables: spec.Variables, params: Any, batch):
  """Clipped surrogate + clipped value loss - entropy bonus, on a minibatch."""
  transition, advantages, targets = batch
  logits, values = apply({**variables, "params": params},
                         transition.observation)
  ratio = jnp.exp(policies.log_prob_of(logits, transition.action) - transition.log_prob)
  advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
  policy_loss = rlax.clipped_surrogate_pg_loss(ratio, advantages,
                                               hp.clip_epsilon)
  clipped = transition.value + jnp.clip(values - transition.value,
                                        -hp.clip_epsilon, hp.clip_epsilon)
  value_loss = 0.5 * jnp.maximum(jnp.square(values - targets),
                                 jnp.square(clipped - targets)).mean()
  return (policy_loss + hp.value_coefficient * value_loss
          - hp.entropy_coefficient * policies.mean_entropy(logits))


def make_learner(env, default_env_params, apply: ActorCriticFn,
                 hp: Hyperparameters, tx: optax.GradientTransformation,
                 trainable: spec.Mask) -> spec.Learner:
  """Builds the PPO learner for one optimiser and trainable mask.

  Args:
    env: a gymnax environment.
    default_env_params: its parameters, used to reset the environments in
      `init` (the same values the task passes to `step` as its data).
    apply: the actor-critic network, see `ActorCriticFn`.
    hp: PPO's settings.
    tx: the optimiser (a procedure wraps the recipe's optimiser); it makes
      `hp.optimizer_steps_per_update` steps per learner step.
    trainable: boolean arrays with the variables' structure; False entries
      keep their values bit for bit.

  Returns:
    A `spec.Learner` whose `step(state, env_params)` collects
    `hp.frames_per_update` frames and makes one PPO update on them.
  """
  check_hyperparameters(hp)

  def init(variables, key):
    key, reset_key = jax.random.split(key)
    observation, env_state = reset_envs(env, default_env_params, reset_key,
                                        hp.num_envs)
    return LearnerState(variables, tx.init(variables["params"]), env_state,
                        observation, key)

  def collect(state: LearnerState, env_params):
    def one_step(carry, _):
      env_state, observation, key = carry
      key, action_key, env_key = jax.random.split(key, 3)
      logits, value = apply(state.variables, observation)
      action = jax.random.categorical(action_key, logits)
      next_observation, env_state, reward, done = step_envs(
          env, env_params, env_key, env_state, action)
      transition = Transition(observation, action, policies.log_prob_of(logits, action),
                              value, reward, done)
      return (env_state, next_observation, key), transition

    return jax.lax.scan(one_step,
                        (state.env_state, state.observation, state.key),
                        length=hp.num_steps)

  def step(state: LearnerState, env_params):
    (env_state, observation, key), trajectory = collect(state, env_params)
    _, last_value = apply(state.variables, observation)
    advantages = generalised_advantages(trajectory, last_value, hp)
    targets = advantages + trajectory.value
    flat = jax.tree.map(lambda x: x.reshape((hp.frames_per_update,)
                                            + x.shape[2:]),
                        (trajectory, advantages, targets))
    loss_fn = jax.value_and_grad(
        lambda params, batch: ppo_loss(apply, hp, state.variables, params,
                                       batch))

    def minibatch_update(carry, batch):
      params, opt_state = carry
      loss, grads = loss_fn(params, batch)
      return policies.masked_update(tx, grads, opt_state, params,
                                    trainable["params"]), loss

    def epoch(carry, epoch_key):
      order = jax.random.permutation(epoch_key, hp.frames_per_update)
      minibatches = jax.tree.map(
          lambda x: x[order].reshape((hp.num_minibatches, -1) + x.shape[1:]),
          flat)
      return jax.lax.scan(minibatch_update, carry, minibatches)

    key, epochs_key = jax.random.split(key)
    (params, opt_state), losses = jax.lax.scan(
        epoch, (state.variables["params"], state.opt_state),
        jax.random.split(epochs_key, hp.update_epochs))
    variables = {**state.variables, "params": params}
    return LearnerState(variables, opt_state, env_state, observation,
                        key), losses.mean()

  return spec.Learner(init=init, step=step, variables=lambda s: s.variables)


def mean_episode_return(env, env_params, policy: policies.PolicyFn, key: jax.Array,
                        num_episodes: int, max_steps: int) -> jax.Array:
  """Mean undiscounted return of `num_episodes` episodes, all on the device.

  Episodes run side by side for `max_steps` steps (the environment's time
  limit, so every episode has ended); rewards after an episode's end are
  ignored. A fixed-length scan, so the cost of an evaluation does not depend
  on the agent, and runs vmapped together do not wait for each other.
  """
  key, reset_key = jax.random.split(key)
  observation, env_state = reset_envs(env, env_params, reset_key,
                                      num_episodes)

  def one_step(carry, step_key):
    env_state, observation, returns, alive = carry
    action_key, env_key = jax.random.split(step_key)
    action = policy(observation, action_key)
    observation, env_state, reward, done = step_envs(env, env_params, env_key,
                                                     env_state, action)
    returns = returns + jnp.where(alive, reward, 0.0)
    return (env_state, observation, returns, alive & ~done), None

  carry = (env_state, observation, jnp.zeros(num_episodes),
           jnp.ones(num_episodes, bool))
  (_, _, returns, _), _ = jax.lax.scan(one_step, carry,
                                       jax.random.split(key, max_steps))
  return returns.mean()
