# One GPU call of 2026-12-03 (fifth session): XLA:GPU runs a while loop of
# unknown trip count by copying its condition to the host every iteration,
# so a completion run's update loop leaves the GPU idle between updates.
# This times the MLP sweep and its big job as they are, with while loops and
# conditionals recorded into command buffers (the condition stays on the
# device), and that without deterministic ops or Triton's GEMMs; then
# digits/mlp (small steps, where the round trip weighs most) as it is and
# with the command buffers. Run from the repository root after
# `source results/logs/scripts/device_env.sh none`; writes under $OUT with
# the prefix $1.
P=${1:?prefix}
BASE="$XLA_FLAGS"
WHILE="--xla_gpu_enable_command_buffer=+WHILE,+CONDITIONAL"
MLP="--tasks=fashion_mnist/mlp --runs=64 --updates=200 --repeats=2 --measurements=vmap,big_job --data_dir=.data/fashion-mnist"
DIGITS="--tasks=digits/mlp --runs=64 --updates=400 --repeats=2 --measurements=one_run,loop,vmap"
perf() {  # label, flags, perf arguments...
  label=$1 flags=$2; shift 2
  XLA_FLAGS="$flags" timeout ${LIMIT:-120} python3 -m benchmark.perf "$@" \
    --output=$OUT/${P}_$label.json > $OUT/${P}_$label.log 2>&1
  echo "[$label] rc=$? $(grep -hE 'sweep / (big job|loop)' $OUT/${P}_$label.log)"
}
perf mlp_base "$BASE" $MLP
perf mlp_while "$BASE $WHILE" $MLP --trace_dir=/tmp/tr_while
python3 results/logs/scripts/trace_kernels.py /tmp/tr_while --top=12 > $OUT/${P}_mlp_while_kernels.log 2>&1
grep -E "Stream|span" $OUT/${P}_mlp_while_kernels.log | cut -c1-150
perf mlp_while_nodet "$WHILE" $MLP
perf mlp_while_notriton "$BASE $WHILE --xla_gpu_enable_triton_gemm=false" $MLP
perf digits_base "$BASE" $DIGITS
perf digits_while "$BASE $WHILE" $DIGITS
