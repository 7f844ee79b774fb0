#!/usr/bin/env bash
# Runs the plain-int cutlery program under ThreadSanitizer and shows its report. Succeeds when
# TSan reported the data race (the point of the lesson); fails if it did not.
set -uo pipefail
log=$(mktemp)
TSAN_OPTIONS="halt_on_error=0 exitcode=0" "$1" 2>&1 | tee "$log"
if grep -q 'WARNING: ThreadSanitizer: data race' "$log"; then
  echo
  echo "tsan-demo: ThreadSanitizer reported the data race on the kitchen's plain ints, as expected."
  rm -f "$log"
else
  echo "tsan-demo: ThreadSanitizer did not report a data race: the demonstration failed." >&2
  rm -f "$log"
  exit 1
fi
