#!/usr/bin/env bash
# Records the real runs tests/test_compare.py compares (and docs/compare.md shows):
#   TVL_BENCH=build/release/tvl-bench tests/data/compare/record.sh [OUT]
# Two sides, A and B, of three primitives benchmarks, all pinned to CPU 1. Each side is four
# runs of 3 repetitions (the quick profile's), 12 repetitions a side. In B, asyncloop/handle is
# deliberately slowed: it runs at nice 19 beside a busy loop at nice 0 pinned on the same CPU, so
# it gets a small share of that CPU (about 1.5% on an idle machine, less on a busy one, where a
# busy loop at equal priority would be lost among the other work); the other two run as in A.
# A and B's unchanged runs take turns going first after the busy loop stops, so that whatever
# the machine does meanwhile falls on both sides alike.
set -euo pipefail
bench=${TVL_BENCH:-build/release/tvl-bench}
out=${1:-tests/data/compare}
rm -rf "$out/a" "$out/b"
mkdir -p "$out/a" "$out/b"
run() {  # run FILE FILTER [PREFIX...]: PREFIX (e.g. nice -n 19) runs the benchmark
  local file=$1 filter=$2
  shift 2
  "$@" taskset -c 1 "$bench" --benchmark_filter="$filter" --benchmark_out="$file" \
    --benchmark_out_format=json >/dev/null
}
side_a() { run "$out/a/run$1.json" '^primitives/(threads/semaphore|asyncloop/post|asyncloop/handle)/pinned:1/'; }
side_b() { run "$out/b/unchanged$1.json" '^primitives/(threads/semaphore|asyncloop/post)/pinned:1/'; }
for i in 1 2 3 4; do
  taskset -c 1 bash -c 'while :; do :; done' &
  busy=$!
  run "$out/b/slowed$i.json" '^primitives/asyncloop/handle/pinned:1/' nice -n 19
  kill "$busy"
  wait "$busy" 2>/dev/null || true
  sleep 1
  if ((i % 2)); then side_a $i; side_b $i; else side_b $i; side_a $i; fi
done
