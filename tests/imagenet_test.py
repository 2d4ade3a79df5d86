"""`imagenet/resnet50` end to end on `tfds.testing.mock_data`: builder,
pipelines, model, split families, a streamed completion run and scratch
training. ImageNet itself cannot be downloaded here; tfds's mock generates
random JPEGs and labels in place of `imagenet2012`.

Compilation dominates on a CPU, so the module compiles with most XLA
optimisations off (as the Flax ImageNet example's test does)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmark.engine import batching, streaming
from benchmark.science import procedures, splitter
from benchmark.sweeps import originals as originals_lib
from contract.spec import InputError
from tasks import imagenet, registry, tfds_support
from tasks.imagenet import resnet50

SMOKE = "imagenet/resnet50:smoke"
NUM_EXAMPLES = 16  # Mock examples in every split.


@pytest.fixture(scope="module", autouse=True)
def fast_compilation():
  before = jax.config.values["jax_disable_most_optimizations"]
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  """A tfds data directory whose manual folder holds (empty) tars: the
  not-yet-prepared path, whose preparation the mock turns into a no-op."""
  root = tmp_path_factory.mktemp("tfds")
  manual = root / "downloads" / "manual"
  manual.mkdir(parents=True)
  for tar in imagenet.TARS:
    (manual / tar).touch()
  return str(root)


@pytest.fixture(scope="module")
def mock_tfds():
  _, tfds = tfds_support.import_tfds()
  with tfds.testing.mock_data(num_examples=NUM_EXAMPLES):
    yield


@pytest.fixture(scope="module")
def task(mock_tfds, data_dir):
  del mock_tfds
  return registry.get_task(SMOKE, data_dir=data_dir)


@pytest.fixture(scope="module")
def template(task):
  return task.init(jax.random.key(0))  # Eager: layer order is kept.


def test_missing_imagenet_says_where_the_tars_go(tmp_path):
  with pytest.raises(InputError) as error:
    registry.get_task(SMOKE, data_dir=str(tmp_path))
  message = str(error.value)
  assert "\n" not in message
  assert f"{tmp_path}/downloads/manual" in message
  assert "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar" in message
  assert f"--data_dir={tmp_path}" in message


def test_config_errors():
  with pytest.raises(InputError, match="no switch 'tiny'; known: smoke"):
    registry.get_task("imagenet/resnet50:tiny")
  with pytest.raises(InputError, match="compute_dtype must be one of"):
    registry.get_task("imagenet/resnet50:smoke,compute_dtype=float16")


def test_recipe():
  recipe = imagenet.make_recipe(imagenet.get_config("resnet50", []))
  assert recipe.batch_size == 1024
  assert recipe.num_updates == 1251 * 90
  assert float(recipe.schedule(5 * 1251)) == pytest.approx(0.4)
  assert float(recipe.schedule(recipe.num_updates)) == pytest.approx(0.0)
  params = {"conv": {"kernel": jnp.ones(3)}, "bn": {"scale": jnp.ones(3)}}
  tx = recipe.optimizer(1.0)  # Weight decay only on kernels.
  updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params),
                         tx.init(params), params)
  # Nesterov: -(g + 0.9 m) with m = g = 1e-4 x 1 on the first step.
  assert float(updates["conv"]["kernel"][0]) == pytest.approx(-1.9e-4)
  assert float(updates["bn"]["scale"][0]) == 0.0


def test_full_size_resnet50():
  config = imagenet.get_config("resnet50", [])
  network = resnet50.ResNet(tuple(config.stage_sizes), config.width)
  images = jnp.zeros((2, 224, 224, 3), jnp.uint8)
  shapes = jax.eval_shape(lambda k: network.init(k, images), jax.random.key(0))
  sizes = {c: sum(int(np.prod(s.shape)) for s in jax.tree.leaves(tree))
           for c, tree in shapes.items()}
  assert sizes == {"params": 25_557_032, "batch_stats": 53_120}
  logits = jax.eval_shape(network.apply, shapes, images)
  assert logits.shape == (2, 1000) and logits.dtype == jnp.float32
  blocks = {s.name for s in splitter.family_schemes(dict(shapes), "blocks")}
  assert len(blocks) == 18  # stem, 3 + 4 + 6 + 3 bottlenecks, head.
  assert {"block.stem", "block.stage1-block0", "block.stage4-block2",
          "block.head"} <= blocks
  stage2 = shapes["params"]["stage2"]["block0"]
  assert stage2["conv2"]["kernel"].shape == (3, 3, 128, 128)
  assert stage2["shortcut"]["conv"]["kernel"].shape == (1, 1, 256, 512)


def test_pipeline_batches(task):
  data = task.data
  first = next(data.train_batches(jax.random.key(0)))
  images, labels = first
  assert images.shape == (8, 32, 32, 3) and images.dtype == np.uint8
  assert labels.shape == (8,) and labels.dtype == np.int32
  assert labels.min() >= 0 and labels.max() < 1000
  assert 0 < images.std()  # Decoded pixels, not a constant.
  again = next(data.train_batches(jax.random.key(0)))
  other = next(data.train_batches(jax.random.key(1)))
  np.testing.assert_array_equal(again[0], images)  # The key fixes a run.
  assert not np.array_equal(other[0], images)
  evals = list(data.eval_batches())
  assert len(evals) == NUM_EXAMPLES // 8
  assert [b.dtype for b in evals[0]] == [np.uint8, np.int32, np.bool_]
  assert all(b[2].all() for b in evals)
  np.testing.assert_array_equal(list(data.eval_batches())[1][0], evals[1][0])


def test_eval_batches_are_padded(mock_tfds, data_dir):
  del mock_tfds
  task = registry.get_task(f"{SMOKE},eval_batch_size=6", data_dir=data_dir)
  evals = list(task.data.eval_batches())
  assert [b[0].shape[0] for b in evals] == [6, 6, 6]
  assert [int(b[2].sum()) for b in evals] == [6, 6, 4]
  assert not evals[-1][0][4:].any()  # Padding is black.


def test_split_families(task, template):
  schemes = splitter.resolve_schemes(
      template, ("blocks", "stages", "branches", "types", "first_k_blocks"),
      task.name)
  names = [scheme.name for scheme, _ in schemes]
  # One block per stage: stages equal blocks and are dropped as duplicates.
  assert names == [
      "block.stem", "block.stage1-block0", "block.stage2-block0",
      "block.stage3-block0", "block.stage4-block0", "block.head",
      "branch.residual", "branch.shortcut", "type.kernels",
      "type.norm_scales", "type.norm_offsets", "type.biases",
      "type.running_stats", "first-blocks.2", "first-blocks.4"]
  shortcut = dict((s.name, s) for s, _ in schemes)["branch.shortcut"]
  paths = splitter.selected_paths(splitter.leaves(template), shortcut)
  assert paths[:3] == ["params/stage1/block0/shortcut/conv/kernel",
                       "params/stage1/block0/shortcut/bn/scale",
                       "params/stage1/block0/shortcut/bn/bias"]


def test_streamed_completion_runs(task, template):
  scheme = splitter.Scheme("head", ("params/head/**",))
  mask = splitter.make_mask(template, scheme)
  originals = jax.tree.map(lambda x: jnp.stack([x, x]), template)
  keys = jnp.stack([jax.random.key(1), jax.random.key(2)])
  runs = streaming.make_streamed_completion(task)
  curves = runs(keys, originals, batching.stack_runs([mask] * 2),
                batching.stack_runs([procedures.settings("T1", task.recipe)]
                                    * 2),
                jnp.asarray([jnp.inf, jnp.inf]), task.data)
  num_evals = len(task.recipe.eval_updates)
  assert task.recipe.eval_updates[-1] == 8
  assert curves.performance.shape == (2, num_evals)
  assert np.isfinite(curves.performance).all()
  assert not curves.diverged.any()
  # Accuracy on 16 images: multiples of 1/16.
  np.testing.assert_array_equal(curves.performance * 16,
                                np.round(curves.performance * 16))



def test_originals_of_a_streamed_task(task, template, tmp_path):
  # `train_originals` trains through `streaming.make_streamed_scratch_training`.
  original, = originals_lib.train_originals(task, str(tmp_path), [0])
  assert original.performance.shape == (len(task.recipe.eval_updates),)
  assert np.isfinite(original.performance).all()
  trained = original.variables
  assert jax.tree.structure(trained) == jax.tree.structure(
      jax.tree.map(np.asarray, template))
  moved = [not np.array_equal(a, b) for a, b in
           zip(jax.tree.leaves(trained), jax.tree.leaves(template))]
  assert all(moved)  # Every variable trained, statistics included.
  restored = originals_lib.load_original(task, str(tmp_path), 0)
  assert restored.content_hash == original.content_hash
