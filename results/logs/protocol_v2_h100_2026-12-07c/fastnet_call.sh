# GPU call of 2026-12-07 (third session): cifar10/fastnet's tuning check
# (TUNE_LIMIT seconds; 0 skips it), then a resumed chunk of its v2 sweep
# (LIMIT seconds). Needs .whl and .data/cifar10 carried; $1: the clean
# commit. Everything written comes back in $OUT even when a step is cut.
source tools/device_setup.sh || exit 1
export MCBENCH_GIT_COMMIT=$1
D=--data_dir=.data/cifar10
if [ "${TUNE_LIMIT:-0}" -gt 0 ]; then
  ( time timeout "$TUNE_LIMIT" python3 -m benchmark.tune \
      --task=cifar10/fastnet --workdir=results $D ) > $OUT/fastnet_tune.log 2>&1
  cp results/tuning/cifar10-fastnet.json $OUT/ 2>/dev/null
fi
bash tools/device_sweep.sh $1 ${LIMIT:-300} cifar10/fastnet $D --vmap_size=1
