"""Where does a vmapped convolution lose time? One ResNet-20 layer, timed.

    python results/logs/scripts/conv_probe.py --runs=32 --batch=128

For each stage shape of ResNet-20 (32x32x16, 16x16x32, 8x8x64; 3x3, stride
1) it times, per dtype, the forward pass, the gradient with respect to the
input and the gradient with respect to the kernel of:
- `loop`: one run's layer, called `runs` times in turn (`lax.map`);
- `vmap conv`: `runs` kernels vmapped (XLA: a grouped convolution);
- `vmap im2col`: the same, through `resnet_layers.conv_as_matmul`;
- `vmap hybrid`: the same, through `resnet_layers.conv_matmul_kernel_grad`
  (XLA's convolution, im2col kernel gradient);
- `vmap pallas`: the same, through `resnet_layers.conv_pallas_kernel_grad`
  (XLA's convolution, the Pallas kernel gradient of `tasks/pallas_conv.py`);
- `big`: one kernel over `runs x batch` images (the one-big-job limit).
Prints images/s (runs x batch images per call) per row.
"""

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp

sys.path.insert(0, os.getcwd())
from tasks import resnet_layers  # pylint: disable=g-import-not-at-top


def conv(x, w):
  return jax.lax.conv_general_dilated(
      x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def im2col(x, w):
  return resnet_layers.conv_as_matmul(x, w, (1, 1), "SAME")


def hybrid(x, w):
  return resnet_layers.conv_matmul_kernel_grad(x, w, (1, 1), "SAME")


def pallas(x, w):
  return resnet_layers.conv_pallas_kernel_grad(x, w, (1, 1), "SAME")


def parts(f):
  """Forward, input gradient and kernel gradient of sum(f(x, w)**2)/2."""
  loss = lambda x, w: 0.5 * jnp.sum(jnp.square(f(x, w).astype(jnp.float32)))
  return {"forward": f,
          "d input": jax.grad(loss, argnums=0),
          "d kernel": jax.grad(loss, argnums=1)}


def bench(f, *args, calls=20, options=None):
  """Seconds per call of `f(*args)`, compiled with XLA `options`, after a
  warm-up call."""
  compiled = jax.jit(f).lower(*args).compile(compiler_options=options)
  jax.block_until_ready(compiled(*args))
  started = time.perf_counter()
  for _ in range(calls):
    out = compiled(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - started) / calls


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--runs", type=int, default=32)
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--dtypes", default="float32,bfloat16")
  parser.add_argument("--variants", default="conv,im2col,hybrid,pallas")
  args = parser.parse_args()
  r, b = args.runs, args.batch
  print(jax.devices(), os.environ.get("XLA_FLAGS", ""))
  functions = {"conv": conv, "im2col": im2col, "hybrid": hybrid,
               "pallas": pallas}
  variants = args.variants.split(",")
  columns = ("loop", *(f"vmap {v}" for v in variants), "big")
  print("| dtype | shape | part | " + " | ".join(columns) + " |")
  print("|---|---|---" + "|---:" * len(columns) + "|")
  for dtype in map(jnp.dtype, args.dtypes.split(",")):
    for hw, c in ((32, 16), (16, 32), (8, 64)):
      key = jax.random.key(0)
      xs = jax.random.normal(key, (r, b, hw, hw, c), dtype)
      ws = jax.random.normal(key, (r, 3, 3, c, c), dtype) * 0.1
      speeds = {}
      for name in variants:
        for part, g in parts(functions[name]).items():
          if name == "conv":
            speeds[part, "loop"] = bench(
                lambda xs, ws, g=g: jax.lax.map(lambda a: g(*a), (xs, ws)),
                xs, ws)
            speeds[part, "big"] = bench(
                g, xs.reshape(r * b, hw, hw, c), ws[0])
          speeds[part, f"vmap {name}"] = bench(jax.vmap(g), xs, ws)
      if "pallas" in variants:
        # The Pallas kernel gradient against XLA's, in float32 sums.
        expected = jax.vmap(parts(conv)["d kernel"])(xs, ws)
        got = jax.vmap(parts(pallas)["d kernel"])(xs, ws)
        error = jnp.max(jnp.abs(got.astype(jnp.float32)
                                - expected.astype(jnp.float32)))
        print(f"pallas d kernel, {hw}x{hw}x{c}: max |error| {float(error):.3g}"
              f" of max |value| {float(jnp.max(jnp.abs(expected))):.3g}")
      for part in ("forward", "d input", "d kernel"):
        cells = [f"{r * b / speeds[part, k]:,.0f}"
                 for k in columns]
        print(f"| {jnp.dtype(dtype).name} | {hw}x{hw}x{c} | {part} | "
              + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
  main()
