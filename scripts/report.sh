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
"$build/tvl-bench" --tvl_profile="$profile" \
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

"$py" plots/tvl_plots.py --results "results/$profile" --out "reports/$profile" --profile "$profile" \
  --command "make report PROFILE=$profile"
echo "tvl: wrote reports/$profile/report.md and reports/$profile/report.html in $(( $(date +%s) - start )) s"
