"""Behaviour cloning on an agent's episodes: the trajectory-access adversary.

PROTOCOL.md's finding 1 says completion is harder in RL because the adversary
lacks the trained agent's trajectories. The adversary variant that has them
receives `num_episodes` episodes played by the original agent and warm-starts
what it may train by behaviour cloning (maximum likelihood of the
demonstrated actions) before it retrains with RL.

Two pure functions, both jittable and vmappable:

* `collect_demonstrations` plays the episodes side by side on the device and
  returns them as fixed-shape arrays with a validity mask, plus the number of
  frames they took (the cost reported beside the completion curve).
* `behaviour_cloning` fits the trainable parameters to the demonstrated
  actions; parameters whose `trainable` entry is False keep their values bit
  for bit, as in the RL learners.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from agents import policies
from contract import spec

ActorCriticFn = policies.ActorCriticFn
PolicyFn = policies.PolicyFn
# `reset(key, num) -> (observations, states)`.
ResetFn = Callable[[jax.Array, int], tuple[jax.Array, Any]]
# `step(key, states, actions) -> (observations, states, rewards, done)`.
StepFn = Callable[[jax.Array, Any, jax.Array],
                  tuple[jax.Array, Any, jax.Array, jax.Array]]


class Demonstrations(NamedTuple):
  """Episodes side by side, `[time, episode]`; `valid` marks steps taken
  before the episode ended (later steps belong to no episode)."""

  observation: jax.Array
  action: jax.Array
  valid: jax.Array


def collect_demonstrations(reset: ResetFn, step: StepFn, policy: PolicyFn,
                           key: jax.Array, num_episodes: int,
                           max_steps: int) -> tuple[Demonstrations, jax.Array]:
  """Plays `num_episodes` episodes of `policy` to their end.

  Args:
    reset: resets a batch of environments.
    step: steps them (finished ones may reset themselves; their later steps
      are marked invalid).
    policy: the demonstrating agent.
    key: fixes the episodes.
    num_episodes: episodes, played side by side.
    max_steps: the environment's time limit: every episode has ended by then.

  Returns:
    `(demonstrations, frames)`: `frames` is the number of valid steps, what
    the episodes cost the demonstrator in environment frames.
  """
  key, reset_key = jax.random.split(key)
  observation, env_state = reset(reset_key, num_episodes)

  def one_step(carry, step_key):
    env_state, observation, alive = carry
    action_key, env_key = jax.random.split(step_key)
    action = policy(observation, action_key)
    next_observation, env_state, _, done = step(env_key, env_state, action)
    return ((env_state, next_observation, alive & ~done),
            Demonstrations(observation, action, alive))

  _, demonstrations = jax.lax.scan(
      one_step, (env_state, observation, jnp.ones(num_episodes, bool)),
      jax.random.split(key, max_steps))
  return demonstrations, demonstrations.valid.sum()


def cloning_loss(apply: ActorCriticFn, variables: spec.Variables, params: Any,
                 observation: jax.Array, action: jax.Array) -> jax.Array:
  """Mean negative log-likelihood of the demonstrated actions."""
  logits, _ = apply({**variables, "params": params}, observation)
  return -policies.log_prob_of(logits, action).mean()


def behaviour_cloning(apply: ActorCriticFn, variables: spec.Variables,
                      trainable: spec.Mask, demonstrations: Demonstrations,
                      key: jax.Array, num_updates: int, batch_size: int,
                      learning_rate: float) -> spec.Variables:
  """Fits the policy's trainable parameters to demonstrated actions.

  Adam on minibatches of `batch_size` valid steps drawn uniformly with
  replacement. Gradients of frozen parameters are zeroed before Adam and
  their values restored after, so they keep their bits.

  Args:
    apply: the actor-critic network.
    variables: the starting variables (the adversary's, withheld part
      re-initialised).
    trainable: boolean arrays with the variables' structure.
    demonstrations: from `collect_demonstrations`.
    key: fixes the minibatches.
    num_updates: optimiser steps.
    batch_size: steps per minibatch.
    learning_rate: Adam's rate.

  Returns:
    The variables with their trainable `params` cloned.
  """
  flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]),
                      demonstrations)
  # Every valid step equally likely; there is always one (an episode has at
  # least one step).
  probabilities = flat.valid / flat.valid.sum()
  frozen = jax.tree.map(jnp.logical_not, trainable["params"])
  tx = optax.adam(learning_rate)
  grad_fn = jax.grad(lambda params, observation, action: cloning_loss(
      apply, variables, params, observation, action))

  def update(carry, step_key):
    params, opt_state = carry
    index = jax.random.choice(step_key, probabilities.shape[0],
                              (batch_size,), p=probabilities)
    grads = grad_fn(params, flat.observation[index], flat.action[index])
    grads = jax.tree.map(lambda g, f: jnp.where(f, jnp.zeros_like(g), g),
                         grads, frozen)
    return policies.masked_update(tx, grads, opt_state, params,
                                  trainable["params"]), None

  params = variables["params"]
  (params, _), _ = jax.lax.scan(update, (params, tx.init(params)),
                                jax.random.split(key, num_updates))
  return {**variables, "params": params}
