"""Does the IMPALA torso collapse when its targets are (almost) zero?

What the Doom agent sees for most of its training: a value target near 0
(a vest is found in about 1 of 10,000 agent steps) and an entropy bonus.
Collects random-policy frames of My Way Home on the CPU, then trains the
actor-critic network of `doom-mywayhome/impala` on the value loss towards 0
(coefficient 0.5, the recipe's baseline loss; `--value_coefficient`) minus
0.01 x the policy's entropy (`--entropy_coefficient`), with the Atari
recipe's optimiser (Adam 6e-4, `--learning_rate`; global-norm clip 40) on
minibatches of 160 frames. Prints the torso's features (mean norm, share of
non-zero units, how much they vary across frames), the mean |value| and how
much the logits vary across frames, for each `conv_init` (`--layer_norm`:
the torso's, see `actor_critic.Torso`).

Usage (ViZDoom needs `import benchmark` first, see benchmark/__init__.py):
  python results/logs/scripts/doom_torso_collapse.py --steps=400
"""
import argparse
import time

import benchmark  # noqa: F401  (sets OPENBLAS_NUM_THREADS before numpy)
import envpool
import jax
import jax.numpy as jnp
import numpy as np
import optax

from tasks import actor_critic, envpool_envs, registry

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=400)
parser.add_argument("--value_coefficient", type=float, default=0.5)
parser.add_argument("--entropy_coefficient", type=float, default=0.01)
parser.add_argument("--learning_rate", type=float, default=6e-4)
parser.add_argument("--layer_norm", action="store_true")
parser.add_argument("--conv_inits", default=",".join(actor_critic.CONV_INITS))
args = parser.parse_args()

config = registry.get_config("doom-mywayhome/impala")[2]
actions = np.asarray(config.actions)
pool = envpool.make(
    config.env_id, env_type="gymnasium", num_envs=16, batch_size=16, seed=1,
    num_threads=2, **config.train_env,
    cfg_path=envpool_envs.scenario_file(envpool, config.env_id,
                                        dict(config.scenario)))
observation, _ = pool.reset()
rng = np.random.default_rng(0)
frames = []
for i in range(200):
  observation, *_ = pool.step(
      actions[rng.integers(0, len(actions), 16)].astype(np.float64))
  if i % 2 == 0:
    frames.append(observation)
frames = np.concatenate(frames)
probe = jnp.asarray(frames[:64])
print(f"{len(frames)} random-policy frames", flush=True)

for conv_init in args.conv_inits.split(","):
  model = actor_critic.ActorCritic(len(actions), "impala", (256,), True,
                                   conv_init, args.layer_norm)
  torso = actor_critic.Torso("impala", (256,), conv_init, args.layer_norm)
  params = model.init(jax.random.PRNGKey(0), probe)["params"]
  tx = optax.chain(optax.clip_by_global_norm(40.0),
                   optax.adam(args.learning_rate))
  opt_state = tx.init(params)

  def loss(params, x):
    logits, values = model.apply({"params": params}, x)
    log_p = jax.nn.log_softmax(logits)
    entropy = -(jnp.exp(log_p) * log_p).sum(-1).mean()
    return (args.value_coefficient * 0.5 * jnp.mean(values**2)
            - args.entropy_coefficient * entropy)

  @jax.jit
  def step(params, opt_state, x):
    updates, opt_state = tx.update(jax.grad(loss)(params, x), opt_state,
                                   params)
    return optax.apply_updates(params, updates), opt_state

  def report(k):
    features = torso.apply({"params": params["torso"]}, probe)
    logits, values = model.apply({"params": params}, probe)
    print(f"{conv_init} step {k}: feature norm "
          f"{float(jnp.linalg.norm(features, axis=1).mean()):.3f}, non-zero "
          f"{float((features > 0).mean()):.3f}, std across frames "
          f"{float(features.std(0).mean()):.4f}, |value| "
          f"{float(jnp.abs(values).mean()):.4f}, logits' std across frames "
          f"{float(logits.std(0).mean()):.5f}", flush=True)

  report(0)
  started = time.time()
  for k in range(1, args.steps + 1):
    batch = jnp.asarray(frames[rng.integers(0, len(frames), 160)])
    params, opt_state = step(params, opt_state, batch)
    if k in (25, 100, 200, 400, args.steps):
      report(k)
  print(f"{conv_init}: {time.time() - started:.0f} s")
