"""What every actor-critic learner shares: the network's contract, policies
built from it, and the masked optimiser update.

A network is `apply(variables, observations) -> (logits, values)` for a
batch of observations, whatever framework built it (`tasks/actor_critic.py`
gives Flax and dm-haiku ones).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from contract import spec

# `apply(variables, observations) -> (logits [b, actions], values [b])`.
ActorCriticFn = Callable[[spec.Variables, jax.Array],
                         tuple[jax.Array, jax.Array]]
# `policy(observations, key) -> actions` for a batch of observations.
PolicyFn = Callable[[jax.Array, jax.Array], jax.Array]


def log_prob_of(logits: jax.Array, actions: jax.Array) -> jax.Array:
  """Log-probabilities of `actions` under the softmax of `logits`."""
  return jnp.take_along_axis(jax.nn.log_softmax(logits), actions[..., None],
                             axis=-1)[..., 0]


def mean_entropy(logits: jax.Array) -> jax.Array:
  """Mean entropy of the softmax policies of `logits` (bonus terms)."""
  log_probs = jax.nn.log_softmax(logits)
  return -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1).mean()


def masked_update(tx: optax.GradientTransformation, grads: Any,
                  opt_state: optax.OptState, params: Any,
                  trainable: Any) -> tuple[Any, optax.OptState]:
  """One optimiser step; parameters whose `trainable` entry is False keep
  their values bit for bit (the procedures' optimiser already zeroes their
  updates; this also keeps them exact)."""
  updates, opt_state = tx.update(grads, opt_state, params)
  proposed = optax.apply_updates(params, updates)
  return jax.tree.map(jnp.where, trainable, proposed, params), opt_state


def sampling_policy(apply: ActorCriticFn,
                    variables: spec.Variables) -> PolicyFn:
  """The agent's stochastic policy (what the learners optimise)."""
  return lambda observation, key: jax.random.categorical(
      key, apply(variables, observation)[0])


def uniform_policy(num_actions: int) -> PolicyFn:
  """The random policy whose return is the task's `P_0`."""
  return lambda observation, key: jax.random.randint(
      key, observation.shape[:1], 0, num_actions)
