# One GPU call: cartpole/ppo published under protocol v2 at commit $1 (its
# originals, every family with 10 seeds, and the roles with trajectory
# access), results tarred into $OUT even when cut.
source tools/device_setup.sh || exit 1
export MCBENCH_GIT_COMMIT=$1
nvidia-smi --query-gpu=name --format=csv,noheader > $OUT/gpu.txt
save() { tar czf $OUT/cartpole.tgz results/originals/cartpole-ppo \
  results/records/cartpole-ppo 2>/dev/null; }
trap save EXIT
( timeout 150 python3 -m benchmark.train --task=cartpole/ppo --seeds=10 \
    --workdir=results 2>&1 | tail -5
  timeout ${LIMIT:-300} python3 -m benchmark.run --task=cartpole/ppo \
    --workdir=results --jobs_per_program=4 --num_originals=10 2>&1 | grep -v "completion:" | tail -30
  timeout ${TRAJ_LIMIT:-120} python3 -m benchmark.run --task=cartpole/ppo --splits=roles \
    --trajectory_episodes=32 --workdir=results --jobs_per_program=4 --num_originals=10 2>&1 \
    | grep -v "completion:" | tail -5 ) > $OUT/cartpole.log 2>&1
save; ls results/records/cartpole-ppo | wc -l
