# GPU call 1 of 2026-12-07 (second session): CartPole recipe candidates,
# cifar10/fastnet's tuning check and a speed comparison of its batched
# programs (to choose the sweep's settings). Needs .whl and .data/cifar10 carried; $1: the clean commit.
source tools/device_setup.sh || exit 1
export MCBENCH_GIT_COMMIT=$1
D=--data_dir=.data/cifar10
# CartPole recipe candidates at 10 originals and 10 seeds a factor (its
# published count), in case 1.5e-3 fails the check at alpha 0.9.
for lr in 2.5e-3 4e-3; do
  timeout 75 python3 -m benchmark.tune --task=cartpole/ppo:learning_rate=$lr \
    --num_originals=10 --workdir=/tmp/cp$lr 2>&1 | tail -9
  cp /tmp/cp$lr/tuning/*.json $OUT/ 2>/dev/null
done > $OUT/cartpole_candidates.log 2>&1
( time timeout 150 python3 -m benchmark.tune --task=cifar10/fastnet \
    --workdir=results $D ) > $OUT/fastnet_tune.log 2>&1
cp results/tuning/cifar10-fastnet.json $OUT/ 2>/dev/null
for impl in "" "--implementation=conv_kernel_grad=pallas"; do
  timeout 110 python3 -m benchmark.perf --tasks=cifar10/fastnet $D $impl \
    --runs=20 --updates=40 --repeats=2 --measurements=in_turn,vmap \
    --compilation_cache_dir= 2>&1 | tail -12
done > $OUT/fastnet_perf.log 2>&1
