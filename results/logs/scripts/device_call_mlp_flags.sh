# One GPU call of 2026-12-03 (fourth session): the MLP sweep's default path
# (optax's Adam) under XLA:GPU options for its batched matrix products.
# Run from the repository root after `source results/logs/scripts/device_env.sh none`;
# writes under $OUT with the prefix $1.
P=${1:?prefix}
D=--data_dir=.data/fashion-mnist
BASE="$XLA_FLAGS"
for flags in "" "--xla_gpu_enable_triton_gemm=false" "--xla_gpu_enable_cublaslt=true" \
    "--xla_gpu_enable_triton_gemm=false --xla_gpu_enable_cublaslt=true"; do
  XLA_FLAGS="$BASE $flags" timeout 60 python3 results/logs/scripts/step_probe.py \
    --task=fashion_mnist/mlp --runs=64 --variants=as_is $D >> $OUT/${P}_mlp_flags_probe.log 2>&1
  echo "[$flags] $(tail -1 $OUT/${P}_mlp_flags_probe.log)"
done
