"""Raw ViZDoom stepping against our host callback inside a jitted loop.

    PYTHONPATH=<repo> python3 -u doom_callback.py NUM_ENVS NUM_THREADS STEPS
"""
import sys, time
import numpy as np, jax, jax.numpy as jnp
import envpool
from tasks import envpool_envs
n = int(sys.argv[1]); nt = int(sys.argv[2]); steps = int(sys.argv[3])
pool = envpool.make("MyWayHome-v1", env_type="gymnasium", num_envs=n, batch_size=n,
                    seed=0, num_threads=nt, use_combined_action=True)
pool.reset()
print("obs", pool.observation_space.shape, pool.observation_space.dtype, flush=True)
dt = pool.spec.action_array_spec["action"].dtype
rng = np.random.default_rng(0)
t = time.time()
for _ in range(steps):
  pool.step(rng.integers(0, pool.action_space.n, n).astype(dt))
raw = time.time() - t
print(f"raw: {steps*n/raw:.0f} env steps/s ({1e3*raw/steps:.2f} ms/batch)", flush=True)
handle, step = envpool_envs.device_step(pool)
A = int(pool.action_space.n)
@jax.jit
def loop(handle, key):
  def body(i, c):
    h, k, s = c
    k, sub = jax.random.split(k)
    a = jax.random.randint(sub, (n,), 0, A)
    h, (obs, r, term, trunc, _) = step(h, a)
    return h, k, s + obs.astype(jnp.float32).mean()
  return jax.lax.fori_loop(0, steps, body, (handle, key, 0.0))
out = loop(handle, jax.random.key(0)); jax.block_until_ready(out)
t = time.time(); out = loop(handle, jax.random.key(1)); jax.block_until_ready(out)
cb = time.time() - t
print(f"callback loop: {steps*n/cb:.0f} env steps/s ({1e3*cb/steps:.2f} ms/batch)", flush=True)
