"""Tunes `pallas_conv.Tiling` on each convolution shape of ResNet-20.

    python results/logs/scripts/pallas_tune.py --runs=32 --batch=128

For each convolution of ResNet-20 (stem, stages, strided first convolutions
and their 1x1 projections) it times the vmapped kernel gradient alone
(`runs` kernels, `batch` images each, bfloat16) of
- XLA (`grad` of a vmapped convolution: a grouped convolution);
- one big batch of `runs x batch` images with one kernel (XLA, without
  deterministic ops on a GPU: the hardware's limit);
- the Pallas kernel with the tiling it chooses (`default_tiling`), and
  with `Tiling()` followed by a coordinate search over the tiling's fields
  (each field in turn, keeping the best so far).
Prints images/s per row, the best tiling per shape, and the kernel
gradients' time per image summed over ResNet-20's convolutions.
"""

import argparse
import dataclasses
import functools
import os
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, os.getcwd())
import conv_probe  # pylint: disable=g-import-not-at-top (this folder)
from tasks import pallas_conv, resnet_layers  # pylint: disable=g-import-not-at-top

# (name, size, in channels, out channels, kernel, stride, count in ResNet-20)
SHAPES = (("stem", 32, 3, 16, 3, 1, 1), ("stage1", 32, 16, 16, 3, 1, 6),
          ("stage2 down", 32, 16, 32, 3, 2, 1),
          ("stage2 proj", 32, 16, 32, 1, 2, 1),
          ("stage2", 16, 32, 32, 3, 1, 5),
          ("stage3 down", 16, 32, 64, 3, 2, 1),
          ("stage3 proj", 16, 32, 64, 1, 2, 1),
          ("stage3", 8, 64, 64, 3, 1, 5))
SEARCH = {"all_taps": (False, True),
          "block_rows": ((32,), (64,), (128,), (256,), (128, 64, 32)),
          "rows_per_program": (512, 1024, 2048, 4096, 8192, 16384),
          "num_warps": (2, 4, 8), "num_stages": (1, 2, 3, 4)}
NO_DETERMINISM = {"xla_gpu_deterministic_ops": False}


seconds = functools.partial(conv_probe.bench, calls=10)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--runs", type=int, default=32)
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--shapes", default=",".join(s[0] for s in SHAPES))
  args = parser.parse_args()
  r, b = args.runs, args.batch
  gpu = jax.default_backend() == "gpu"
  print(jax.devices(), os.environ.get("XLA_FLAGS", ""), flush=True)
  totals = {"xla vmap": 0.0, "big": 0.0, "pallas chosen": 0.0,
            "pallas Tiling()": 0.0, "pallas best": 0.0}
  for name, hw, cin, cout, k, s, count in SHAPES:
    if name not in args.shapes.split(","):
      continue
    pad = max((-(-hw // s) - 1) * s + k - hw, 0)
    pads = ((pad // 2, pad - pad // 2),) * 2
    out = -(-hw // s)
    key1, key2 = jax.random.split(jax.random.key(0))
    xs = jax.random.normal(key1, (r, b, hw, hw, cin), jnp.bfloat16)
    gs = jax.random.normal(key2, (r, b, out, out, cout), jnp.bfloat16)
    w = jnp.zeros((k, k, cin, cout), jnp.bfloat16)

    def xla(x, g):
      conv = lambda w: jax.lax.conv_general_dilated(
          x, w, (s, s), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"))
      return jax.vjp(conv, w)[1](g)[0]

    # Strided: the stride-1 kernel over space-to-depth phases, as
    # `resnet_layers.conv_pallas_kernel_grad` computes it.
    xs_1, w_1 = jax.vmap(lambda x: resnet_layers.space_to_depth(
        x, w, (s, s), pads), out_axes=(0, None))(xs)
    pads_1 = ((0, 0), (0, 0)) if s != 1 else pads
    if s == 1:
      xs_1, w_1 = xs, w

    def pallas(tiling):
      return jax.vmap(lambda x, g: pallas_conv.kernel_grad(
          x, g, w_1.shape, (1, 1), pads_1, tiling=tiling))

    rate = lambda t: r * b / t
    times = {
        "xla vmap": seconds(jax.vmap(lambda x, g: xla(x, g)), xs, gs),
        "big": seconds(xla, xs.reshape(r * b, hw, hw, cin),
                       gs.reshape(r * b, out, out, cout),
                       options=NO_DETERMINISM if gpu else None)}
    best = pallas_conv.Tiling()
    times["pallas chosen"] = seconds(pallas(None), xs_1, gs)
    times["pallas Tiling()"] = best_time = seconds(pallas(best), xs_1, gs)
    for field, values in SEARCH.items():
      for value in values:
        tiling = dataclasses.replace(best, **{field: value})
        if tiling == best:
          continue
        try:
          t = seconds(pallas(tiling), xs_1, gs)
        except Exception as e:  # pylint: disable=broad-except
          print(f"  {name} {tiling}: failed: {str(e).splitlines()[0][:200]}")
          continue
        print(f"  {name} {field}={value}: {rate(t):,.0f}", flush=True)
        if t < best_time:
          best, best_time = tiling, t
    times["pallas best"] = best_time
    expected = jax.vmap(xla)(xs, gs).astype(jnp.float32)
    got = pallas(best)(xs_1, gs)
    if s != 1:  # Back from phases to the strided kernel's taps.
      th, tw = w_1.shape[:2]
      got = got.reshape(r, th, tw, s, s, cin, cout).transpose(
          0, 1, 3, 2, 4, 5, 6).reshape(r, th * s, tw * s, cin, cout)[
              :, :k, :k]
    error = float(jnp.max(jnp.abs(got - expected)))
    print(f"{name} {hw}x{hw} {cin}->{cout} k{k} s{s} (x{count}): "
          + ", ".join(f"{key} {rate(t):,.0f}" for key, t in times.items())
          + f" img/s; best {best}; max |error| {error:.3g} of "
          f"{float(jnp.max(jnp.abs(expected))):.3g}", flush=True)
    for key, t in times.items():
      totals[key] += count * t / (r * b)
  print("kernel gradients of ResNet-20, us per image: " + ", ".join(
      f"{key} {1e6 * t:.3f}" for key, t in totals.items()), flush=True)


if __name__ == "__main__":
  main()
