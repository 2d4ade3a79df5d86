"""Checks that the networks' default convolution
(`resnet_layers.conv_general_dilated`) computes what XLA's own does on this
platform: ResNet-20 (CIFAR-10 shapes, bfloat16 as the task computes), 20
SGD updates in one `fori_loop` from the same initialisation with each
convolution, then the largest difference of any parameter, and each
program's time per update.

    python results/logs/scripts/default_conv_check.py [--runs=1]

On a GPU the default branch is XLA's own gradient, so the parameters are
expected bit-identical; on CPU they differ by float rounding (the
gradients are canonical-form convolutions there).
"""

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, os.getcwd())
from tasks import resnet_layers  # pylint: disable=g-import-not-at-top
from tasks.cifar10 import resnet  # pylint: disable=g-import-not-at-top


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--runs", type=int, default=1)
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--updates", type=int, default=20)
  args = parser.parse_args()
  images = jax.random.uniform(jax.random.key(1),
                              (args.runs, args.batch, 32, 32, 3))
  labels = jax.random.randint(jax.random.key(2), (args.runs, args.batch), 0,
                              10)
  results = {}
  for name, conv in [("lax", jax.lax.conv_general_dilated),
                     ("default", resnet_layers.conv_general_dilated)]:
    net = resnet.CifarResNet(3, (16, 32, 64), dtype=jnp.bfloat16, conv=conv)
    keys = jax.random.split(jax.random.key(0), args.runs)
    variables = jax.vmap(lambda k: net.init(k, images[0, :1], train=False))(
        keys)
    tx = optax.sgd(0.05, momentum=0.9)

    def step(_, state):
      variables, opt_state, x, y = state
      def loss(params):
        logits, updates = net.apply({**variables, "params": params}, x,
                                    train=True, mutable=["batch_stats"])
        return optax.softmax_cross_entropy_with_integer_labels(
            logits.astype(jnp.float32), y).mean(), updates
      grads, updates = jax.grad(loss, has_aux=True)(variables["params"])
      deltas, opt_state = tx.update(grads, opt_state)
      params = optax.apply_updates(variables["params"], deltas)
      return ({"params": params, **updates}, opt_state, x, y)

    @jax.jit
    def train(variables, x, y):
      def one(variables, x, y):
        state = (variables, tx.init(variables["params"]), x, y)
        return jax.lax.fori_loop(0, args.updates, step, state)[0]
      return jax.vmap(one)(variables, x, y)

    out = jax.block_until_ready(train(variables, images, labels))
    started = time.perf_counter()
    out = jax.block_until_ready(train(variables, images, labels))
    per_update = (time.perf_counter() - started) / args.updates
    results[name] = out
    print(f"{name}: {1e3 * per_update:.3f} ms per update ({args.runs} "
          f"run(s), batch {args.batch})", flush=True)
  diffs = jax.tree.leaves(jax.tree.map(
      lambda a, b: jnp.max(jnp.abs(a.astype(jnp.float32)
                                   - b.astype(jnp.float32))),
      results["lax"], results["default"]))
  print(f"{jax.devices()[0].platform}: largest parameter difference after "
        f"{args.updates} updates: {max(float(d) for d in diffs):.3e}",
        flush=True)


if __name__ == "__main__":
  main()
