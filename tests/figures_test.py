"""Hardness-curve figures from the committed Fashion-MNIST records."""

import os

from benchmark import figures, records, sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_figure_from_committed_records_is_deterministic(tmp_path):
  good, bad = records.read_all(sweep.records_dir(
      os.path.join(ROOT, "results"), "fashion_mnist/cnn"))
  assert not bad and len(good) == 76
  a = figures.hardness_curves(good, str(tmp_path / "a.png"))
  b = figures.hardness_curves(good[::-1], str(tmp_path / "b.png"))
  data = open(a, "rb").read()
  assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
  assert data == open(b, "rb").read()
