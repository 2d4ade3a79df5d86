#!/usr/bin/env bash
# Trains seed 0 of several recipe variants of one task at once, one process
# each (envpool tasks cannot be vmapped), to compare recipes on a machine one
# process leaves mostly idle. Each variant is a task-name override list
# (`key=value,...`, tasks/registry.py) and is resumable in its own workdir,
# `workdir/variants/<overrides>`.
#   bash results/logs/scripts/parallel_variants.sh TASK TIME_LIMIT_S OVERRIDES...
# Exit status 75 if any variant paused at the time limit (rerun to continue).
set -uo pipefail
task=$1 limit=$2
shift 2
fraction=$(python3 -c "print(round(0.9 / $#, 3))")
source "$(dirname "$0")/wait_all.sh"
pids=() labels=() logs=()
for overrides in "$@"; do
  dir=workdir/variants/$(echo "$overrides" | tr ',=' '_-')
  mkdir -p "$dir"
  XLA_PYTHON_CLIENT_MEM_FRACTION=$fraction python3 -m benchmark.train \
    --task="$task:$overrides" --seeds=1 --workdir="$dir" --resumable \
    --time_limit_s="$limit" >> "$dir/train.log" 2>&1 &
  pids+=($!) labels+=("$dir") logs+=("$dir/train.log")
done
wait_all
