"""The committed results: each task's leaderboard rebuilds byte for byte from
its records, and every record was measured against the committed originals."""

import glob
import os

import pytest

from benchmark import leaderboard, records, storage

RESULTS = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "results")
TASKS = sorted(os.path.basename(d) for d in
               glob.glob(os.path.join(RESULTS, "records", "*")))


def test_there_are_committed_results():
  assert {"fashion_mnist-cnn", "cifar10-fastnet"} <= set(TASKS)


@pytest.mark.parametrize("slug", TASKS)
def test_committed_leaderboard_rebuilds_from_its_records(slug, tmp_path):
  rebuilt = tmp_path / f"{slug}.md"
  _, bad = leaderboard.write(os.path.join(RESULTS, "records", slug),
                             str(rebuilt))
  assert not bad
  committed = os.path.join(RESULTS, "leaderboard", f"{slug}.md")
  assert rebuilt.read_bytes() == open(committed, "rb").read()


@pytest.mark.parametrize("slug", TASKS)
def test_records_were_measured_against_the_committed_originals(slug):
  manifests = [storage.read_json(path) for path in sorted(glob.glob(
      os.path.join(RESULTS, "originals", slug, "seed-*", "manifest.json")))]
  hashes = [m["content_sha256"] for m in manifests]
  assert len(hashes) >= 3
  good, bad = records.read_all(os.path.join(RESULTS, "records", slug))
  assert good and not bad
  for record in good:
    assert [o["content_sha256"] for o in record["originals"]] == hashes
    assert record["originals_sha256"] == storage.json_hash(hashes)
