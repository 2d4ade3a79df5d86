"""Does turning off ViZDoom's render effects (weapon sprite, crosshair, decals,
particles, effect sprites, messages, corpses, screen flashes) speed up My Way
Home at 160x120? Host stepping of 32 environments on 32 threads, random
navigation actions, 15 s per setting, each setting twice.

    python results/logs/scripts/doom_render_speed.py; pkill -9 -f vizdoom
"""
import sys, time
import benchmark  # noqa: F401  (sets OPENBLAS_NUM_THREADS before numpy)
import numpy as np, envpool
from tasks import envpool_envs
base = {"screen_resolution": "RES_160X120"}
off = {**base, "render_weapon": "false", "render_crosshair": "false", "render_decals": "false",
       "render_particles": "false", "render_effects_sprites": "false", "render_messages": "false",
       "render_corpses": "false", "render_screen_flashes": "false"}
n = 32
for label, settings in [("160x120", base), ("160x120, effects off", off), ("160x120", base), ("160x120, effects off", off)]:
  path = envpool_envs.scenario_file(envpool, "MyWayHome-v1", settings)
  pool = envpool.make("MyWayHome-v1", env_type="gymnasium", num_envs=n, batch_size=n, seed=0,
                      num_threads=n, use_combined_action=True, cfg_path=path)
  pool.reset(); dt = pool.spec.action_array_spec["action"].dtype
  rng = np.random.default_rng(0); steps = 0; t = time.time()
  while time.time() - t < 15:
    pool.step(rng.choice([1, 2, 3, 4, 5], n).astype(dt)); steps += 1
  el = time.time() - t
  print(f"{label}: {4 * steps * n / el:.0f} frames/s ({n} envs, {n} threads)", flush=True)
  pool.close()
