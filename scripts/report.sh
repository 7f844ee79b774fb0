#!/usr/bin/env bash
# Runs a profile of tvl-bench and the sweeps into results/<profile>/ and renders reports/<profile>/.
#   scripts/report.sh quick|full BUILD_DIR
#
# The terminal gets one line per step: its number, the time so far and an estimate of what is
# left, e.g. "tvl [3/18 0:42 elapsed, ~3:10 left] restaurant sweep: threads". The estimate adds
# up the steps still to run, each at its time in this profile's previous run (saved in
# results/<profile>/report_times.tsv) or, failing that, at its time in the table below, scaled by
# how this run is keeping pace so far. Everything the steps print (Google Benchmark's tables,
# the sweeps' and the capacity search's progress) goes to results/<profile>/report.log. A step
# that fails stops the run: the end of the log is shown and the exit status is the step's;
# except a tvl step that exits 1 having written its --json file, whose failed points are
# recorded there with their reasons (it is said, and the run goes on).
#
# Ctrl-C (SIGINT) or SIGTERM stops the running step (tvl keeps the points it finished in its
# --json file, marked interrupted), says which step was interrupted and which result files are
# complete, and exits 130. Every result file appears whole or not at all: tvl writes its --json
# files through a temporary file, tvl-bench's --benchmark_out is written to a hidden temporary
# name here and renamed once the step succeeded, and the plot script writes the report the same way.
set -euo pipefail
profile=${1:-quick}
build=${2:-build/release}
case $profile in
  quick | full) ;;
  *) echo "usage: scripts/report.sh quick|full BUILD_DIR (unknown profile '$profile')" >&2; exit 2 ;;
esac
for bin in tvl tvl-bench; do
  [ -x "$build/$bin" ] || { echo "tvl: no $build/$bin: build it first (make build)" >&2; exit 2; }
done
py=$(scripts/find-python)
out=results/$profile
log=$out/report.log
times=$out/report_times.tsv

# Seconds each step took on the 2-core machine this suite is tuned on (quick: measured; full:
# estimated). A step missing here counts 10 s.
declare -A expect
if [ "$profile" = quick ]; then
  expect=([bench]=80 [restaurant/asyncloop]=7 [restaurant/threads]=6 [restaurant/threads-per-table]=4
          [fanout/asyncloop/improved]=3 [fanout/asyncloop/improved/slow]=3 [fanout/asyncloop/naive/slow]=6
          [fanout/threads/improved]=5 [fanout/threads/improved/slow]=3 [fanout/threads/naive/slow]=6
          [fanout/redis]=3 [capacity/threads]=33 [capacity/asyncloop]=33 [capacity/redis]=35
          [capacity/python]=22 [capacity/2cpu/asyncloop-mt]=12 [capacity/2cpu/threads]=16 [ceiling]=8
          [crossover/threads/per-connection]=30 [crossover/asyncloop/inline]=30 [plots]=11)
else
  expect=([bench]=900 [restaurant/asyncloop]=120 [restaurant/threads]=150 [restaurant/threads-per-table]=120
          [fanout/asyncloop/improved]=30 [fanout/asyncloop/naive]=30 [fanout/threads/improved]=40
          [fanout/threads/naive]=40 [fanout/asyncloop/improved/slow]=5 [fanout/asyncloop/naive/slow]=8
          [fanout/threads/improved/slow]=5 [fanout/threads/naive/slow]=8 [fanout/redis]=30 [fanout/python]=40
          [capacity/threads]=200 [capacity/asyncloop]=200 [capacity/redis]=200 [capacity/python]=160
          [capacity/python-uvloop]=160 [capacity/2cpu/asyncloop-mt]=200 [capacity/2cpu/threads]=80 [ceiling]=90
          [crossover/threads/per-connection]=330 [crossover/asyncloop/inline]=330 [crossover/asyncloop/executor]=300
          [crossover/pool/fixed]=120 [crossover/2cpu/asyncloop-mt]=60 [plots]=40)
fi
# The previous run's times replace the table's (read before results/<profile> is cleared).
if [ -r "$times" ]; then
  while IFS=$'\t' read -r id secs; do
    [[ $secs =~ ^[0-9]+$ ]] && expect[$id]=$secs
  done <"$times"
fi

ids=() took=()
start=$SECONDS
mode=plan
complete=()                                     # result files of the steps that finished
cur_pid="" cur_label="" cur_json="" cur_tmp=""  # the running step: its pid, label, result file

# Ctrl-C or SIGTERM: stop the running step and say what is kept. The step runs in the background
# (`wait` returns at once on a signal, a foreground command would first run to its end) and, as
# an asynchronous command of a script, ignores SIGINT: it is sent SIGTERM, which tvl handles as
# Ctrl-C, and killed if it has not exited within 20 s.
on_interrupt() {
  trap '' INT TERM
  local k
  if [ -n "$cur_pid" ]; then
    kill -TERM "$cur_pid" 2>/dev/null || true
    for ((k = 0; k < 200; k++)); do
      kill -0 "$cur_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$cur_pid" 2>/dev/null || true
    wait "$cur_pid" 2>/dev/null || true
  fi
  [ -n "$cur_tmp" ] && rm -f "$cur_tmp"
  echo >&2
  if [ -n "$cur_label" ]; then
    echo "tvl: interrupted during step $((${#took[@]} + 1))/${#ids[@]}: $cur_label" >&2
    if [ -n "$cur_json" ] && [ -s "$cur_json" ]; then
      echo "tvl: the points it finished are kept in $cur_json (marked interrupted)" >&2
    fi
  else
    echo "tvl: interrupted before any step ran" >&2
  fi
  if ((${#complete[@]})); then
    echo "tvl: complete result files (${#complete[@]}): ${complete[*]}" >&2
  else
    echo "tvl: no result file is complete" >&2
  fi
  echo "tvl: the report was not rendered; everything the steps printed is in $log" >&2
  exit 130
}
trap on_interrupt INT TERM

clock() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

# step ID LABEL COMMAND...: in the plan pass, counts the step; in the run pass, prints its
# progress line, runs it with its output in the log and records how long it took.
step() {
  local id=$1 label=$2
  shift 2
  if [ "$mode" = plan ]; then
    ids+=("$id")
    return
  fi
  local i=${#took[@]} n=${#ids[@]} elapsed=$((SECONDS - start)) done_expect=0 left=0 j
  for ((j = 0; j < n; j++)); do
    if ((j < i)); then done_expect=$((done_expect + ${expect[${ids[j]}]:-10}))
    else left=$((left + ${expect[${ids[j]}]:-10})); fi
  done
  # Keep pace: a busy machine that took 1.5x the expected time so far will likely go on so
  # (bounded, so one odd step does not swing the estimate).
  if ((done_expect > 0)); then
    local pace=$((elapsed * 100 / done_expect))
    ((pace < 50)) && pace=50
    ((pace > 300)) && pace=300
    left=$((left * pace / 100))
  fi
  echo "tvl [$((i + 1))/$n $(clock "$elapsed") elapsed, ~$(clock "$left") left] $label"
  printf '\n=== [%d/%d] %s\n$ %s\n' $((i + 1)) "$n" "$label" "$*" >>"$log"
  local t0=$SECONDS rc=0 from=$(($(wc -l <"$log") + 1)) json="" a prev="" args=() final="" tmp=""
  for a in "$@"; do  # the step's result file, if it names one with --json or --benchmark_out=
    [ "$prev" = --json ] && json=$a
    if [[ $a == --benchmark_out=* ]]; then  # written under a hidden name, renamed once complete
      final=${a#--benchmark_out=}
      tmp=$(dirname "$final")/.$(basename "$final").tmp
      a=--benchmark_out=$tmp
    fi
    args+=("$a")
    prev=$a
  done
  [ -n "$json" ] && rm -f "$json"
  [ -n "$final" ] && rm -f "$final" "$tmp"
  cur_label=$label cur_json=$json cur_tmp=$tmp
  "${args[@]}" >>"$log" 2>&1 </dev/null &
  cur_pid=$!
  wait "$cur_pid" || rc=$?
  cur_pid=""
  if [ -n "$final" ]; then
    if ((rc == 0)); then mv -f "$tmp" "$final"; else rm -f "$tmp"; fi
  fi
  cur_tmp=""
  took+=($((SECONDS - t0)))
  printf '%s\t%s\n' "$id" "${took[i]}" >>"$times"
  # Exit status 1 with its result file written: tvl ran every point and some failed (a broker
  # that did not start, a limit of the machine); each is recorded there with its reason and the
  # report shows it. The profile goes on, as it does for a sweep's failed points.
  if ((rc == 1)) && [ -n "$json" ] && [ -s "$json" ]; then
    echo "tvl: step $((i + 1))/$n: some points failed; each is recorded with its reason in $json (the report shows them)" >&2
    rc=0
  fi
  if ((rc == 0)); then
    [ -n "$json" ] && [ -s "$json" ] && complete+=("$json")
    [ -n "$final" ] && complete+=("$final")
  fi
  if ((rc != 0)); then
    echo "tvl: step $((i + 1))/$n failed (exit status $rc after $(clock "${took[i]}")): $label" >&2
    echo "tvl: the end of what it printed (all of it in $log):" >&2
    tail -n "+$from" "$log" | tail -n 40 | cut -c1-240 | sed 's/^/  | /' >&2
    exit "$rc"
  fi
  cur_label="" cur_json=""
}

steps() {
  # The registry's fan-out rows are left to the sweeps below (one point per subscriber count).
  step bench "tvl-bench, $profile profile: cutlery, primitives, restaurant services" \
    "$build/tvl-bench" --tvl_profile="$profile" --benchmark_filter='-^fanout/' \
    --benchmark_out="$out/bench.json" --benchmark_out_format=json --benchmark_counters_tabular=true

  # Sweeps of concurrent tables: every point in a child process, failures recorded with reasons.
  local sweeps s m d peer
  if [ "$profile" = full ]; then
    sweeps=("asyncloop 10,100,1000,10000,100000,1000000"
            "threads 10,100,1000,10000,100000"
            "threads-per-table 10,100,1000,10000,20000,30000,40000")
  else
    sweeps=("asyncloop 10,100,1000,10000" "threads 10,100,1000,10000" "threads-per-table 10,100,1000")
  fi
  for s in "${sweeps[@]}"; do
    set -- $s
    step "restaurant/$1" "restaurant sweep: $1 at $2 tables" \
      "$build/tvl" sweep restaurant --model "$1" --tables "$2" --json "$out/sweep_restaurant_$1.json"
  done

  # Fan-out: each broker a child process, the same open-loop load for every broker and peer, the
  # broker pinned to one CPU and the load to the others (tvl's default placement).
  local fsubs fdur fdesigns fpeers
  if [ "$profile" = full ]; then fsubs=10,100,1000,10000 fdur=3 fdesigns="improved naive" fpeers="redis python"
  else fsubs=10,1000 fdur=1 fdesigns="improved" fpeers="redis"; fi
  for m in asyncloop threads; do
    for d in $fdesigns; do
      step "fanout/$m/$d" "fan-out sweep: $m ($d) at $fsubs subscribers" \
        "$build/tvl" sweep fanout --model $m --design $d --subscribers $fsubs --deliveries 200000 \
        --duration $fdur --json "$out/sweep_fanout_${m}_$d.json"
    done
    for d in improved naive; do
      # The slow consumer: one subscriber stops reading; large messages fill its socket fast.
      step "fanout/$m/$d/slow" "fan-out sweep: $m ($d) with a slow subscriber" \
        "$build/tvl" sweep fanout --model $m --design $d --subscribers 20 --slow-subscribers 1 \
        --payload 16384 --rate 500 --duration 2 --drain 1 --queue-depth 100 \
        --json "$out/sweep_fanout_${m}_${d}_slow.json"
    done
  done
  # Redis at the same load gives the ratio table its reference; the Python peer's sweep is in
  # the full profile (the quick one measures its capacity below).
  for peer in $fpeers; do
    step "fanout/$peer" "fan-out sweep: $peer at $fsubs subscribers" \
      "$build/tvl" sweep fanout --model $peer --subscribers $fsubs --deliveries 200000 \
      --duration $fdur --json "$out/sweep_fanout_$peer.json"
  done

  # Fan-out capacity: each broker's floor at a trickle, then the most it carries within the
  # latency SLO for its subscriber count (confirmed by a second run), then 2x the most it ever
  # delivered (its saturation rate). One core each for the one-thread brokers (asyncloop,
  # redis-server, Python); then the threaded broker against an event loop per core on two CPUs
  # (equal cores, full profile only). The quick profile overloads only the brokers whose goodput
  # the report compares (threads, asyncloop, redis-server on one core), probes for 1 s instead
  # of 3 after a warm-up of 0.3 s instead of 0.5, and bisects to 10% instead of 5%, to stay
  # within its 5 minutes with the floor, confirmation and repeated probes.
  local csubs pypeers extra search mtsubs
  if [ "$profile" = full ]; then
    csubs=10,100,1000,10000 pypeers="python python-uvloop" extra=2 search=() mtsubs=$csubs
  else
    csubs=10,1000 pypeers="python" extra=0 search=(--probe-seconds 1 --warmup-seconds 0.3 --precision 0.1) mtsubs=1000
  fi
  for m in threads asyncloop redis; do
    step "capacity/$m" "capacity: $m on one core at $csubs subscribers, then 2x saturation" \
      "$build/tvl" capacity --model $m --subscribers $csubs "${search[@]}" --json "$out/capacity_$m.json"
  done
  for m in $pypeers; do
    step "capacity/$m" "capacity: $m on one core at $csubs subscribers" \
      "$build/tvl" capacity --model $m --subscribers $csubs --overload $extra "${search[@]}" \
      --json "$out/capacity_$m.json"
  done
  # Two CPUs each for the threaded broker and a loop per core: the full profile only. On a 2-core
  # machine the load then shares their CPUs, and at 1,000 subscribers both were load-bound in
  # every quick run; the quick profile's 5 minutes go to the crossover slice instead.
  if [ "$profile" = full ]; then
    step capacity/2cpu/asyncloop-mt "capacity: asyncloop-mt on two CPUs at $mtsubs subscribers" \
      "$build/tvl" capacity --model asyncloop-mt --broker-cpus 0,1 --subscribers $mtsubs --overload $extra \
      "${search[@]}" --json "$out/capacity_2cpu_asyncloop-mt.json"
    step capacity/2cpu/threads "capacity: threads on two CPUs at 1000 subscribers" \
      "$build/tvl" capacity --model threads --broker-cpus 0,1 --subscribers 1000 --overload $extra \
      "${search[@]}" --json "$out/capacity_2cpu_threads.json"
  fi

  # The crossover map: the capacity of each echo model (`tvl capacity echo`) in every cell of
  # connections C x CPU work per request W (us) x a blocking call B (ms), under one p99 bound,
  # server on CPU 0 and load on CPU 1. The quick profile measures a slice (threads against one
  # loop at C 10 and 1,000, W 0 and 100 us, B 0); the full one the whole map, with the pool and
  # the loop's executor, the overload probe for SEDA's well-conditioned test, and a loop per
  # core on both CPUs beside it.
  local xc xw xb xmodels xover
  if [ "$profile" = full ]; then
    xc=1,10,100,1000,10000 xw=0,10,100,1000 xb=0,1 xover=(--overload 2)
    xmodels="threads:per-connection asyncloop:inline asyncloop:executor pool:fixed"
  else
    xc=10,1000 xw=0,100 xb=0 xover=() xmodels="threads:per-connection asyncloop:inline"
  fi
  for mv in $xmodels; do
    step "crossover/${mv%%:*}/${mv#*:}" "crossover: echo ${mv%%:*} (${mv#*:}) at C $xc, W $xw us, B $xb ms" \
      "$build/tvl" capacity echo --model "${mv%%:*}" --variant "${mv#*:}" --connections $xc --work-us $xw \
      --block-ms $xb "${xover[@]}" --json "$out/crossover_${mv%%:*}_${mv#*:}.json"
  done
  if [ "$profile" = full ]; then
    step crossover/2cpu/asyncloop-mt "crossover: echo asyncloop-mt on two CPUs at C 10,1000, W 0,100,1000 us" \
      "$build/tvl" capacity echo --model asyncloop-mt --server-cpus 0,1 --connections 10,1000 \
      --work-us 0,100,1000 --block-ms 0 --json "$out/crossover_2cpu_asyncloop-mt.json"
  fi

  # The thread ceiling (von Behren et al. 2003; Capriccio): N waiting threads (default and small
  # stack) and coroutines, each N in a child, up to the first N a limit of the machine stops;
  # then idle connections held open against each echo server, up to the load's open-files limit.
  local ladder conns
  if [ "$profile" = full ]; then
    ladder=1000,2000,5000,10000,20000,50000,100000 conns=1000,2000,5000,10000,19000,20000
  else ladder=1000,2000,5000,10000 conns=1000,2000; fi
  step ceiling "thread ceiling: waiting threads and coroutines at $ladder, echo servers at $conns" \
    "$build/tvl" ceiling --tasks $ladder --small-stack-kib 64 --echo-connections $conns \
    --json "$out/ceiling.json"

  step plots "report: figures, report.md and report.html from $out/*.json" \
    "$py" plots/tvl_plots.py --results "$out" --out "reports/$profile" --profile "$profile" \
    --previous "$previous" --command "make report PROFILE=$profile"
}

# The previous run's capacities stay beside this run's, for the report's Repeatability section:
# its result files move to results/<profile>.previous (when it measured any capacity).
previous=results/$profile.previous
steps
if compgen -G "$out/capacity_*.json" >/dev/null || compgen -G "$out/crossover_*.json" >/dev/null; then
  rm -rf "$previous"
  mkdir -p "$previous"
  mv "$out"/capacity_*.json "$out"/crossover_*.json "$previous"/ 2>/dev/null || true
fi
rm -rf "$out" "reports/$profile"
mkdir -p "$out"
echo "tvl: $profile profile, ${#ids[@]} steps; results in $out/, everything they print in $log"
: >"$times"
mode=run
steps

# One closing line: the total and each stage (the part of a step's id before its first /).
declare -A stage
order=()
for ((j = 0; j < ${#ids[@]}; j++)); do
  s=${ids[j]%%/*}
  [ -n "${stage[$s]+x}" ] || order+=("$s")
  stage[$s]=$((${stage[$s]:-0} + took[j]))
done
declare -A names=([bench]=tvl-bench [restaurant]="restaurant sweeps" [fanout]="fan-out sweeps"
                  [capacity]="fan-out capacity" [crossover]="crossover map" [ceiling]="thread ceiling" [plots]=report)
summary=$(for s in "${order[@]}"; do printf '%s %s, ' "${names[$s]:-$s}" "$(clock "${stage[$s]}")"; done)
echo "tvl: wrote reports/$profile/report.md and report.html in $(clock $((SECONDS - start)))" \
  "(${summary%, }); step times in $times"
