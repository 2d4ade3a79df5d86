# One GPU call of 2026-12-03 (fifth session): issue 7's sweep on the one GPU
# lent (a mesh of one device, the path a machine of N GPUs spreads): one
# task, one split family, all procedures, 8 seeds, on the committed
# originals. Run from the repository root after
# `source results/logs/scripts/device_env.sh none`, with
# results/originals/fashion_mnist-cnn present; writes its log and its
# records and leaderboard (one archive) under $OUT with the prefix $1.
P=${1:?prefix}
WD=/tmp/${P}_wd
rm -rf $WD && mkdir -p $WD/originals && cp -r results/originals/fashion_mnist-cnn $WD/originals/
start=$(date +%s.%N)
timeout ${LIMIT:-480} python3 -m benchmark.run --task=fashion_mnist/cnn --splits=layers \
  --procedures=T1,T2,T3,T4 --seeds=8 --num_devices=1 --jobs_per_program=4 \
  --data_dir=.data/fashion-mnist --workdir=$WD > $OUT/${P}_one_gpu_sweep.log 2>&1
rc=$?
echo "rc=$rc wall_s=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")" | tee -a $OUT/${P}_one_gpu_sweep.log
tar -czf $OUT/${P}_one_gpu_records.tgz -C $WD records leaderboard
grep -E "compile|wall|records|GPU|devices" $OUT/${P}_one_gpu_sweep.log | tail -15
