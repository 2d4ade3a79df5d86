"""ImageNet input pipelines: `tf.data` on the host, uint8 batches to the device.

Training: the JPEG bytes are read without decoding (`tfds.decode.SkipDecoding`),
shuffled, then decoded straight into a random crop (Inception-style
"random resized crop": 8% to 100% of the area, aspect ratio 3/4 to 4/3),
resized to the model's size and flipped left-right with probability 1/2. The
map runs on `tf.data`'s threads (`AUTOTUNE`), batches are prefetched, and
images stay uint8 (a quarter of the float32 bytes to copy); the model
normalises them on the device. Evaluation: the central 87.5% of the shorter
side (224 of 256, i.e. "resize to 256, center crop 224"), resized to the
model's size, in the split's order.

Every random choice is a stateless TensorFlow op seeded by (run seed, position
in the stream), and the pipeline is deterministic (`tf.data`'s default), so a
key fixes the order and the augmentation of a whole run.
"""

from __future__ import annotations

from typing import Any

from tasks import tfds_support

# Importing this module imports TensorFlow (GPUs hidden): the task imports it
# only when it builds its pipelines.
tf, tfds = tfds_support.import_tfds()

# "Resize to 256, center crop 224": the share of the shorter side kept.
CENTER_CROP_FRACTION = 224 / 256
AREA_RANGE = (0.08, 1.0)
ASPECT_RATIO_RANGE = (3 / 4, 4 / 3)


def _to_uint8(image):
  return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def _resize(image, image_size):
  return tf.image.resize(image, [image_size, image_size], method="bicubic")


def decode_and_center_crop(image_bytes, image_size: int):
  """The evaluation crop: the central square of `CENTER_CROP_FRACTION` of
  the shorter side, decoded and resized to `image_size` (uint8)."""
  shape = tf.io.extract_jpeg_shape(image_bytes)
  height, width = shape[0], shape[1]
  crop = tf.cast(CENTER_CROP_FRACTION * tf.cast(tf.minimum(height, width),
                                                tf.float32), tf.int32)
  crop = tf.maximum(crop, 1)
  window = tf.stack([(height - crop + 1) // 2, (width - crop + 1) // 2, crop,
                     crop])
  image = tf.io.decode_and_crop_jpeg(image_bytes, window, channels=3)
  return _to_uint8(_resize(image, image_size))


def decode_and_random_crop(image_bytes, seed, image_size: int):
  """The training crop and flip, seeded by `seed` (`[2]` int64).

  A random window of 8-100% of the area (aspect ratio 3/4-4/3) is decoded
  and resized; when no window is found in 10 attempts (tiny or extreme
  images), the evaluation's center crop is used, as in the reference TPU
  pipeline. Then a left-right flip with probability 1/2.
  """
  crop_seed, flip_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 2))
  shape = tf.io.extract_jpeg_shape(image_bytes)
  whole = tf.constant([0.0, 0.0, 1.0, 1.0], tf.float32, [1, 1, 4])
  begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
      shape, bounding_boxes=whole, seed=crop_seed, min_object_covered=0.1,
      aspect_ratio_range=ASPECT_RATIO_RANGE, area_range=AREA_RANGE,
      max_attempts=10, use_image_if_no_bounding_boxes=True)
  window = tf.stack([begin[0], begin[1], size[0], size[1]])
  # Failing every attempt returns the whole image: fall back to the center.
  failed = tf.reduce_all(tf.equal(size[:2], shape[:2]))
  image = tf.cond(
      failed, lambda: decode_and_center_crop(image_bytes, image_size),
      lambda: _to_uint8(_resize(tf.io.decode_and_crop_jpeg(
          image_bytes, window, channels=3), image_size)))
  return tf.image.stateless_random_flip_left_right(image, flip_seed)


def _options():
  options = tf.data.Options()
  options.deterministic = True  # The order is part of a run's identity.
  # One thread per op: the parallelism is across examples (as in the Flax
  # ImageNet example).
  options.threading.max_intra_op_parallelism = 1
  return options


def train_dataset(builder: Any, split: str, seed: int, batch_size: int,
                  image_size: int, shuffle_buffer: int):
  """Endless shuffled, augmented training batches `(images, labels)`.

  Args:
    builder: a prepared tfds builder with `image` (JPEG) and `label`.
    split: a tfds split string, e.g. `train` or `train[:64]`.
    seed: fixes the file order, the shuffle and every augmentation.
    batch_size: examples per batch (incomplete batches never occur: the
      stream repeats).
    image_size: the side of the square crops.
    shuffle_buffer: examples in the shuffle buffer (undecoded JPEGs).

  Returns:
    A `tf.data.Dataset` of uint8 `[batch, size, size, 3]` and int32 `[batch]`.
  """
  ds = builder.as_dataset(
      split=split, shuffle_files=True,
      # A new file order every epoch, fixed by the seed.
      read_config=tfds.ReadConfig(shuffle_seed=seed,
                                  shuffle_reshuffle_each_iteration=True),
      decoders={"image": tfds.decode.SkipDecoding()})
  ds = ds.map(lambda example: (example["image"], example["label"]))
  ds = ds.repeat().shuffle(shuffle_buffer, seed=seed)

  def preprocess(position, example):
    image_bytes, label = example
    image = decode_and_random_crop(
        image_bytes, tf.stack([tf.constant(seed, tf.int64), position]),
        image_size)
    return image, tf.cast(label, tf.int32)

  ds = ds.enumerate().map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.batch(batch_size, drop_remainder=True)
  return ds.prefetch(tf.data.AUTOTUNE).with_options(_options())


def eval_dataset(builder: Any, split: str, batch_size: int, image_size: int):
  """One pass over `split` in full batches `(images, labels, valid)`.

  The last batch is completed with black images whose `valid` is False, so
  that every batch has one shape (one compiled evaluation step) without
  knowing the split's size in advance.
  """
  ds = builder.as_dataset(split=split, shuffle_files=False,
                          decoders={"image": tfds.decode.SkipDecoding()})

  def preprocess(example):
    return (decode_and_center_crop(example["image"], image_size),
            tf.cast(example["label"], tf.int32), tf.constant(True))

  ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
  padding = tf.data.Dataset.from_tensors(
      (tf.zeros([image_size, image_size, 3], tf.uint8),
       tf.constant(0, tf.int32), tf.constant(False))).repeat(batch_size - 1)
  # n real examples + (batch - 1) pads, incomplete batch dropped: exactly
  # ceil(n / batch) batches, all real examples kept.
  ds = ds.concatenate(padding).batch(batch_size, drop_remainder=True)
  return ds.prefetch(tf.data.AUTOTUNE).with_options(_options())


class ImageNetData:
  """`spec.StreamedData` for ImageNet: `tf.data` pipelines over a tfds builder.

  Batches are numpy: training `(images, labels)` with uint8 images
  `[batch, size, size, 3]` and int32 labels, evaluation `(images, labels,
  valid)`.
  """

  def __init__(self, builder: Any, train_split: str, eval_split: str, *,
               batch_size: int, eval_batch_size: int, image_size: int,
               shuffle_buffer: int):
    self.builder = builder
    self.train_split = train_split
    self.eval_split = eval_split
    self.batch_size = batch_size
    self.image_size = image_size
    self.shuffle_buffer = shuffle_buffer
    self._eval = eval_dataset(builder, eval_split, eval_batch_size,
                              image_size)
    # Built once here (nothing is read yet) so that a bad split fails now.
    self._train(0)

  def _train(self, seed: int):
    return train_dataset(self.builder, self.train_split, seed,
                         self.batch_size, self.image_size, self.shuffle_buffer)

  def train_batches(self, key):
    """Endless training batches; `key` fixes their order and augmentation."""
    return self._train(tfds_support.seed_from_key(key)).as_numpy_iterator()

  def eval_batches(self):
    """One pass over the evaluation split, in its order."""
    return self._eval.as_numpy_iterator()
