"""mcbench's benchmark layer, in floors (docs/ARCHITECTURE.md): `science`
(splits, procedures, hardness), `engine` (compiled completion runs),
`sweeps` (originals, records), `publishing` (leaderboards, page, findings),
`diagnostics` (speed, CI regression); the modules beside them are the
command lines, `python -m benchmark.<command>`."""

import os

# ViZDoom (envpool) forks its game processes from several threads at once,
# and OpenBLAS's fork handler then deadlocked joining its worker threads
# (BUILD_NOTES, "ViZDoom's forks deadlock in OpenBLAS's fork handler").
# With one BLAS thread there is nothing to join; mcbench's host-side linear
# algebra is tiny. It must be set before numpy or scipy load OpenBLAS, hence
# here, the first module of every entry point; a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
