# One GPU call: the MinAtar originals against protocol v2's convergence rule
# (evaluation error measured), and Breakout recipe candidates, 3 processes.
source tools/device_setup.sh || exit 1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > $OUT/gpu.txt
for g in breakout asterix spaceinvaders; do
  timeout 150 python3 -m benchmark.train --task=minatar-$g/ppo --seeds=3 \
    --workdir=results 2>&1 | grep -v Warning | tail -6
done > $OUT/committed.log 2>&1
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.3
run() {  # name task seeds
  /usr/bin/time -f "$1 wall %e s" timeout ${LIMIT:-420} python3 -m benchmark.train \
    --task=$2 --seeds=$3 --workdir=/tmp/$1 > $OUT/$1.log 2>&1
  echo "exit $?" >> $OUT/$1.log
}
run current minatar-breakout/ppo 8 &
run frames20m minatar-breakout/ppo:total_frames=20000000 6 &
run lr1e-3 minatar-breakout/ppo:learning_rate=0.001 8 &
wait
tail -3 $OUT/*.log
