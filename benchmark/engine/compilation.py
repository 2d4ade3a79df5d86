"""XLA compilation: the persistent cache, and how much time compiling took.

A sweep compiles one program per shape and reuses it; a second sweep of the
same architecture and shapes (a rerun, another split family, another
process) finds its programs in JAX's persistent compilation cache
(`jax_compilation_cache_dir`) instead of compiling them again.
`compile_stats` sums JAX's own monitoring events, so that compile time is
reported apart from run time.
"""

from __future__ import annotations

import os
import threading
from typing import NamedTuple

import jax
from jax import monitoring

DEFAULT_CACHE_DIR = os.path.join(
    os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
    "mcbench", "jax")
_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
_CACHE_HIT = "/jax/compilation_cache/cache_hits"
_CACHE_MISS = "/jax/compilation_cache/cache_misses"


def enable_cache(directory: str, min_compile_time_s: float = 0.0) -> None:
  """Keeps compiled programs in `directory` across processes ('' leaves
  the cache off). Programs that compiled in under `min_compile_time_s` are
  not written."""
  if not directory:
    return
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs",
                    min_compile_time_s)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


class CompileStats(NamedTuple):
  """Totals since the meter started: seconds the backend spent compiling
  (cache misses), and programs found in or missing from the cache."""

  compile_time_s: float
  cache_hits: int
  cache_misses: int

  def __add__(self, other: "CompileStats") -> "CompileStats":
    return CompileStats(*(a + b for a, b in zip(self, other)))

  def __sub__(self, other: "CompileStats") -> "CompileStats":
    return CompileStats(*(a - b for a, b in zip(self, other)))


class _Totals:
  """Process-wide sums of JAX's compile events (listeners cannot be
  removed, so there is one set, registered on first use)."""

  def __init__(self):
    self.lock = threading.Lock()
    self.values = [0.0, 0, 0]
    monitoring.register_event_duration_secs_listener(self._on_duration)
    monitoring.register_event_listener(self._on_event)

  def _on_duration(self, event: str, duration: float, **_) -> None:
    if event == _BACKEND_COMPILE:
      with self.lock:
        self.values[0] += duration

  def _on_event(self, event: str, **_) -> None:
    index = {_CACHE_HIT: 1, _CACHE_MISS: 2}.get(event)
    if index is not None:
      with self.lock:
        self.values[index] += 1


_totals: _Totals | None = None


def compile_stats() -> CompileStats:
  """The process's compile totals so far; differences of two calls measure
  what happened in between."""
  global _totals
  if _totals is None:
    _totals = _Totals()
  with _totals.lock:
    return CompileStats(*_totals.values)
