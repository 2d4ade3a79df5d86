"""Tasks on envpool environments (Atari, ViZDoom) learned by IMPALA.

The environments are C++ pools stepped through envpool's XLA interface, so
a completion run is still one compiled program (`agents/impala.py`). Two
pools per task: one of `num_envs` for training, with the training-time
preprocessing (Atari: a life lost ends an episode, rewards clipped to their
sign), and one of `eval_episodes` for evaluation, with whole games and raw
rewards.

Cost is counted in emulator frames: an agent step is `frame_skip` frames
(Atari: 4, the standard; ViZDoom: 4 tics). Performance is the mean
undiscounted return of one whole episode in each evaluation environment
under the agent's stochastic policy; `P_0` is the same for the uniform
random policy. A pool carries its episodes and its random state from one
step to the next, so two settings of `eval_pool`:
- "continuing" (the default, and what recipes without the setting used):
  one evaluation pool serves every evaluation, each environment playing out
  the episode it is in before the one that counts. Evaluations are then not
  on common random numbers: the same policy scores differently from one
  evaluation to the next (on Pong by up to 6.4 points of 16 episodes,
  BUILD_NOTES 2026-12-02), which is enough to break the calibration of a
  withheld value head at alpha 0.99.
- "fresh": every evaluation plays the first episode of each environment of
  a new pool made with the evaluation seed, like the gymnax tasks' fixed
  key: the same policy gets the same return every time (given the device's
  deterministic reductions), whatever ran before.

Runs cannot be vmapped over a pool: they run one after another
(`default_vmap_size=1`) on any backend.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile

import jax
import jax.experimental
import jax.numpy as jnp
import ml_collections
import numpy as np

from agents import policies
from contract import spec
from tasks import actor_critic, gymnax_envs, recipes

ASSETS_HELP = (
    "install the envpool extra (pip install -e '.[envpool]', which brings "
    "envpool-assets) or point ENVPOOL_ASSETS_PATH at a folder holding "
    "atari/roms/ and vizdoom/maps/ + vizdoom/bin/freedoom2.wad")


EVAL_POOLS = ("continuing", "fresh")


def impala_config(**values) -> ml_collections.ConfigDict:
  """IMPALA settings shared by the envpool tasks; `values` override them."""
  config = ml_collections.ConfigDict()
  config.env_id = ""
  config.train_env = {}  # envpool options of the training pool.
  config.eval_env = {}  # ... of the evaluation pool.
  config.env_seed = 0
  config.num_threads = 0  # envpool's default: one per core.
  config.hidden = (256,)
  config.num_envs = 64
  config.unroll_length = 20
  config.num_minibatches = 4
  config.total_frames = 10_000_000
  config.learning_rate = 6e-4
  config.max_grad_norm = 40.0
  config.gamma = 0.99
  config.entropy_coefficient = 0.01
  config.baseline_coefficient = 0.5
  config.eval_episodes = 16
  config.eval_seed = 0
  config.eval_geometric = 5
  config.eval_linear = 8
  config.update(values)
  return config


def smoke(config: ml_collections.ConfigDict) -> None:
  """Shrinks `config` in place to a few updates of a few environments, with
  short episodes, for tests."""
  config.num_envs = 4
  config.unroll_length = 4
  config.num_minibatches = 2
  # One thread per pool: a test's pools share 2 CPU cores with the other
  # test worker. (The ViZDoom hang once blamed on threads was OpenBLAS's
  # fork handler, see benchmark/__init__.py.)
  config.num_threads = 1
  config.eval_episodes = 2
  config.eval_geometric = 2
  config.eval_linear = 2
  config.hidden = (32,)
  config.total_frames = 4 * 4 * 4 * 4  # Four updates at frame skip 4.
  config.train_env = {**config.train_env, "max_episode_steps": 50}
  config.eval_env = {**config.eval_env, "max_episode_steps": 50}


def _import_envpool():
  try:
    import envpool  # pylint: disable=g-import-not-at-top
    from agents import impala  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise spec.InputError(
        f"the envpool tasks need the envpool extra ({e.name} is missing): "
        "pip install -e '.[envpool]'") from e
  except OSError as e:  # envpool lists the Atari ROMs when imported.
    raise spec.InputError(f"envpool's assets are missing ({e}); "
                          f"{ASSETS_HELP}") from e
  return envpool, impala


def make_pool(envpool, name: str, env_id: str, num_envs: int, seed: int,
              num_threads: int, options: dict):
  """An envpool pool (gymnasium API, synchronous: the batch is every env),
  reset on the host and ready for its XLA interface; its first observations
  are `pool.first_observation`.

  Raises:
    spec.InputError: unknown environment or missing assets.
  """
  if env_id not in envpool.list_all_envs():
    raise spec.InputError(f"{name}: unknown envpool environment {env_id!r}")
  try:
    pool = envpool.make(env_id, env_type="gymnasium", num_envs=num_envs,
                        batch_size=num_envs, seed=seed,
                        num_threads=num_threads, **options)
  except (RuntimeError, FileNotFoundError, OSError) as e:
    where = os.environ.get("ENVPOOL_ASSETS_PATH", "the envpool-assets package")
    raise spec.InputError(
        f"{name}: envpool could not start {env_id} with assets from {where} "
        f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
        f"{ASSETS_HELP}") from e
  pool.first_observation, _ = pool.reset()
  return pool


def scenario_file(envpool, env_id: str, overrides: dict) -> str:
  """Path of a copy of `env_id`'s ViZDoom scenario file (.cfg) with the
  `key = value` settings of `overrides` replaced (or added).

  envpool takes the scenario from a file (`cfg_path`), so a setting such as
  the render resolution changes through a copy. The copy goes to the temp
  folder under a name made from its content, written atomically: processes
  that share the folder write or reuse the same file.

  Raises:
    spec.InputError: not a ViZDoom environment, or its file is missing.
  """
  if env_id not in envpool.list_all_envs():
    raise spec.InputError(f"unknown envpool environment {env_id!r}")
  default = getattr(envpool.make_spec(env_id).config, "cfg_path", None)
  if default is None:
    raise spec.InputError(f"{env_id} has no ViZDoom scenario file, so "
                          f"scenario settings {overrides} cannot apply")
  try:
    with open(default) as f:
      text = f.read()
  except OSError as e:
    raise spec.InputError(f"{env_id}: cannot read its scenario file ({e}); "
                          f"{ASSETS_HELP}") from e
  for key, value in sorted(overrides.items()):
    line = f"{key} = {value}"
    text, found = re.subn(rf"(?im)^\s*{re.escape(key)}\s*=.*$", line, text)
    if not found:
      text += f"\n{line}\n"
  digest = hashlib.sha256(text.encode()).hexdigest()[:12]
  folder = os.path.join(tempfile.gettempdir(), "mcbench-vizdoom")
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(folder, f"{env_id}-{digest}.cfg")
  if not os.path.exists(path):
    fd, partial = tempfile.mkstemp(dir=folder, suffix=".partial")
    with os.fdopen(fd, "w") as f:
      f.write(text)
    os.replace(partial, path)
  return path


def device_step(pool):
  """`(handle, step)` for stepping `pool` inside a compiled program.

  envpool's XLA interface where it can serve: it takes actions in the
  pool's own dtype, and JAX (without x64) has no float64, which ViZDoom's
  action spec asks for. Such a pool is stepped by a host callback instead,
  converting the actions on the host; the handle is then a dummy threaded
  through like the XLA one. The callback is unordered: each step's actions
  depend on the previous step's observations, which orders the steps, and
  XLA:GPU (jax 0.11) aborted compiling the token an ordered one threads
  through the loops (BUILD_NOTES).
  """
  if pool.spec.action_array_spec["action"].dtype == np.int32:
    handle, _, _, step = pool.xla()
    return handle, step
  return jnp.zeros((), jnp.int32), host_step(lambda: pool)


def _observation_shape(pool) -> jax.ShapeDtypeStruct:
  space = pool.observation_space
  return jax.ShapeDtypeStruct((pool.config["num_envs"], *space.shape),
                              space.dtype)


def host_step(current_pool):
  """A pool step for compiled programs through a host callback, on the pool
  `current_pool()` returns, its actions converted on the host (to float64
  for ViZDoom). Same signature as envpool's XLA step; the handle is a dummy
  threaded through."""
  pool = current_pool()
  action_dtype = pool.spec.action_array_spec["action"].dtype
  n = pool.config["num_envs"]
  shapes = (_observation_shape(pool),
            jax.ShapeDtypeStruct((n,), np.float32),
            jax.ShapeDtypeStruct((n,), np.bool_),
            jax.ShapeDtypeStruct((n,), np.bool_))

  def on_host(actions):
    observation, reward, terminated, truncated, _ = current_pool().step(
        np.asarray(actions, action_dtype))
    return (observation, reward.astype(np.float32),
            terminated.astype(np.bool_), truncated.astype(np.bool_))

  def step(handle, actions):
    observation, reward, terminated, truncated = jax.experimental.io_callback(
        on_host, shapes, actions, ordered=False)
    return handle, (observation, reward, terminated, truncated, {})

  return step


class FreshPool:
  """Evaluation on a new pool every time (`eval_pool="fresh"`).

  `start(handle)`, traced into the evaluation, replaces the pool by a new
  one from `make()` (the same seed, so the same first episodes) and returns
  its first observations; `step` steps it through a host callback. The pool
  made here serves the first start unchanged.
  """

  def __init__(self, make):
    self._make = make
    self.pool = make()
    self._played = False
    self.step = host_step(lambda: self.pool)

  def _first_observation(self, handle):
    del handle  # A dummy, passed on like a pool's handle.
    if self._played:
      self.pool.close()  # Its engines (ViZDoom: processes) go first.
      self.pool = self._make()
    self._played = True
    return self.pool.first_observation

  def start(self, handle: jax.Array) -> tuple[jax.Array, jax.Array]:
    observation = jax.experimental.io_callback(
        self._first_observation, _observation_shape(self.pool), handle,
        ordered=False)
    return handle, observation


def reward_on_termination(step, value: float):
  """`step` whose reward is `value` on a step that ends its episode before
  the time limit (terminated, not truncated) and 0 on every other.

  For ViZDoom goals that end the episode, such as My Way Home's vest:
  envpool reads a step's reward from the game's variables after the step,
  and after a step that ends the episode there is no game state to read,
  so it pays 0 (of 43 vests reached by random play, 33 paid nothing,
  BUILD_NOTES 2026-12-02). The episode's early end is the goal itself.
  """

  def stepped(handle, actions):
    handle, (observation, _, terminated, truncated, info) = step(handle,
                                                                 actions)
    reward = value * (terminated & ~truncated).astype(jnp.float32)
    return handle, (observation, reward, terminated, truncated, info)

  return stepped


def restrict_actions(step, num_pool_actions: int, actions: tuple[int, ...]):
  """`(num_actions, step)`: `step` for an agent whose action `i` is the
  pool's action `actions[i]` (all of the pool's actions if `actions` is
  empty). A lookup inside the compiled step, so the pool and its XLA
  interface stay as they are.

  Raises:
    spec.InputError: fewer than two actions, repeats, or an index the pool
      does not have.
  """
  if not actions:
    return num_pool_actions, step
  if (len(actions) < 2 or len(set(actions)) != len(actions) or
      not all(isinstance(a, int) and 0 <= a < num_pool_actions
              for a in actions)):
    raise spec.InputError(
        f"actions {actions} must be two or more distinct indices of the "
        f"pool's {num_pool_actions} actions")
  table = jnp.asarray(actions, jnp.int32)
  return len(actions), lambda h, action: step(h, table[action])


def network_settings(name: str, config: ml_collections.ConfigDict) -> dict:
  """The torso's `conv_init` and `layer_norm` of an IMPALA recipe, as
  keywords of `actor_critic.flax_network` (and `ActorCritic`).

  Both are optional: recipes made before them used "orthogonal" and no
  norm, and their originals must still load.

  Raises:
    spec.InputError: an unknown `conv_init`.
  """
  conv_init = config.get("conv_init", "orthogonal")
  if conv_init not in actor_critic.CONV_INITS:
    raise spec.InputError(f"{name}: unknown conv_init {conv_init!r}; known: "
                          f"{', '.join(actor_critic.CONV_INITS)}")
  return {"conv_init": conv_init,
          "layer_norm": bool(config.get("layer_norm", False))}


def build(name: str, config: ml_collections.ConfigDict,
          train_fraction: float) -> spec.Task:
  """The IMPALA task on `config.env_id`.

  Raises:
    spec.InputError: unknown environment, sizes that do not fit, a data
      budget, missing assets or the envpool extra missing.
  """
  envpool, impala = _import_envpool()
  if train_fraction != 1.0:
    raise spec.InputError(
        f"{name}: an RL adversary has no data set to cut "
        f"(train_fraction={train_fraction}); its data is the environment")
  hp = impala.Hyperparameters(
      num_envs=config.num_envs, unroll_length=config.unroll_length,
      num_minibatches=config.num_minibatches, gamma=config.gamma,
      entropy_coefficient=config.entropy_coefficient,
      baseline_coefficient=config.baseline_coefficient)
  impala.check_hyperparameters(hp)
  network = network_settings(name, config)
  # ViZDoom only, as `config.scenario`: settings of the scenario file to
  # override. The file's path depends on the machine, so it stays out of
  # the config, which records the overrides themselves.
  overrides = dict(config.get("scenario", {}))
  scenario = ({"cfg_path": scenario_file(envpool, config.env_id, overrides)}
              if overrides else {})
  # Optional settings, absent from recipes made before them (whose
  # originals must still load): the evaluation protocol (module docstring)
  # and a reward paid when an episode ends early (`reward_on_termination`).
  eval_protocol = config.get("eval_pool", "continuing")
  if eval_protocol not in EVAL_POOLS:
    raise spec.InputError(f"{name}: unknown eval_pool {eval_protocol!r}; "
                          f"known: {', '.join(EVAL_POOLS)}")
  termination_reward = config.get("reward_on_termination", None)
  train_pool = make_pool(envpool, name, config.env_id, config.num_envs,
                         config.env_seed, config.num_threads,
                         {**config.train_env, **scenario})
  make_eval_pool = functools.partial(
      make_pool, envpool, name, config.env_id, config.eval_episodes,
      config.env_seed + 10_000, config.num_threads,
      {**config.eval_env, **scenario})
  if eval_protocol == "fresh":
    fresh = FreshPool(make_eval_pool)
    eval_pool, eval_handle, eval_step = (fresh.pool, jnp.zeros((), jnp.int32),
                                         fresh.step)
    eval_start = fresh.start
  else:
    eval_pool = make_eval_pool()
    eval_handle, eval_step = device_step(eval_pool)
    eval_start = None
  frame_skip = int(train_pool.spec.config.frame_skip)
  frames_per_update = hp.steps_per_update * frame_skip
  num_updates = config.total_frames // frames_per_update
  if num_updates < 1:
    raise spec.InputError(f"{name}: total_frames {config.total_frames} is "
                          f"less than one update ({frames_per_update})")
  pool_actions = int(train_pool.action_space.n)
  # Optional `config.actions`: the agent's actions as indices of the pool's
  # (absent from recipes made before it, so their originals still load).
  actions = tuple(config.get("actions", ()))
  train_handle, train_step = device_step(train_pool)
  num_actions, train_step = restrict_actions(train_step, pool_actions,
                                             actions)
  _, eval_step = restrict_actions(eval_step, pool_actions, actions)
  if termination_reward is not None:
    train_step = reward_on_termination(train_step, termination_reward)
    eval_step = reward_on_termination(eval_step, termination_reward)
  observation_shape = tuple(train_pool.observation_space.shape)
  init, apply = actor_critic.flax_network(
      num_actions, "impala", tuple(config.hidden), True, observation_shape,
      **network)
  # Whole episodes: on a continuing pool, the one under way, then the
  # counted one.
  eval_max_steps = (1 if eval_start else 2) * int(
      eval_pool.spec.config.max_episode_steps) + 1
  eval_key = jax.random.key(config.eval_seed)
  recipe = spec.Recipe(
      optimizer=gymnax_envs.adam_linear_decay(config.max_grad_norm),
      schedule=gymnax_envs.linear_decay(config.learning_rate, num_updates,
                                        hp.num_minibatches),
      peak_learning_rate=config.learning_rate,
      batch_size=hp.steps_per_update, num_updates=num_updates,
      eval_updates=recipes.eval_schedule(num_updates, config.eval_geometric,
                                         config.eval_linear),
      cost_unit="frames", cost_per_update=frames_per_update)

  def make_learner(tx, trainable):
    return impala.make_learner(train_step, train_handle, apply, hp, tx,
                               trainable)

  def episode_return(policy, key=eval_key):
    return impala.mean_episode_return(eval_step, eval_handle,
                                      config.eval_episodes, policy, key,
                                      eval_max_steps, start=eval_start)

  def evaluate(variables, data, key):
    del data, key  # The pool is the data; one key for every evaluation.
    return episode_return(policies.sampling_policy(apply, variables))

  def keyed_evaluate(variables, data, key):
    # The pool's own seed fixes its episodes' starts; `key` draws the
    # sampled actions, and so the episodes.
    del data
    return episode_return(policies.sampling_policy(apply, variables), key)

  random_return = jax.jit(lambda: episode_return(
      policies.uniform_policy(num_actions)))()
  return spec.Task(
      roles=actor_critic.ROLES, keyed_evaluate=keyed_evaluate,
      name=name, init=init, recipe=recipe, make_learner=make_learner,
      evaluate=evaluate, data=jnp.zeros(()), p0=float(random_return),
      performance_name="mean episode return",
      default_vmap_size=1,  # A pool cannot be vmapped over,
      shardable=False,  # nor stepped by several devices at once.
      description=f"{config.env_id} (envpool), IMPALA (V-trace), deep "
                  "residual torso",
      data_info={"environment": f"envpool {config.env_id}",
                 "envpool_version": getattr(envpool, "__version__",
                                            "unknown"),
                 "frame_skip": frame_skip,
                 "frames_per_update": frames_per_update,
                 "observation_shape": list(observation_shape),
                 "num_actions": num_actions,
                 "actions": list(actions) or list(range(pool_actions)),
                 "train_env": dict(config.train_env),
                 "eval_env": dict(config.eval_env),
                 "eval_pool": eval_protocol,
                 "scenario": overrides})
