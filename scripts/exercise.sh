#!/usr/bin/env bash
# The classroom's exercises (exercises/README.md).
#   scripts/exercise.sh list                  every exercise: name, chapter, what to do
#   scripts/exercise.sh grade NAME [solution] build the student's copy (or the solution) and grade it
# Exit status of grade: 0 every check passed, 1 a check failed, 2 it could not be graded.
set -euo pipefail
cd "$(dirname "$0")/.."

list() {
  printf '%-22s %-8s %s\n' exercise chapter "what to do"
  for readme in exercises/*/README.md; do
    name=$(basename "$(dirname "$readme")")
    # The README's first line is "# <name>: <task>", its second "Chapter N · ..."
    task=$(head -1 "$readme" | sed 's/^# [^:]*: //')
    chapter=$(sed -n 's/^\*\*Chapter:\*\* \([^ ]*\).*/\1/p' "$readme" | head -1)
    printf '%-22s %-8s %s\n' "$name" "${chapter:-?}" "$task"
  done
  echo
  echo "grade yours: make exercise NAME=<exercise>    the reference solution: make exercise NAME=<exercise> SOLUTION=1"
}

case "${1:-}" in
  list) list ;;
  grade)
    name=${2:-}
    if [ -z "$name" ]; then
      echo "usage: make exercise NAME=<exercise> [SOLUTION=1]; the exercises are:" >&2
      list >&2
      exit 2
    fi
    if [ ! -f "exercises/$name/README.md" ]; then
      echo "tvl: no exercise named '$name'; the exercises are:" >&2
      list >&2
      exit 2
    fi
    target=exercise-$name
    [ "${3:-}" = solution ] && target=$target-solution
    echo "tvl: building $target (the files in exercises/$name/$([ "${3:-}" = solution ] && echo solution/))"
    cmake --preset release >/dev/null
    cmake --build --preset release --target "$target"
    exec "build/release/exercises/$target"
    ;;
  *) echo "usage: scripts/exercise.sh list | grade NAME [solution]" >&2; exit 2 ;;
esac
