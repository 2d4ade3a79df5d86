# The CI metric regression's false-alarm and detection figures (issue 32),
# on this machine's CPU:
#
#   bash tools/regression_study.sh pins [CONFIGS]     # false alarms
#   bash tools/regression_study.sh drifts [VARIANTS]  # detection
#
# `pins` runs `benchmark.regression --check` on every committed reference
# configuration (or CONFIGS, comma-separated) under no pin and under every
# instruction-set pin XLA:CPU offers (--xla_cpu_max_isa), one summary line
# each: a metric out of band there is a false alarm, since the code is the
# reference's. `drifts` checks the digits reference against a rerun whose
# recipe has one setting changed (a `digits/mlp:key=value` task, originals
# retrained with it, as a code change of the recipe would): a flagged
# metric there is a detection. Each line ends with the check's summary.
set -u
python=${PYTHON:-.venv/bin/python}
what=${1:-pins}
summary() { grep -E "^mcbench (regression|: error)" | tail -1; }
if [ "$what" = pins ]; then
  configs=${2:-$(ls results/reference | sed 's/\.json$//' | paste -sd,)}
  grep -m1 "model name" /proc/cpuinfo
  for isa in "" SSE4_2 AVX AVX2 AVX512; do
    for config in ${configs//,/ }; do
      echo "pin ${isa:-none}, $config: $(XLA_FLAGS=${isa:+--xla_cpu_max_isa=$isa} \
        $python -m benchmark.regression --check --configs=$config 2>&1 \
        | tee /tmp/regression-$config-${isa:-none}.log | summary)"
    done
  done
elif [ "$what" = drifts ]; then
  variants=${2:-peak_learning_rate=1.5e-3,peak_learning_rate=6e-3,batch_size=32,warmup_updates=100,hidden_sizes=(48,48)}
  scratch=$(mktemp -d)
  $python - "$scratch" "$variants" <<'PY'
import json, os, re, sys
scratch, variants = sys.argv[1:]
reference = json.load(open("results/reference/digits.json"))
# Commas outside parentheses part the variants: hidden_sizes=(48,48) stays.
for i, change in enumerate(re.split(r",(?![^(]*\))", variants)):
  os.makedirs(f"{scratch}/{i}")
  reference["settings"]["task"] = f"digits/mlp:{change}"
  json.dump(reference, open(f"{scratch}/{i}/digits.json", "w"))
PY
  for folder in "$scratch"/*; do
    task=$(grep -o '"task": "[^"]*"' "$folder/digits.json" | cut -d'"' -f4)
    echo "$task: $($python -m benchmark.regression --check --configs=digits \
      --reference_dir="$folder" 2>&1 \
      | tee "/tmp/regression-drift-${folder##*/}.log" | summary)"
  done
  rm -rf "$scratch"
fi
