#!/usr/bin/env bash
# Runs a profile of tvl-bench into results/<profile>/ and renders reports/<profile>/ from it.
#   scripts/report.sh quick|full BUILD_DIR
set -euo pipefail
profile=${1:-quick}
build=${2:-build/release}
py=$(scripts/find-python)
echo "tvl: plots with $py"

start=$(date +%s)
last=$start
stage() {  # how long each part took, so a profile that outgrows its budget shows where
  echo "tvl: $1 took $(( $(date +%s) - last )) s" >&2
  last=$(date +%s)
}
rm -rf "results/$profile" "reports/$profile"
mkdir -p "results/$profile"
echo "tvl: running the $profile profile (progress below; results/$profile/bench.json)" >&2
# The registry's fan-out rows are left to the sweeps below (one point per subscriber count).
"$build/tvl-bench" --tvl_profile="$profile" --benchmark_filter='-^fanout/' \
  --benchmark_out="results/$profile/bench.json" --benchmark_out_format=json \
  --benchmark_counters_tabular=true
stage "tvl-bench"
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
stage "restaurant sweeps"

# Fan-out: each broker a child process, the same open-loop load for every broker and peer, the
# broker pinned to one CPU and the load to the others (tvl's default placement).
if [ "$profile" = full ]; then fsubs=10,100,1000,10000; fdur=3; fdesigns="improved naive"
else fsubs=10,1000; fdur=1; fdesigns="improved"; fi
for m in asyncloop threads; do
  for d in $fdesigns; do
    "$build/tvl" sweep fanout --model $m --design $d --subscribers $fsubs --deliveries 200000 --duration $fdur \
      --json "results/$profile/sweep_fanout_${m}_$d.json"
  done
  for d in improved naive; do
    # The slow consumer: one subscriber stops reading; large messages fill its socket fast.
    "$build/tvl" sweep fanout --model $m --design $d --subscribers 20 --slow-subscribers 1 --payload 16384 \
      --rate 500 --duration 2 --drain 2 --queue-depth 100 --json "results/$profile/sweep_fanout_${m}_${d}_slow.json"
  done
done
# Redis at the same load gives the ratio table its reference; the Python peer's sweep is in the
# full profile (the quick one measures its capacity below).
if [ "$profile" = full ]; then fpeers="redis python"; else fpeers="redis"; fi
for peer in $fpeers; do
  "$build/tvl" sweep fanout --model $peer --subscribers $fsubs --deliveries 200000 --duration $fdur \
    --json "results/$profile/sweep_fanout_$peer.json"
done
stage "fan-out sweeps"

# Fan-out capacity: the most each broker carries within the latency SLO, then 2x that. One
# core each for the one-thread brokers (asyncloop, redis-server, Python); then the threaded
# broker against an event loop per core on two CPUs (equal cores).
# The quick profile overloads only the brokers whose goodput the report compares (threads,
# asyncloop, redis-server on one core).
if [ "$profile" = full ]; then csubs=10,100,1000,10000; pypeers="python python-uvloop"; extra=2
else csubs=10,1000; pypeers="python"; extra=0; fi
for m in threads asyncloop redis; do
  "$build/tvl" capacity --model $m --subscribers $csubs --json "results/$profile/capacity_$m.json"
done
for m in $pypeers; do
  "$build/tvl" capacity --model $m --subscribers $csubs --overload $extra --json "results/$profile/capacity_$m.json"
done
"$build/tvl" capacity --model asyncloop-mt --broker-cpus 0,1 --subscribers $csubs --overload $extra \
  --json "results/$profile/capacity_2cpu_asyncloop-mt.json"
"$build/tvl" capacity --model threads --broker-cpus 0,1 --subscribers 1000 --overload $extra \
  --json "results/$profile/capacity_2cpu_threads.json"
stage "fan-out capacity"

"$py" plots/tvl_plots.py --results "results/$profile" --out "reports/$profile" --profile "$profile" \
  --command "make report PROFILE=$profile"
echo "tvl: wrote reports/$profile/report.md and reports/$profile/report.html in $(( $(date +%s) - start )) s"
