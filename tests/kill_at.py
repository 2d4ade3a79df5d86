"""Runs an entry point that SIGKILLs itself at a chosen point (fault
injection for the tests; SIGKILL runs no clean-up, like a machine lost).

    python tests/kill_at.py POINT N MODULE [FLAGS...]

POINT is where the Nth event of its kind kills the process:

* `checkpoint`: `storage.save_checkpoint` is called (an original's
  training has finished; N - 1 checkpoints are on disk);
* `commit`: a trained seed's folder is about to move out of the commit
  folder into place (its training's `COMMITTED` is written);
* `record`: a record's temporary file is written and synced, not yet
  renamed over its name.
"""

import os
import runpy
import signal
import sys

from benchmark.sweeps import storage


def main(point: str, count: int, module: str, args: list[str]) -> None:
  events = 0

  def event() -> None:
    nonlocal events
    events += 1
    if events == count:
      sys.stdout.flush()
      os.kill(os.getpid(), signal.SIGKILL)

  if point == "checkpoint":
    save = storage.save_checkpoint

    def save_checkpoint(*a, **k):
      event()
      return save(*a, **k)

    storage.save_checkpoint = save_checkpoint
  elif point in ("commit", "record"):
    replace = os.replace

    def watched_replace(source, destination, **k):
      staged = os.sep + "committing" + os.sep
      text = str(destination)
      if ((point == "commit" and staged in str(source)
           and staged not in text)
          or (point == "record" and os.sep + "records" + os.sep in text
              and text.endswith(".json"))):
        event()
      return replace(source, destination, **k)

    os.replace = watched_replace
  else:
    raise SystemExit(f"unknown point {point!r}")
  sys.argv = [module, *args]
  runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
  main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:])
