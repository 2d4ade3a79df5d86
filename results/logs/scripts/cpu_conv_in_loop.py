"""XLA:CPU's convolution gradients inside and outside a loop, against the
canonical-form ones of `resnet_layers.conv_general_dilated`.

    JAX_PLATFORMS=cpu python results/logs/scripts/cpu_conv_in_loop.py

For CIFAR ResNet shapes (batch 32), times each gradient alone in a jitted
call ("one") and per iteration of a 10-step `fori_loop` whose carry feeds
it ("in loop"), each the mean of 20 calls after a warm-up
(`conv_probe.bench`): XLA's own input and kernel gradients (`jax.vjp` of
`lax.conv_general_dilated`) and the canonical-form ones. See jax-ml/jax#12868.
"""

import os
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, os.getcwd())
import conv_probe  # pylint: disable=g-import-not-at-top (this folder)
from tasks import resnet_layers  # pylint: disable=g-import-not-at-top

PADS = ((1, 1), (1, 1))


def conv(x, w, stride):
  return resnet_layers._xla_conv(x, w, (stride, stride), PADS, None)  # pylint: disable=protected-access


def main():
  print(jax.devices(), flush=True)
  for stride, cin, cout, size in [(1, 16, 16, 32), (2, 16, 32, 32),
                                  (1, 64, 64, 8)]:
    x = jax.random.normal(jax.random.key(0), (32, size, size, cin))
    w = 0.1 * jax.random.normal(jax.random.key(1), (3, 3, cin, cout))
    y = conv(x, w, stride)
    s = (stride, stride)
    gradients = {
        "input, XLA": lambda x, w: jax.vjp(lambda x: conv(x, w, stride),
                                           x)[1](y)[0],
        "input, canonical": lambda x, w: resnet_layers._input_grad_canonical(  # pylint: disable=protected-access
            y, w, x.shape, s, PADS, None),
        "kernel, XLA": lambda x, w: jax.vjp(lambda w: conv(x, w, stride),
                                            w)[1](y)[0],
        "kernel, canonical": lambda x, w: resnet_layers._kernel_grad_canonical(  # pylint: disable=protected-access
            x, y, w.shape, s, PADS),
    }
    for name, gradient in gradients.items():
      def body(_, carry, gradient=gradient):
        x, w = carry
        g = jnp.mean(gradient(x, w))
        return x + 1e-9 * g, w + 1e-9 * g
      one = conv_probe.bench(gradient, x, w)
      loop = conv_probe.bench(
          lambda x, w: jax.lax.fori_loop(0, 10, body, (x, w)), x, w)
      print(f"stride {stride}, {cin}->{cout} channels, {size}x{size}, "
            f"{name}: one {1e3 * one:.2f} ms, in loop {1e2 * loop:.2f} ms",
            flush=True)


if __name__ == "__main__":
  main()
