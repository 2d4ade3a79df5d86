#!/usr/bin/env bash
# Trains seeds 0..N-1 of a task's originals in N processes at once, for tasks
# whose runs cannot be vmapped (envpool pools) on a machine one process
# leaves mostly idle. Each process is resumable in its own workdir,
# `workdir/parallel/seed-<k>` (log `<task>.log` there, so two tasks can train
# side by side); finished seeds are copied into `RESULTS`.
#   bash tools/parallel_seeds.sh TASK N TIME_LIMIT_S [RESULTS]
# Exit status 75 if any seed paused at the time limit (rerun to continue).
set -uo pipefail
task=$1 n=$2 limit=$3 results=${4:-results}
fraction=$(python3 -c "print(round(0.9 / $n, 3))")
log_name=$(printf '%s' "$task" | tr '/:=,' '----').log
source "$(dirname "$0")/wait_all.sh"
pids=() labels=() logs=()
for ((k = 0; k < n; k++)); do
  mkdir -p "workdir/parallel/seed-$k"
  XLA_PYTHON_CLIENT_MEM_FRACTION=$fraction python3 -m benchmark.train \
    --task="$task" --seeds=1 --first_seed="$k" \
    --workdir="workdir/parallel/seed-$k" --resumable --time_limit_s="$limit" \
    >> "workdir/parallel/seed-$k/$log_name" 2>&1 &
  pids+=($!) labels+=("seed $k") logs+=("workdir/parallel/seed-$k/$log_name")
done
wait_all
status=$?
for ((k = 0; k < n; k++)); do
  [ "${codes[$k]}" = 0 ] || continue
  for trained in workdir/parallel/seed-"$k"/originals/*/seed-"$k"; do
    target=$results/originals/$(basename "$(dirname "$trained")")
    mkdir -p "$target" && rm -rf "$target/seed-$k" && cp -r "$trained" "$target/"
  done
done
exit "$status"
