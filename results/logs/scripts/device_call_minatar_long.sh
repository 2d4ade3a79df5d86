# One GPU call of 2026-12-03 (fourth session): MinAtar conv=bands sweeps
# against the big job over 40 updates (4x the earlier calls), so the big
# job's spread between processes shrinks. Run from the repository root after
# `source results/logs/scripts/device_env.sh none`; writes under $OUT with
# the prefix $1; GAMES overrides the games.
P=${1:?prefix}
for game in ${GAMES:-asterix breakout spaceinvaders}; do
  timeout ${SECONDS_PER_GAME:-170} python3 -m benchmark.perf --tasks=minatar-$game/ppo --runs=16 \
    --updates=40 --repeats=2 --implementation=conv=bands --measurements=vmap,big_job \
    --output=$OUT/${P}_minatar_${game}_long.json > $OUT/${P}_minatar_${game}_long.log 2>&1
  grep -E "examples/s$|sweep / big|rror|wall|compile" $OUT/${P}_minatar_${game}_long.log | cut -c1-160
done
