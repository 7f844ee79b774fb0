#!/usr/bin/env bash
# make fuzz [SECONDS=60]: builds the libFuzzer targets (fuzz/, with clang++-14, into build/fuzz)
# and runs each for SECONDS seconds, the two side by side (one per core). The seed corpora in
# fuzz/corpus/ are read, never written: what a run adds goes to build/fuzz/corpus/<target>, and
# the next run starts from it. Prints each target's execution count; exits 1 when a target
# found a crash, a leak or a timeout, naming the input that reproduces it (fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
targets=(frame resp)
build=build/fuzz

cxx=$(command -v clang++-14 || true)
if [[ -z $cxx ]]; then
  echo "fuzz: clang++-14 not found (scripts/deps.sh installs clang-14 and libclang-rt-14-dev)" >&2
  exit 1
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" >/dev/null
cmake --build "$build" -j 2

# A smaller ASan quarantine than the default 256 MiB: freed memory is reused sooner, which saves
# a page fault per fresh page on every input, and 16 MiB still outlasts what one input frees.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
pids=()
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
  # -max_len: longer inputs only repeat what shorter ones reach, and cost more per run.
  timeout $((secs + 120)) "$build/fuzz_$t" -max_total_time="$secs" -max_len=1024 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t/" "$build/corpus/$t" "fuzz/corpus/$t" >"$build/$t.log" 2>&1 &
  pids+=($!)
done

failed=0
for i in "${!targets[@]}"; do
  t=${targets[$i]}
  rc=0
  wait "${pids[$i]}" || rc=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$build/$t.log" | tail -1)
  if [[ $rc -eq 0 ]]; then
    echo "fuzz: $t: ${runs:-? runs}, no crash (log: $build/$t.log)"
    continue
  fi
  failed=1
  echo "fuzz: $t FAILED (exit $rc): log $build/$t.log" >&2
  grep -E "ERROR: |SUMMARY: |invariant failed" "$build/$t.log" | head -5 >&2 || true
  reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$build/$t.log" | tail -1)
  if [[ -n $reproducer ]]; then
    echo "fuzz: $t: reproduce with: $build/fuzz_$t $reproducer" >&2
  elif [[ $rc -eq 124 ]]; then
    echo "fuzz: $t: did not stop within $((secs + 120)) s" >&2
  fi
done
exit $failed
