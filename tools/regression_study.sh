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
# retrained with it, as a code change of the recipe would) or one sweep
# setting changed (`settings.KEY=VALUE`: the completion alone): a flagged
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
  variants=${2:-peak_learning_rate=1.5e-3,peak_learning_rate=6e-3,batch_size=32,warmup_updates=100}
  scratch=$(mktemp -d)
  $python - "$scratch" "$variants" <<'PY'
import json, os, sys
import yaml
scratch, variants = sys.argv[1:]
reference = json.load(open("results/reference/digits.json"))
# `settings.KEY=VALUE` changes a sweep setting instead (the completion
# alone, originals as the reference's), VALUE as YAML reads it.
for i, change in enumerate(variants.split(",")):
  os.makedirs(f"{scratch}/{i}")
  changed = json.loads(json.dumps(reference))
  if change.startswith("settings."):
    key, value = change[len("settings."):].split("=", 1)
    changed["settings"][key] = yaml.safe_load(value)
  else:
    changed["settings"]["task"] = f"digits/mlp:{change}"
  json.dump(changed, open(f"{scratch}/{i}/digits.json", "w"))
  open(f"{scratch}/{i}/change", "w").write(change)
PY
  for folder in "$scratch"/*; do
    echo "$(cat "$folder/change"): $($python -m benchmark.regression --check --configs=digits \
      --reference_dir="$folder" 2>&1 \
      | tee "/tmp/regression-drift-${folder##*/}.log" | summary)"
  done
  rm -rf "$scratch"
fi
