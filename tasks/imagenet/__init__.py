"""`imagenet/resnet50`: ResNet-50 v1.5 on ImageNet (ILSVRC 2012), read through
tensorflow-datasets (`imagenet2012`).

A streamed task (`spec.Task.streamed`): 1.28 million JPEGs cannot live on
the accelerator, so a `tf.data` pipeline decodes and augments them on host
threads and the benchmark runs the task with `benchmark/engine/streaming.py`.

Data. ImageNet cannot be downloaded by a program: get
`ILSVRC2012_img_train.tar` and `ILSVRC2012_img_val.tar` from image-net.org
(registration needed) and put them, or links to them, in tfds's manual
folder of a tfds data directory, `DATA_DIR/downloads/manual/`. Then

    python -m benchmark.train --task=imagenet/resnet50 --data_dir=DATA_DIR

prepares `imagenet2012` into `DATA_DIR` once (tfds's own builder; hours, and
about 150 GB) and trains. A data directory where `imagenet2012` is already
prepared is used as it is; without `--data_dir`, tfds's default
(`$TFDS_DATA_DIR` or `~/tensorflow_datasets`). The manual folder is tfds's
convention rather than a config key so that the task name (which records
carry) does not depend on where a machine keeps its tars.

Recipe (the standard large-batch one, Goyal et al., 2017, with a cosine
decay): SGD with Nesterov momentum 0.9, batch 1,024, peak rate 0.4 (0.1 per
256 images, the linear scaling rule), 5 warm-up epochs then cosine decay to
0, 90 epochs (112,590 updates), weight decay 1e-4 on kernels only (not on
batch-norm parameters or biases), label smoothing 0.1, float32 compute
(`compute_dtype=bfloat16` for mixed precision). Training crops are random
resized crops of 224 px with flips, evaluation the central 224 of 256;
performance is top-1 accuracy on the 50,000 validation images, `P0` = 0.001
(chance over 1,000 classes).

    python -m benchmark.run --task=imagenet/resnet50 --data_dir=DATA_DIR
    python -m benchmark.run --task=imagenet/resnet50:smoke --data_dir=DATA_DIR

`smoke` is CI-sized (a ResNet-50-shaped net with one block per stage at width
16, 32 px, batch 8, 8 updates, 16 validation images). CI runs it on
`tfds.testing.mock_data`: this task has not run on real ImageNet here.
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import ml_collections

from agents import supervised
from contract import spec
from tasks import recipes, tfds_support
from tasks.imagenet import resnet50

MODELS = ("resnet50",)
DATASET = "imagenet2012"
NUM_CLASSES = 1000
TRAIN_EXAMPLES = 1_281_167
EVAL_EXAMPLES = 50_000
TARS = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")
SWITCHES = ("smoke",)
COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def get_config(model: str, switches: list[str]) -> ml_collections.ConfigDict:
  """The recipe of `imagenet/resnet50`; switch `smoke` shrinks it for tests.

  Args:
    model: "resnet50".
    switches: optional "smoke": one bottleneck per stage at width 16, 32 px
      images, batch 8, one epoch of 64 training images (8 updates), 16
      validation images; for CI, not for results.
  """
  recipes.check_switches(f"imagenet/{model}", switches, SWITCHES)
  config = ml_collections.ConfigDict()
  config.stage_sizes = resnet50.STAGE_SIZES[model]
  config.width = 64
  config.image_size = 224
  config.compute_dtype = "float32"
  config.batch_size = 1024
  config.epochs = 90
  config.peak_learning_rate = 0.4  # 0.1 x 1024 / 256 (linear scaling).
  config.warmup_epochs = 5.0
  config.momentum = 0.9
  config.weight_decay = 1e-4  # On kernels only.
  config.label_smoothing = 0.1
  # The examples an epoch counts (the recipe's) and the evaluation set read.
  config.train_examples = TRAIN_EXAMPLES
  config.eval_examples = EVAL_EXAMPLES
  config.eval_batch_size = 1000
  config.shuffle_buffer = 16 * 1024  # Undecoded JPEGs, about 1.8 GB.
  config.eval_geometric = 12
  config.eval_linear = 20
  if "smoke" in switches:
    config.stage_sizes = (1, 1, 1, 1)
    config.width = 16
    config.image_size = 32
    config.batch_size = 8
    config.epochs = 1
    config.peak_learning_rate = 0.1
    config.warmup_epochs = 0.25
    config.train_examples = 64
    config.eval_examples = 16
    config.eval_batch_size = 8
    config.shuffle_buffer = 64
    config.eval_geometric = 2
    config.eval_linear = 2
  return config


def make_recipe(config: ml_collections.ConfigDict) -> spec.Recipe:
  """SGD Nesterov, linear warm-up then cosine, weight decay on kernels.

  An epoch is `train_examples // batch_size` updates of the full training
  set, whatever the adversary's data budget.
  """
  steps_per_epoch = config.train_examples // config.batch_size
  if steps_per_epoch < 1:
    raise spec.InputError(
        f"imagenet: {config.train_examples} training examples are fewer than "
        f"one batch ({config.batch_size})")
  total = steps_per_epoch * config.epochs
  warmup = max(1, int(round(config.warmup_epochs * steps_per_epoch)))
  return spec.Recipe(
      optimizer=recipes.sgd_nesterov_kernel_decay(config.weight_decay,
                                                  config.momentum),
      schedule=recipes.warmup_cosine(config.peak_learning_rate, warmup,
                                     total),
      peak_learning_rate=config.peak_learning_rate,
      batch_size=config.batch_size, num_updates=total,
      eval_updates=recipes.eval_schedule(total, config.eval_geometric,
                                         config.eval_linear))


def _missing_data(data_dir: str, manual_dir: str) -> spec.InputError:
  return spec.InputError(
      f"ImageNet ({DATASET}) is not prepared in {data_dir} and "
      f"{manual_dir} lacks {' and '.join(TARS)}: download them from "
      f"image-net.org (registration needed), put them in {manual_dir} and "
      f"pass --data_dir={data_dir}")


def load_builder(data_dir: str | None):
  """The `imagenet2012` tfds builder, prepared from the manual tars if needed.

  Raises:
    spec.InputError: not prepared and the tars are not in
      `DATA_DIR/downloads/manual/`.
  """
  _, tfds = tfds_support.import_tfds()
  builder = tfds.builder(DATASET, data_dir=data_dir)
  if builder.is_prepared():
    return builder
  data_dir = os.fspath(data_dir or
                       tfds.core.constants.get_default_data_dir())
  manual_dir = os.path.join(data_dir, "downloads", "manual")
  if not all(os.path.isfile(os.path.join(manual_dir, t)) for t in TARS):
    raise _missing_data(data_dir, manual_dir)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  return builder


def _split(builder, name: str, count: int, full: int) -> str:
  """`name` or its first `count` examples, checked against a prepared split.

  tfds shuffles examples by a hash of their keys when it writes a split, so
  a prefix is a fixed pseudo-random subset.
  """
  known = builder.info.splits.get(name) if builder.info.splits else None
  if known is not None and known.num_examples < count:
    raise spec.InputError(
        f"{DATASET} split {name!r} has {known.num_examples} examples, the "
        f"config asks for {count}")
  return name if count >= full else f"{name}[:{count}]"


def build(model: str, config: ml_collections.ConfigDict,
          data_dir: str | None, train_fraction: float) -> spec.Task:
  recipes.check_train_fraction(train_fraction)
  if config.compute_dtype not in COMPUTE_DTYPES:
    raise spec.InputError(
        f"imagenet/{model}: compute_dtype must be one of "
        f"{', '.join(COMPUTE_DTYPES)}, got {config.compute_dtype!r}")
  recipe = make_recipe(config)
  builder = load_builder(data_dir)
  # pylint: disable-next=g-import-not-at-top
  from tasks.imagenet import input_pipeline  # Imports TensorFlow.
  train_count = max(1, int(round(config.train_examples * train_fraction)))
  if train_count < config.batch_size:
    raise spec.InputError(
        f"imagenet/{model}: training set of {train_count} examples is "
        f"smaller than one batch ({config.batch_size}); raise the train "
        "fraction")
  try:
    train_split = _split(builder, "train", train_count, TRAIN_EXAMPLES)
    eval_split = _split(builder, "validation", config.eval_examples,
                        EVAL_EXAMPLES)
    data = input_pipeline.ImageNetData(
        builder, train_split, eval_split, batch_size=config.batch_size,
        eval_batch_size=config.eval_batch_size,
        image_size=config.image_size, shuffle_buffer=config.shuffle_buffer)
  except (ValueError, KeyError) as e:  # tfds: unknown or malformed split.
    raise spec.InputError(f"{DATASET} in {builder.data_dir}: "
                          f"{str(e).splitlines()[0]}") from e
  network = resnet50.ResNet(tuple(config.stage_sizes), config.width,
                            NUM_CLASSES, COMPUTE_DTYPES[config.compute_dtype])
  apply = supervised.flax_apply(network)

  def make_learner(tx, trainable):
    return supervised.make_batch_learner(apply, tx, trainable,
                                         config.label_smoothing)

  return spec.Task(
      name=f"imagenet/{model}",
      init=recipes.flax_init(network, jnp.zeros(
          (1, config.image_size, config.image_size, 3), jnp.uint8)),
      recipe=recipe, make_learner=make_learner,
      evaluate=supervised.make_streamed_accuracy(apply), data=data,
      p0=1.0 / NUM_CLASSES, performance_name="validation top-1 accuracy",
      description=f"ImageNet (ILSVRC 2012, tfds {DATASET}), ResNet-50 v1.5, "
      "SGD Nesterov",
      data_info={"source": f"tfds {DATASET} in {builder.data_dir}",
                 "train_split": train_split, "eval_split": eval_split},
      streamed=True)
