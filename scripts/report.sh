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
"$py" plots/tvl_plots.py --results "results/$profile" --out "reports/$profile" --profile "$profile" \
  --command "make report PROFILE=$profile"
echo "tvl: wrote reports/$profile/report.md and reports/$profile/report.html in $(( $(date +%s) - start )) s"
