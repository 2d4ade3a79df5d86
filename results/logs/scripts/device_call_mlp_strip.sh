# One GPU call of 2026-12-03 (fourth session): the strip fused-Adam kernel
# (11079ad) on the GPU: its tests, its tilings with a profile, the default
# path beside it, then perf against the big job. Run from the repository root
# after `source results/logs/scripts/device_env.sh none`; writes under $OUT
# with the prefix $1.
P=${1:?prefix}
D=--data_dir=.data/fashion-mnist
mkdir -p /usr/share/datasets && ln -sfn "$PWD/.data/fashion-mnist" /usr/share/datasets/fashion-mnist
timeout 100 python3 -m pytest -q -p no:cacheprovider tests/fused_adam_test.py \
  "tests/fashion_mnist_test.py::test_mlp_fused_adam_learns_as_optax_does" > $OUT/${P}_pytest_gpu.log 2>&1
tail -3 $OUT/${P}_pytest_gpu.log
timeout 80 python3 results/logs/scripts/step_probe.py --task=fashion_mnist/mlp --runs=64 \
  --variants=as_is $D > $OUT/${P}_mlp_plain_probe.log 2>&1
tail -1 $OUT/${P}_mlp_plain_probe.log
timeout 150 python3 results/logs/scripts/step_probe.py --task=fashion_mnist/mlp --runs=64 \
  --variants=as_is --implementation=adam=fused --trace_dir=/tmp/tr \
  --fused_tilings=${TILINGS:-16x64x2,32x64x4,128x64x8,32x128x4,64x128x8,16x128x4} $D > $OUT/${P}_mlp_fused_probe.log 2>&1
tail -8 $OUT/${P}_mlp_fused_probe.log
python3 results/logs/scripts/trace_kernels.py /tmp/tr --top=14 > $OUT/${P}_mlp_fused_kernels.log 2>&1
cut -c1-150 $OUT/${P}_mlp_fused_kernels.log
timeout 120 python3 -m benchmark.perf --tasks=fashion_mnist/mlp --runs=64 --updates=200 \
  --repeats=2 --implementation=adam=fused --measurements=vmap,big_job $D \
  --output=$OUT/${P}_mlp_fused.json > $OUT/${P}_mlp_fused.log 2>&1
grep -E "examples/s$|sweep / big|rror" $OUT/${P}_mlp_fused.log
