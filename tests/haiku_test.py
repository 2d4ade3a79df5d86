"""A dm-haiku model through the whole engine: the splitter and completion
only see a pytree of parameters, whatever built it."""

import haiku as hk
import jax
import jax.numpy as jnp
import optax
import pytest

from benchmark.engine import completion, prng, scratch
from benchmark.science import hardness, procedures, splitter
from contract import spec
from tasks import digits, recipes


@pytest.fixture(scope="module")
def haiku_task():
  def forward(x):
    return hk.Sequential([hk.Linear(32, name="torso"), jax.nn.relu,
                          hk.Linear(10, name="head")])(x)

  model = hk.without_apply_rng(hk.transform(forward))

  def init(key):
    return {"params": model.init(key, jnp.zeros((1, 64)))}

  def apply(variables, images, train):
    del train
    return model.apply(variables["params"], images), {}

  train, test = digits.load_digits(0.2)
  recipe = spec.Recipe(optimizer=optax.adam,
                       schedule=optax.constant_schedule(3e-3),
                       peak_learning_rate=3e-3, batch_size=64,
                       num_updates=300,
                       eval_updates=recipes.eval_schedule(300, 8, 10))
  return recipes.supervised_task("test/haiku-mlp", init, apply,
                                 recipes.make_dataset(train, test, 360),
                                 recipe, num_classes=10)


def test_haiku_paths_and_families(haiku_task):
  variables = haiku_task.init(jax.random.key(0))
  paths = [leaf.path for leaf in splitter.leaves(variables)]
  assert paths == ["params/torso/w", "params/torso/b", "params/head/w",
                   "params/head/b"]
  layers = [s.name for s in splitter.family_schemes(variables, "layers")]
  assert layers == ["layer.torso", "layer.head"]
  types = {s.name: s for s in splitter.family_schemes(variables, "types")}
  assert splitter.selected_paths(splitter.leaves(variables),
                                 types["type.kernels"]) == ["params/torso/w",
                                                            "params/head/w"]


def test_haiku_completion_recovers_the_head(haiku_task):
  train = scratch.make_scratch_training(haiku_task)
  curves, originals = train(jnp.stack([prng.derive_key("h", s)
                                       for s in range(2)]))
  original = jax.tree.map(lambda v: v[0], originals)
  p_star = float(curves.performance[0, -1])
  assert p_star > 0.9
  mask = splitter.make_mask(original, splitter.Scheme(
      "head", ("params/head/*",)))
  run = jax.jit(completion.make_completion(haiku_task))
  curve, final = run(jax.random.key(3), original, mask,
                     procedures.settings("T1", haiku_task.recipe), jnp.inf,
                     haiku_task.data)
  normalised = hardness.normalise(curve.performance, haiku_task.p0, p_star)
  assert normalised[0] < 0.5 and normalised[-1] > 0.9
  torso = final["params"]["torso"]["w"]
  assert jnp.array_equal(torso, original["params"]["torso"]["w"])
