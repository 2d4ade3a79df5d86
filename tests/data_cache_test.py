"""Decoded or split data cached as arrays (`recipes.cached_arrays`): the
digits split without importing scikit-learn in later processes."""

import os

import numpy as np
import pytest

import tasks.digits as digits
from tasks import recipes


@pytest.fixture(autouse=True)
def cache_root(tmp_path, monkeypatch):
  monkeypatch.setenv("MCBENCH_CACHE_DIR", str(tmp_path))
  return tmp_path


def test_digits_split_is_cached_and_read_back_without_splitting(
    cache_root, monkeypatch):
  first = digits.load_digits(0.2)
  cached = list(cache_root.iterdir())
  assert [p.suffix for p in cached] == [".npz"]
  expected = digits.split_digits(0.2)
  for got, key in zip((*first[0], *first[1]),
                      ("x_train", "y_train", "x_test", "y_test")):
    np.testing.assert_array_equal(got, expected[key])
    assert got.dtype == expected[key].dtype
  assert first[0][0].shape == (1437, 64) and first[1][0].shape == (360, 64)

  def no_split(_):
    raise AssertionError("split again instead of read from the cache")

  monkeypatch.setattr(digits, "split_digits", no_split)
  again = digits.load_digits(0.2)
  np.testing.assert_array_equal(again[0][0], first[0][0])
  with pytest.raises(AssertionError, match="split again"):
    digits.load_digits(0.25)  # Another split is another file.


def test_damaged_cache_is_computed_again(cache_root, capsys):
  path = str(cache_root / "x.npz")
  with open(path, "wb") as f:
    f.write(b"not a zip file")
  arrays = recipes.cached_arrays(path, lambda: {"a": np.arange(3)}, "making a")
  np.testing.assert_array_equal(arrays["a"], np.arange(3))
  assert "making a" in capsys.readouterr().err
  assert sorted(os.listdir(cache_root)) == ["x.npz"]  # No temporary left.
  np.testing.assert_array_equal(
      recipes.cached_arrays(path, lambda: {"a": np.zeros(1)})["a"],
      np.arange(3))


def test_unwritable_cache_still_gives_the_arrays(cache_root, capsys):
  blocker = cache_root / "file"
  blocker.write_text("")  # A file where the cache's folder should be.
  arrays = recipes.cached_arrays(str(blocker / "x.npz"),
                                 lambda: {"a": np.arange(2)})
  np.testing.assert_array_equal(arrays["a"], np.arange(2))
  assert "not cached" in capsys.readouterr().err
