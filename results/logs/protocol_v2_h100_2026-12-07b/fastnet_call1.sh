# GPU call 1 of 2026-12-07 (second session): cifar10/fastnet's tuning check
# and a speed comparison of its batched programs (to choose the sweep's
# settings), then a first chunk of its v2 sweep. Needs .whl and
# .data/cifar10 carried; $1: the clean commit.
source tools/device_setup.sh || exit 1
export MCBENCH_GIT_COMMIT=$1
D=--data_dir=.data/cifar10
( time timeout 150 python3 -m benchmark.tune --task=cifar10/fastnet \
    --workdir=results $D ) > $OUT/fastnet_tune.log 2>&1
cp results/tuning/cifar10-fastnet.json $OUT/ 2>/dev/null
for impl in "" "--implementation=conv_kernel_grad=pallas"; do
  timeout 110 python3 -m benchmark.perf --tasks=cifar10/fastnet $D $impl \
    --runs=20 --updates=40 --repeats=2 --measurements=in_turn,vmap \
    --compilation_cache_dir= 2>&1 | tail -12
done > $OUT/fastnet_perf.log 2>&1
bash tools/device_sweep.sh $1 ${LIMIT:-200} cifar10/fastnet $D --vmap_size=1
