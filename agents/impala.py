"""An IMPALA-style actor-critic learner (V-trace, rlax) on envpool's XLA
interface.

Espeholt et al. (2018) decouple acting from learning: actors unroll a
behaviour policy that lags the learner's, and V-trace corrects the
off-policy gap. Here one program does both, synchronously, in the
purejaxrl pattern: a learner `step` unrolls `unroll_length` steps in each of
`num_envs` environments with the current parameters (the behaviour policy
`mu`), then makes `num_minibatches` optimiser updates on disjoint groups of
environments. Every update after the first learns from data of an older
policy, which V-trace's clipped importance weights correct, as in IMPALA
with one update of policy lag per minibatch.

The environments are envpool pools driven through its XLA interface
(`env.xla()`): `step(handle, actions)` is a custom call that steps the C++
pool, so collecting frames is part of the compiled program and a whole run is
one `lax` loop, like the gymnax tasks. A pool is stateful: runs cannot be
vmapped over it (they run in turn) and its episodes continue across runs
(there is no reset inside a program; a run starts by one step of action 0
and learns from wherever the pool is).

Cost is counted in emulator frames: every agent step is `frame_skip` frames.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
import rlax

from agents import policies
from contract import spec

ActorCriticFn = policies.ActorCriticFn
# envpool's XLA step: `(handle, actions) -> (handle, (observations, rewards,
# terminated, truncated, info))`.
XlaStepFn = Callable[[jax.Array, jax.Array], tuple[jax.Array, tuple]]


class Hyperparameters(NamedTuple):
  """IMPALA's settings besides the optimiser (which the recipe owns)."""

  num_envs: int
  unroll_length: int
  num_minibatches: int
  gamma: float = 0.99
  entropy_coefficient: float = 0.01
  baseline_coefficient: float = 0.5
  clip_rho: float = 1.0
  clip_pg_rho: float = 1.0
  vtrace_lambda: float = 1.0

  @property
  def steps_per_update(self) -> int:
    """Agent steps one learner step consumes."""
    return self.num_envs * self.unroll_length


class Unroll(NamedTuple):
  """`[time, env]` arrays of one unroll of the behaviour policy."""

  observation: jax.Array
  action: jax.Array
  behaviour_logits: jax.Array
  reward: jax.Array
  done: jax.Array


class LearnerState(NamedTuple):
  variables: spec.Variables
  opt_state: optax.OptState
  handle: jax.Array
  observation: jax.Array
  key: jax.Array


def check_hyperparameters(hp: Hyperparameters) -> None:
  """Raises `spec.InputError` unless the environments split into
  minibatches."""
  if min(hp.num_envs, hp.unroll_length, hp.num_minibatches) < 1:
    raise spec.InputError(f"IMPALA sizes must be positive, got {hp}")
  if hp.num_envs % hp.num_minibatches:
    raise spec.InputError(
        f"IMPALA: {hp.num_envs} environments do not split into "
        f"{hp.num_minibatches} minibatches")


def step_pool(step: XlaStepFn, handle: jax.Array, actions: jax.Array):
  """`(handle, observations, rewards, done)`: one step of every environment
  of the pool, which resets finished ones itself; `done` is termination or
  truncation."""
  handle, (observation, reward, terminated, truncated, _) = step(handle,
                                                                 actions)
  return handle, observation, reward.astype(jnp.float32), (
      terminated | truncated)


def vtrace_loss(apply: ActorCriticFn, hp: Hyperparameters,
                variables: spec.Variables, params: Any, unroll: Unroll,
                last_observation: jax.Array) -> jax.Array:
  """Policy gradient with V-trace advantages + baseline loss - entropy.

  Args:
    apply: the network.
    hp: settings.
    variables: all collections (only `params` is differentiated).
    params: the parameters being learned.
    unroll: `[time, env]` behaviour data.
    last_observation: `[env]` observations after the unroll (bootstrap).
  """
  time, envs = unroll.action.shape
  observations = jnp.concatenate([unroll.observation,
                                  last_observation[None]], axis=0)
  logits, values = apply({**variables, "params": params},
                         observations.reshape((-1,) + observations.shape[2:]))
  logits = logits.reshape((time + 1, envs, -1))[:-1]
  values = values.reshape((time + 1, envs))
  log_pi_taken = policies.log_prob_of(logits, unroll.action)
  rhos = jnp.exp(jax.lax.stop_gradient(log_pi_taken) - policies.log_prob_of(
      unroll.behaviour_logits, unroll.action))
  discounts = hp.gamma * (1.0 - unroll.done.astype(jnp.float32))
  per_env = jax.vmap(
      lambda v_tm1, v_t, r_t, d_t, rho: rlax.vtrace_td_error_and_advantage(
          v_tm1, v_t, r_t, d_t, rho, hp.vtrace_lambda, hp.clip_rho,
          hp.clip_pg_rho),
      in_axes=1, out_axes=1)
  vtrace = per_env(values[:-1], values[1:], unroll.reward, discounts, rhos)
  policy_loss = -jnp.mean(jax.lax.stop_gradient(vtrace.pg_advantage)
                          * log_pi_taken)
  baseline_loss = 0.5 * jnp.mean(jnp.square(vtrace.errors))
  return (policy_loss + hp.baseline_coefficient * baseline_loss
          - hp.entropy_coefficient * policies.mean_entropy(logits))


def make_learner(step: XlaStepFn, handle: jax.Array, apply: ActorCriticFn,
                 hp: Hyperparameters, tx: optax.GradientTransformation,
                 trainable: spec.Mask) -> spec.Learner:
  """Builds the IMPALA learner for one optimiser and trainable mask.

  Args:
    step: the training pool's XLA step (`num_envs` environments).
    handle: the pool's handle.
    apply: the actor-critic network.
    hp: settings.
    tx: the optimiser; it makes `hp.num_minibatches` steps per learner step.
    trainable: boolean arrays with the variables' structure; False entries
      keep their values bit for bit.

  Returns:
    A `spec.Learner` whose `step(state, data)` (data unused: the pool is the
    data) collects `hp.steps_per_update` agent steps and learns from them.
  """
  check_hyperparameters(hp)

  def init(variables, key):
    # No reset inside a program: a step of action 0 gives the current
    # observations.
    pool, observation, _, _ = step_pool(
        step, handle, jnp.zeros(hp.num_envs, jnp.int32))
    return LearnerState(variables, tx.init(variables["params"]), pool,
                        observation, key)

  def collect(state: LearnerState):
    def one_step(carry, _):
      pool, observation, key = carry
      key, action_key = jax.random.split(key)
      logits, _ = apply(state.variables, observation)
      action = jax.random.categorical(action_key, logits).astype(jnp.int32)
      pool, next_observation, reward, done = step_pool(step, pool, action)
      return (pool, next_observation, key), Unroll(observation, action,
                                                   logits, reward, done)

    return jax.lax.scan(one_step, (state.handle, state.observation,
                                   state.key), length=hp.unroll_length)

  def learner_step(state: LearnerState, data):
    del data
    (pool, observation, key), unroll = collect(state)
    loss_fn = jax.value_and_grad(
        lambda params, batch: vtrace_loss(apply, hp, state.variables, params,
                                          *batch))
    # Disjoint groups of environments, whole unrolls each.
    split = lambda x, axis: jnp.stack(jnp.split(x, hp.num_minibatches,
                                                axis=axis))
    minibatches = (jax.tree.map(lambda x: split(x, 1), unroll),
                   split(observation, 0))

    def minibatch_update(carry, batch):
      params, opt_state = carry
      loss, grads = loss_fn(params, batch)
      return policies.masked_update(tx, grads, opt_state, params,
                                    trainable["params"]), loss

    (params, opt_state), losses = jax.lax.scan(
        minibatch_update, (state.variables["params"], state.opt_state),
        minibatches)
    variables = {**state.variables, "params": params}
    return LearnerState(variables, opt_state, pool, observation,
                        key), losses.mean()

  # The pool's C++ state is not in a checkpoint: a restored state steps this
  # process's pool, whose episodes start afresh.
  return spec.Learner(init=init, step=learner_step,
                      variables=lambda s: s.variables,
                      reattach=lambda s: s._replace(handle=handle))


def mean_episode_return(step: XlaStepFn, handle: jax.Array, num_envs: int,
                        policy: policies.PolicyFn,
                        key: jax.Array, max_steps: int,
                        start: Callable[[jax.Array], tuple[jax.Array,
                                                           jax.Array]]
                        | None = None) -> jax.Array:
  """Mean undiscounted return of one whole episode per environment.

  There is no reset inside a program. With `start`, `handle -> (handle,
  observations)` of a pool whose every episode has just begun (a new pool),
  each environment's first episode counts. Without it the pool is stateful
  and continues: each environment first plays out the episode it is in (not
  counted), then plays one whole episode that counts. Runs until every
  environment has counted one, or `max_steps` steps (then unfinished
  episodes count with what they have).
  """
  if start is None:
    pool, observation, _, _ = step_pool(step, handle,
                                        jnp.zeros(num_envs, jnp.int32))
    # 0: finishing an episode begun before, 1: counting, 2: counted.
    phase = jnp.zeros(num_envs, jnp.int32)
  else:
    pool, observation = start(handle)
    phase = jnp.ones(num_envs, jnp.int32)

  def unfinished(carry):
    _, _, phase, _, _, count = carry
    return jnp.any(phase < 2) & (count < max_steps)

  def one_step(carry):
    pool, observation, phase, returns, key, count = carry
    key, action_key = jax.random.split(key)
    action = policy(observation, action_key).astype(jnp.int32)
    pool, observation, reward, done = step_pool(step, pool, action)
    returns = returns + jnp.where(phase == 1, reward, 0.0)
    phase = jnp.where(done & (phase < 2), phase + 1, phase)
    return pool, observation, phase, returns, key, count + 1

  carry = (pool, observation, phase, jnp.zeros(num_envs), key, 0)
  _, _, _, returns, _, _ = jax.lax.while_loop(unfinished, one_step, carry)
  return returns.mean()
