# GPU call: cartpole/ppo republished at the retuned recipe (peak 6e-3):
# 10 originals, its tuning check at 10 seeds a factor, every family with 10
# seeds and the roles with trajectory access; then, in the time left,
# cifar10/fastnet's tuning check. $1: the clean commit. Needs .whl and
# .data/cifar10 carried.
source tools/device_setup.sh || exit 1
export MCBENCH_GIT_COMMIT=$1
nvidia-smi --query-gpu=name --format=csv,noheader > $OUT/gpu.txt
save() { tar czf $OUT/cartpole.tgz results/originals/cartpole-ppo \
  results/records/cartpole-ppo results/tuning/cartpole-ppo.json 2>/dev/null; }
trap save EXIT
( time timeout 150 python3 -m benchmark.train --task=cartpole/ppo --seeds=10 \
    --workdir=results 2>&1 | tail -4
  time timeout 120 python3 -m benchmark.tune --task=cartpole/ppo \
    --num_originals=10 --workdir=results 2>&1 | tail -9
  time timeout ${LIMIT:-200} python3 -m benchmark.run --task=cartpole/ppo \
    --workdir=results --jobs_per_program=4 --num_originals=10 2>&1 \
    | grep -v "completion:" | tail -8
  time timeout ${TRAJ_LIMIT:-70} python3 -m benchmark.run --task=cartpole/ppo \
    --splits=roles --trajectory_episodes=32 --workdir=results \
    --jobs_per_program=4 --num_originals=10 2>&1 | grep -v "completion:" \
    | tail -4 ) > $OUT/cartpole.log 2>&1
save
ls results/records/cartpole-ppo | wc -l
( time timeout ${TUNE_LIMIT:-120} python3 -m benchmark.tune \
    --task=cifar10/fastnet --workdir=results --data_dir=.data/cifar10 ) \
    > $OUT/fastnet_tune.log 2>&1
cp results/tuning/cifar10-fastnet.json $OUT/ 2>/dev/null
