"""Splitter: paths, patterns, families and scheme files on Flax and Haiku."""

import json

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmark.science import splitter
from contract.spec import InputError
from tasks import registry


@pytest.fixture(scope="module")
def cnn_variables():
  task = registry.get_task("fashion_mnist/cnn:smoke")
  return task.init(jax.random.key(0))


def haiku_variables():
  def forward(x, is_training):
    x = hk.Linear(8, name="torso")(x)
    x = hk.BatchNorm(True, True, 0.9, name="norm")(x, is_training)
    return hk.Linear(3, name="head")(jax.nn.relu(x))

  model = hk.transform_with_state(forward)
  params, state = model.init(jax.random.key(0), jnp.zeros((2, 5)), True)
  return {"params": params, "state": state}


def test_paths_follow_creation_order_with_collection_first(cnn_variables):
  paths = [leaf.path for leaf in splitter.leaves(cnn_variables)]
  assert paths[:3] == ["params/conv1/kernel", "params/conv1/bias",
                       "params/bn1/scale"]
  assert "batch_stats/bn2/var" in paths
  assert sum(leaf.size for leaf in splitter.leaves(cnn_variables)) == 207_114


def test_glob_semantics():
  paths = ["params/stem/kernel", "params/stem/a/b", "params/head/kernel",
           "batch_stats/stem/mean"]
  match = lambda p: [x for x in paths if splitter.glob_to_regex(p).fullmatch(x)]
  assert match("params/stem/**") == ["params/stem/kernel", "params/stem/a/b"]
  assert match("params/stem/*") == ["params/stem/kernel"]
  assert match("*/stem/*") == ["params/stem/kernel", "batch_stats/stem/mean"]
  assert match("**/kernel") == ["params/stem/kernel", "params/head/kernel"]
  assert match("params/hea?/kernel") == ["params/head/kernel"]
  assert match("re:params/(stem|head)/kernel") == ["params/stem/kernel",
                                                   "params/head/kernel"]
  assert match("params/stem") == []  # Full match only.


def test_mask_and_counts_on_flax(cnn_variables):
  scheme = splitter.Scheme("stem-and-head", ("params/conv1/**",
                                             "params/head/**"),
                           keep=("params/head/bias",))
  mask = splitter.make_mask(cnn_variables, scheme)
  assert jax.tree.structure(mask) == jax.tree.structure(cnn_variables)
  assert mask["params"]["conv1"]["kernel"].all()
  assert mask["params"]["head"]["kernel"].all()
  assert not mask["params"]["head"]["bias"].any()
  assert not mask["params"]["dense1"]["kernel"].any()
  summary = splitter.summarize(cnn_variables, mask)
  assert summary["withheld"] == 144 + 16 + 1280
  assert summary["paths"] == ["params/conv1/kernel", "params/conv1/bias",
                              "params/head/kernel"]
  assert summary["share"] == pytest.approx(1440 / 207_114)


def test_families_on_flax(cnn_variables):
  names = lambda family: [s.name for s in splitter.family_schemes(
      cnn_variables, family)]
  assert names("layers") == ["layer.conv1", "layer.bn1", "layer.conv2",
                             "layer.bn2", "layer.dense1", "layer.head"]
  assert names("types") == ["type.kernels", "type.biases", "type.norm_scales",
                            "type.norm_offsets", "type.running_stats"]
  assert names("first_k") == ["first.1", "first.2", "first.4"]
  assert names("random_scalars") == ["random-scalars.0.1",
                                     "random-scalars.0.5"]
  layer_bn1 = splitter.family_schemes(cnn_variables, "layers")[1]
  summary = splitter.summarize(
      cnn_variables, splitter.make_mask(cnn_variables, layer_bn1))
  # A norm layer's statistics belong to it.
  assert summary["paths"] == ["params/bn1/scale", "params/bn1/bias",
                              "batch_stats/bn1/mean", "batch_stats/bn1/var"]
  last2 = splitter.family_schemes(cnn_variables, "last_k")[1]
  assert splitter.summarize(cnn_variables, splitter.make_mask(
      cnn_variables, last2))["paths"] == [
          "params/dense1/kernel", "params/dense1/bias", "params/head/kernel",
          "params/head/bias"]


def test_random_scalar_share_is_fixed_and_close(cnn_variables):
  scheme = splitter.family_schemes(cnn_variables, "random_scalars")[0]
  a = splitter.make_mask(cnn_variables, scheme)
  b = splitter.make_mask(cnn_variables, scheme)
  assert all(np.array_equal(x, y) for x, y in
             zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  assert splitter.summarize(cnn_variables, a)["share"] == pytest.approx(
      0.1, abs=0.01)


def test_haiku_model_families_and_masks():
  variables = haiku_variables()
  paths = [leaf.path for leaf in splitter.leaves(variables)]
  assert paths[0] == "params/torso/w"
  assert "state/norm/~/mean_ema/average" in paths
  types = {s.name: s for s in splitter.family_schemes(variables, "types")}
  assert set(types) == {"type.kernels", "type.biases", "type.norm_scales",
                        "type.norm_offsets", "type.running_stats"}
  offsets = splitter.summarize(variables, splitter.make_mask(
      variables, types["type.norm_offsets"]))
  assert offsets["paths"] == ["params/norm/offset"]
  head = splitter.make_mask(variables,
                            splitter.Scheme("head", ("params/head/*",)))
  assert head["params"]["head"]["w"].all() and not head["params"]["torso"][
      "w"].any()
  assert splitter.summarize(variables, head)["withheld"] == 8 * 3 + 3


def test_pattern_matching_nothing_names_nearest_paths(cnn_variables):
  scheme = splitter.Scheme("typo", ("params/hed/kernel",))
  with pytest.raises(InputError, match="matches no path; nearest: "
                     "params/head/kernel"):
    splitter.make_mask(cnn_variables, scheme)


def test_keep_removing_everything_is_an_error(cnn_variables):
  scheme = splitter.Scheme("empty", ("params/head/**",),
                           keep=("params/head/*",))
  with pytest.raises(InputError, match="selects nothing"):
    splitter.make_mask(cnn_variables, scheme)


def write(tmp_path, name, text):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


def test_scheme_file_yaml_and_json(tmp_path, cnn_variables):
  yaml_file = write(tmp_path, "s.yaml", """
name: stem-and-head
description: withhold the first convolution and the classifier
tasks: ["fashion_mnist/cnn"]
withhold:
  - "params/conv1/**"
  - "params/head/**"
keep: []
""")
  scheme = splitter.load_scheme_file(yaml_file)
  assert scheme.withhold == ("params/conv1/**", "params/head/**")
  json_file = write(tmp_path, "s.json", json.dumps(
      {"name": "bn", "withhold": ["re:.*/bn[0-9]/.*"]}))
  ((bn, mask),) = splitter.resolve_schemes(cnn_variables, [json_file],
                                           "fashion_mnist/cnn:smoke")
  assert bn.tasks == ("*",)
  assert splitter.summarize(cnn_variables, mask)["withheld"] == 2 * (
      16 * 2 + 32 * 2)


@pytest.mark.parametrize("text, message", [
    ("name: [unclosed", "malformed scheme file"),
    ("- just\n- a list", "must be a mapping"),
    ("name: Bad Name\nwithhold: ['**']", "must match"),
    ("name: x\nwithhold: []", "selects nothing"),
    ("name: x", "missing required key 'withhold'"),
    ("name: x\nwithhold: ['**']\nexec: os.system", "unknown key"),
    ("name: x\nwithhold: ['re:(']", "bad regular expression"),
    ("name: x\nwithhold: ['**']\nshare: 2", "'share' must be"),
    ("!!python/object/apply:os.system ['true']", "malformed scheme file"),
])
def test_malformed_scheme_files(tmp_path, text, message):
  with pytest.raises(InputError, match=message):
    splitter.load_scheme_file(write(tmp_path, "bad.yaml", text))


def test_scheme_for_another_task_is_refused(tmp_path, cnn_variables):
  path = write(tmp_path, "other.yaml",
               "name: x\ntasks: [digits/mlp]\nwithhold: ['**']")
  with pytest.raises(InputError, match="applies to digits/mlp"):
    splitter.resolve_schemes(cnn_variables, [path], "fashion_mnist/cnn")


def test_unknown_split_lists_families_and_nearest(cnn_variables):
  with pytest.raises(InputError, match="unknown split 'layer.hed'.*nearest: "
                     "layer.head"):
    splitter.resolve_schemes(cnn_variables, ["layer.hed"], "x/y")
  with pytest.raises(InputError, match="unknown split family"):
    splitter.family_schemes(cnn_variables, "towers")


def test_duplicate_masks_are_dropped(cnn_variables):
  schemes = splitter.resolve_schemes(cnn_variables, ["layers", "blocks",
                                                     "first_k"], "x/y")
  names = [s.name for s, _ in schemes]
  assert "block.conv1" not in names and "first.1" not in names
  assert "first.2" in names


@pytest.mark.parametrize("name, text, where", [
    ("bad.yaml", 'name: x\nwithhold:\n  - "a"\n bad: [\n', ":4:2: "),
    ("bad.json", '{"name": "x",\n "withhold": [}\n', ":2:15: "),
])
def test_a_malformed_scheme_file_says_where(tmp_path, name, text, where):
  path = tmp_path / name
  path.write_text(text)
  with pytest.raises(InputError) as error:
    splitter.load_scheme_file(str(path))
  message = str(error.value)
  assert message.startswith(f"{path}{where}malformed scheme file: ")
  assert "\n" not in message
