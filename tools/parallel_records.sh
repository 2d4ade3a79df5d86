#!/usr/bin/env bash
# Runs completion records of one task for several (split, procedure) pairs
# at once, one `benchmark.run` process each, for tasks whose runs cannot be
# vmapped (envpool pools) on a machine one process leaves mostly idle. Each
# process writes its own record into RESULTS/records; rebuild the boards
# afterwards with `python -m benchmark.leaderboard`.
#   bash tools/parallel_records.sh TASK BUDGET_FRACTION \
#     NUM_ORIGINALS SEEDS SPLIT:PROCEDURE... [-- RESULTS]
# Logs go to workdir/records/<task>__<split>__<procedure>.log. The
# originals must exist (benchmark.train, parallel_seeds.sh): a missing one
# would be trained by one process alone while the others wait for it (the
# training lock in benchmark/sweeps/originals.py), wasting a call's time.
set -uo pipefail
task=$1 budget=$2 originals=$3 seeds=$4
shift 4
pairs=() results=results
while (($#)); do
  if [ "$1" = -- ]; then results=$2; break; fi
  pairs+=("$1"); shift
done
missing=$(python3 -c "
import os, sys
from benchmark.sweeps import originals
for seed in range($originals):
  path = originals.original_dir('$results', '$task', seed)
  if not os.path.isfile(os.path.join(path, 'manifest.json')):
    print(path)")
if [ -n "$missing" ]; then
  echo "parallel_records: train the originals first; missing: $missing" >&2
  exit 2
fi
fraction=$(python3 -c "print(round(0.9 / ${#pairs[@]}, 3))")
mkdir -p workdir/records
task_name=$(printf '%s' "$task" | tr '/:=,' '----')
source "$(dirname "$0")/wait_all.sh"
pids=() labels=() logs=()
for pair in "${pairs[@]}"; do
  split=${pair%%:*} procedure=${pair#*:}
  log=workdir/records/${task_name}__${split}__${procedure}.log
  XLA_PYTHON_CLIENT_MEM_FRACTION=$fraction python3 -m benchmark.run \
    --task="$task" --num_originals="$originals" --seeds="$seeds" \
    --splits="$split" --procedures="$procedure" \
    --budget_fraction="$budget" --workdir="$results" > "$log" 2>&1 &
  pids+=($!) labels+=("$log") logs+=("$log")
done
wait_all
