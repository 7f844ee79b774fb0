#!/usr/bin/env bash
# Runs a profile of tvl-bench into results/<profile>/ and renders reports/<profile>/ from it.
#   scripts/report.sh quick|full BUILD_DIR
set -euo pipefail
profile=${1:-quick}
build=${2:-build/release}
py=$(scripts/find-python)
echo "tvl: plots with $py"

start=$(date +%s)
rm -rf "results/$profile" "reports/$profile"
mkdir -p "results/$profile"
echo "tvl: running the $profile profile (progress below; results/$profile/bench.json)" >&2
# The registry's fan-out rows are left to the sweeps below (one point per subscriber count).
"$build/tvl-bench" --tvl_profile="$profile" --benchmark_filter='-^fanout/' \
  --benchmark_out="results/$profile/bench.json" --benchmark_out_format=json \
  --benchmark_counters_tabular=true
# Sweeps of concurrent tables: every point in a child process, failures recorded with reasons.
if [ "$profile" = full ]; then
  sweeps=("asyncloop 10,100,1000,10000,100000,1000000"
          "threads 10,100,1000,10000,100000"
          "threads-per-table 10,100,1000,10000,20000,30000,40000")
else
  sweeps=("asyncloop 10,100,1000,10000" "threads 10,100,1000,10000" "threads-per-table 10,100,1000")
fi
for s in "${sweeps[@]}"; do
  set -- $s
  "$build/tvl" sweep restaurant --model "$1" --tables "$2" --json "results/$profile/sweep_restaurant_$1.json"
done

# Fan-out: each broker a child process, the same open-loop load for every broker and peer.
if [ "$profile" = full ]; then fsubs=10,100,1000,10000; fdur=3; else fsubs=10,100,1000; fdur=1; fi
for m in asyncloop threads; do
  for d in improved naive; do
    "$build/tvl" sweep fanout --model $m --design $d --subscribers $fsubs --deliveries 200000 --duration $fdur \
      --json "results/$profile/sweep_fanout_${m}_$d.json"
    # The slow consumer: one subscriber stops reading; large messages fill its socket fast.
    "$build/tvl" sweep fanout --model $m --design $d --subscribers 20 --slow-subscribers 1 --payload 16384 \
      --rate 500 --duration 2 --drain 2 --queue-depth 100 --json "results/$profile/sweep_fanout_${m}_${d}_slow.json"
  done
done
for peer in redis python; do
  "$build/tvl" sweep fanout --model $peer --subscribers $fsubs --deliveries 200000 --duration $fdur \
    --json "results/$profile/sweep_fanout_$peer.json"
done

"$py" plots/tvl_plots.py --results "results/$profile" --out "reports/$profile" --profile "$profile" \
  --command "make report PROFILE=$profile"
echo "tvl: wrote reports/$profile/report.md and reports/$profile/report.html in $(( $(date +%s) - start )) s"
