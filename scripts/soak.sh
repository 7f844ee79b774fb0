#!/usr/bin/env bash
# `make soak`: at least 10 million deliveries through each improved broker (threads, asyncloop,
# asyncloop-mt) at a steady open-loop rate to 100 subscribers; nothing may be lost, duplicated or
# reordered, the broker's RSS must stay flat and its descriptors come back (scripts/soak.py says
# exactly what is checked). The summary goes to results/soak/soak.json.
#   scripts/soak.sh BUILD_DIR [soak.py options, e.g. --deliveries 1000000 --model asyncloop]
set -euo pipefail
build=${1:-build/release}
shift || true
[ -x "$build/tvl" ] || { echo "tvl: no $build/tvl: build it first (make build)" >&2; exit 2; }
start=$(date +%s)
status=0
/usr/bin/python3 scripts/soak.py --tvl "$build/tvl" --deliveries 10000000 --subscribers 100 --rate 1000 \
  --out results/soak "$@" || status=$?
echo "soak: finished in $(( $(date +%s) - start )) s"
exit $status
