"""The committed results: each task's leaderboard rebuilds byte for byte from
its protocol v2 records (a folder of protocol v1 records alone is refused,
with its notice), the published build would accept them (clean commits), and
every record was measured against the committed originals."""

import glob
import os
import re
import shutil

import jax
import jax.numpy as jnp
import pytest

from benchmark.publishing import board, leaderboard
from benchmark.science import splitter
from benchmark.sweeps import records, storage
from contract.spec import InputError
from tasks import cifar10, recipes

RESULTS = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "results")
TASKS = sorted(os.path.basename(d) for d in
               glob.glob(os.path.join(RESULTS, "records", "*")))


def current_records(slug: str) -> tuple[list[dict], list[str]]:
  """The committed protocol v2 records of a task, and the notice for its
  protocol v1 ones."""
  good, bad = records.read_all(os.path.join(RESULTS, "records", slug))
  assert good and not bad
  return board.current_only(good, os.path.join(RESULTS, "records", slug))


def test_there_are_committed_results():
  assert {"fashion_mnist-cnn", "cifar10-fastnet"} <= set(TASKS)


@pytest.mark.parametrize("slug", TASKS)
def test_committed_leaderboard_rebuilds_from_its_records(slug, tmp_path):
  rebuilt = tmp_path / f"{slug}.md"
  source = os.path.join(RESULTS, "records", slug)
  current, notices = current_records(slug)
  if not current:  # Protocol v1 alone: refused, never mixed with v2.
    with pytest.raises(InputError, match=re.escape(notices[0])):
      leaderboard.write(source, str(rebuilt))
    return
  # The published folder: its records must come from clean commits.
  leaderboard.check_publishable(current, RESULTS)
  _, bad = leaderboard.write(source, str(rebuilt))
  assert bad == notices
  committed = os.path.join(RESULTS, "leaderboard", f"{slug}.md")
  assert rebuilt.read_bytes() == open(committed, "rb").read()


@pytest.mark.parametrize("slug", TASKS)
def test_records_were_measured_against_the_committed_originals(slug):
  manifests = [storage.read_json(path) for path in sorted(glob.glob(
      os.path.join(RESULTS, "originals", slug, "seed-*", "manifest.json")))]
  hashes = [m["content_sha256"] for m in manifests]
  assert hashes  # 3 for most tasks; Breakout has 2 (device budget).
  good, bad = records.read_all(os.path.join(RESULTS, "records", slug))
  assert good and not bad
  for record in good:
    assert [o["content_sha256"] for o in record["originals"]] == hashes
    assert record["originals_sha256"] == storage.json_hash(hashes)


@pytest.mark.parametrize("model", cifar10.MODELS)
def test_committed_cifar_originals_match_their_manifests_and_recipe(model):
  """The checkpoints are the ones the manifests hash, trained with the
  task's current recipe (a recipe change needs new originals)."""
  directories = sorted(glob.glob(os.path.join(
      RESULTS, "originals", f"cifar10-{model}", "seed-*")))
  assert len(directories) >= 3
  config = cifar10.get_config(model, [])
  init = recipes.flax_init(cifar10.make_network(model, config),
                           jnp.zeros((1, 32, 32, 3), jnp.uint8))
  like = jax.eval_shape(init, jax.random.key(0))
  for directory in directories:
    manifest = storage.read_json(os.path.join(directory, "manifest.json"))
    assert manifest["task"] == f"cifar10/{model}"
    assert manifest["task_config"] == storage.as_json(config.to_dict())
    variables = storage.restore_checkpoint(
        os.path.join(directory, "checkpoint"), like)
    assert storage.content_hash(variables) == manifest["content_sha256"]


def test_committed_leaderboard_page_and_tables_rebuild_byte_for_byte(tmp_path):
  """`python -m benchmark.leaderboard` over the committed records (and the
  manifests that publish their originals) gives the committed outputs;
  while no committed record is of protocol v2, it refuses to build."""
  target = str(tmp_path / "results")
  shutil.copytree(os.path.join(RESULTS, "records"),
                  os.path.join(target, "records"))
  for manifest in glob.glob(os.path.join(RESULTS, "originals", "*", "seed-*",
                                         "manifest.json")):
    copy = os.path.join(target, os.path.relpath(manifest, RESULTS))
    os.makedirs(os.path.dirname(copy))
    shutil.copy(manifest, copy)
  notices = [line for slug in TASKS for line in current_records(slug)[1]]
  if not any(current_records(slug)[0] for slug in TASKS):
    with pytest.raises(InputError, match="no valid record of protocol v2"):
      leaderboard.build_all(target)
    return
  written, bad = leaderboard.build_all(target)
  assert bad == [line.replace(RESULTS, target) for line in notices]
  texts = [p for p in written if not p.endswith(".png")]
  assert os.path.join(target, "LEADERBOARD.md") in texts
  assert os.path.join(target, "site", "index.html") in texts
  for path in texts:
    relative = os.path.relpath(path, target)
    assert open(path, "rb").read() == open(
        os.path.join(RESULTS, relative), "rb").read(), relative
  for path in written:  # Figures: present (their bytes depend on fonts).
    assert os.path.isfile(os.path.join(RESULTS, os.path.relpath(path,
                                                                target)))


def test_committed_submissions_are_valid_and_on_the_leaderboard():
  schemes = sorted(glob.glob(os.path.join(RESULTS, "submissions", "*")))
  assert schemes
  board_text = open(os.path.join(RESULTS, "LEADERBOARD.md")).read()
  for path in schemes:
    scheme = splitter.load_scheme_file(path)
    assert f"| {scheme.name} |" in board_text
    assert glob.glob(os.path.join(RESULTS, "records", "*",
                                  f"{scheme.name}__*.json"))
