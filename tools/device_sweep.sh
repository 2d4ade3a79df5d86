# One resumed chunk of a published sweep on a GPU machine. Source-free: run
# from the repository root of a `run` that carries `.whl`:
#
#   bash tools/device_sweep.sh COMMIT SECONDS TASK [benchmark.run flags...]
#
# Sets up the machine (tools/device_setup.sh, records naming COMMIT: the
# copied tree has no .git), runs `benchmark.run --task=TASK --workdir=results`
# for at most SECONDS, and packs the task's records and tuning result (and
# its originals with PACK_ORIGINALS=1) into $OUT/<task slug>.tgz when it ends, is cut by the timeout, or
# fails: every record already written comes back, and rerunning the same
# command later resumes the sweep. The log is $OUT/<task slug>.log.
set -u
commit=$1 seconds=$2 task=$3
shift 3
source tools/device_setup.sh || exit 1
export MCBENCH_GIT_COMMIT=$commit
slug=$(python3 -c "from benchmark import originals; \
print(originals.task_slug('$task'))")
nvidia-smi --query-gpu=name --format=csv,noheader > "$OUT/gpu.txt"
pack() {  # Originals only when asked: committed ones need not come back.
  tar czf "$OUT/$slug.tgz" --ignore-failed-read \
    ${PACK_ORIGINALS:+"results/originals/$slug"} \
    "results/records/$slug" "results/tuning/$slug.json" 2>/dev/null
}
trap pack EXIT
start=$(date +%s)
timeout "$seconds" python3 -m benchmark.run --task="$task" --workdir=results \
  "$@" 2>&1 | grep --line-buffered -v "completion:" >> "$OUT/$slug.log"
echo "chunk of $task: exit ${PIPESTATUS[0]} after $(( $(date +%s) - start )) s;" \
  "$(find "results/records/$slug" -name '*.json' | wc -l) record files" \
  | tee -a "$OUT/$slug.log"
