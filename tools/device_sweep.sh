# One resumed chunk of a published sweep on a machine that caps a command's
# time (the GPU machines: 10 minutes). Run from the repository root of a
# `run` that carries `.whl` (and `.envpool` for envpool tasks):
#
#   bash tools/device_sweep.sh COMMIT SECONDS TASK [benchmark.run flags...]
#
# Sets up the machine (tools/device_setup.sh; records name COMMIT, since the
# copied tree has no .git), runs `benchmark.run --task=TASK --workdir=results`
# for at most SECONDS, and packs the task's records and tuning result (and
# its originals with PACK_ORIGINALS=1) into $OUT/<task slug>.tgz when it
# ends, is cut by the timeout, or fails: every record already written comes
# back, and rerunning the same command later resumes the sweep. The log is
# $OUT/<task slug>.log. Environment:
#   ENVPOOL=atari|doom    the slim envpool family to unpack (envpool tasks)
#   TUNE_SECONDS=N        first run the recipe's tuning check
#                         (`benchmark.tune`) for at most N seconds
#   PACK_ORIGINALS=1      pack the task's originals too (only when new:
#                         the copy back is limited in size)
set -u
commit=$1 seconds=$2 task=$3
shift 3
source tools/device_setup.sh || exit 1
export MCBENCH_GIT_COMMIT=$commit
slug=$(python3 -c "from benchmark.sweeps import originals; \
print(originals.task_slug('$task'))")
command -v nvidia-smi > /dev/null &&
  nvidia-smi --query-gpu=name --format=csv,noheader > "$OUT/gpu.txt"
pack() {  # Originals only when asked: committed ones need not come back.
  tar czf "$OUT/$slug.tgz" --ignore-failed-read \
    ${PACK_ORIGINALS:+"results/originals/$slug"} \
    "results/records/$slug" "results/tuning/$slug.json" 2>/dev/null
}
trap pack EXIT
# Flags that name the data or the task's implementation apply to the
# tuning check too.
shared=()
for flag in "$@"; do
  case $flag in --data_dir=*|--implementation=*) shared+=("$flag");; esac
done
if [ "${TUNE_SECONDS:-0}" -gt 0 ]; then
  timeout "$TUNE_SECONDS" python3 -m benchmark.tune --task="$task" \
    --workdir=results "${shared[@]}" > "$OUT/$slug.tune.log" 2>&1
  echo "tuning check: exit $?" | tee -a "$OUT/$slug.tune.log"
fi
start=$(date +%s)
timeout "$seconds" python3 -m benchmark.run --task="$task" --workdir=results \
  "$@" 2>&1 | grep --line-buffered -v "completion:" >> "$OUT/$slug.log"
echo "chunk of $task: exit ${PIPESTATUS[0]} after $(( $(date +%s) - start )) s;" \
  "$(find "results/records/$slug" -name '*.json' | wc -l) record files" \
  | tee -a "$OUT/$slug.log"
