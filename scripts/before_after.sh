#!/bin/bash
# Before and after a change, on one machine: two builds' tvl-bench (quick profile) alternated
# A B B A A B, three runs a side (9 repetitions each), then `tvl capacity` for the threads and
# asyncloop brokers at 10 and 1,000 subscribers, A then B. Compare with
#   tvl compare OUT/A OUT/B --metrics all
# (docs/compare.md). Run it on a quiet machine: anything else running falls on both sides, but
# widens the noise.
#   scripts/before_after.sh A_BUILD_DIR B_BUILD_DIR OUT_DIR
set -u
if [ $# -ne 3 ]; then
  echo "usage: $0 A_BUILD_DIR B_BUILD_DIR OUT_DIR (each build dir holds tvl and tvl-bench)" >&2
  exit 2
fi
A=$1 B=$2 OUT=$3
mkdir -p "$OUT/A" "$OUT/B" "$OUT/capA" "$OUT/capB"
n=0
for side in A B B A A B; do
  n=$((n + 1))
  dir=${!side}
  echo "$(date +%T) tvl-bench $side, run $n"
  "$dir/tvl-bench" --tvl_profile=quick --benchmark_out="$OUT/$side/bench-$n.json" --benchmark_out_format=json \
    >"$OUT/$side/bench-$n.log" 2>&1 || echo "tvl-bench $side run $n failed (see $OUT/$side/bench-$n.log)"
done
for model in threads asyncloop; do
  for side in A B; do
    dir=${!side}
    echo "$(date +%T) capacity $model $side"
    "$dir/tvl" capacity --model "$model" --subscribers 10,1000 --probe-seconds 1.25 --precision 0.1 \
      --json "$OUT/cap$side/capacity_$model.json" >"$OUT/cap$side/capacity_$model.log" 2>&1 ||
      echo "capacity $model $side failed (see $OUT/cap$side/capacity_$model.log)"
  done
done
echo "$(date +%T) done: tvl compare $OUT/A $OUT/B --metrics all"
