# One GPU call of 2026-12-03 (fifth session): the MLP sweep against its big
# job without deterministic ops (the big job is compiled without them,
# `benchmark.perf.BIG_JOB_OPTIONS`), alone and with Triton's GEMMs off.
# Run from the repository root after `source results/logs/scripts/device_env.sh none`;
# writes one log and one JSON per variant under $OUT with the prefix $1.
P=${1:?prefix}
MLP="--tasks=fashion_mnist/mlp --runs=64 --updates=200 --repeats=2 --measurements=vmap,big_job --data_dir=.data/fashion-mnist"
for variant in "nodet:" "nodet_notriton:--xla_gpu_enable_triton_gemm=false" \
    "det_notriton:--xla_gpu_deterministic_ops=true --xla_gpu_enable_triton_gemm=false"; do
  label=${variant%%:*} flags=${variant#*:}
  XLA_FLAGS="$flags" timeout 120 python3 -m benchmark.perf $MLP --output=$OUT/${P}_mlp_$label.json \
    > $OUT/${P}_mlp_$label.log 2>&1
  echo "[$label] rc=$? $(grep -hE 'examples/s$|sweep / big job' $OUT/${P}_mlp_$label.log | tr '\n' ' ')"
done
