#!/usr/bin/python3
"""The soak: a long steady load through an improved broker, checked for what a short run misses.

    scripts/soak.py --tvl build/release/tvl --model threads --model asyncloop --deliveries 10000000

For each broker it starts `tvl broker --model M --design improved --port 0`, pinned to one CPU,
and runs `tvl load` against it, pinned to another: S subscribers (100 by default, 1,000 messages a second to each) and an
open-loop rate held for as long as the deliveries asked for take. While the load runs it reads
the broker's VmRSS from /proc every half second. The broker passes when

  - the load counted nothing lost, no gaps, nothing duplicated or reordered, and delivered as
    many messages as it expected, at least the deliveries asked for;
  - its RSS is flat: RSS at the end of the load is less than 5% above RSS at the two-thirds
    point (memory may grow while connections and queues warm up, not in the last third);
  - its open descriptors come back to the count before the load, once the load's connections
    are closed (a leaked socket would stay open);
  - it stops cleanly on SIGTERM.

It prints a table and writes the summary, atomically (a temporary file renamed), to
OUT/soak.json. Exit status: 0 every broker passed, 1 one failed, 2 bad arguments.
Standard library only: it runs under /usr/bin/python3.
"""

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

RSS_GROWTH_LIMIT = 0.05  # the last third of the load may grow RSS by less than this share
SAMPLE_S = 0.5  # how often RSS and descriptors are read
LOAD_BOUND_BUSY = 0.9  # tvl load's own mark (load/loadgen.hpp, kLoadBoundBusy) of a starved generator
FD_SETTLE_S = 5.0  # how long the broker may take to close the load's connections
STOP_S = 20.0  # how long the broker may take to stop on SIGTERM (its flush timeout is 5 s)


def read_rss_kib(pid):
    """VmRSS of a live process in KiB, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def count_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def placement(no_pin):
    """(broker CPU, load CPU, words for the output): the broker and the load on different CPUs."""
    cpus = sorted(os.sched_getaffinity(0))
    if no_pin or len(cpus) < 2:
        why = "asked not to" if no_pin else f"only {len(cpus)} CPU available"
        return None, None, f"not pinned ({why}): broker and load share the CPUs"
    return cpus[0], cpus[1], f"broker pinned to CPU {cpus[0]} (taskset), load to CPU {cpus[1]} (--load-cpus)"


def start_broker(tvl, model, cpu):
    cmd = [tvl, "broker", "--model", model, "--design", "improved", "--port", "0"]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    broker = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = broker.stdout.readline()  # "listening on HOST:PORT", or nothing if it failed to start
    m = re.match(r"listening on (\S+):(\d+)", line)
    if not m:
        broker.kill()
        broker.wait()
        raise RuntimeError(f"broker {model} did not start (first line: {line.strip()!r})")
    return broker, int(m.group(2))


def stop_broker(broker):
    """SIGTERM, then its stats line; None (and a kill) if it does not stop in time or fails."""
    broker.send_signal(signal.SIGTERM)
    try:
        out, _ = broker.communicate(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        broker.kill()
        broker.communicate()
        return None
    if broker.returncode != 0:
        return None
    for line in out.splitlines():
        if line.startswith("tvl-broker-stats "):
            return json.loads(line[len("tvl-broker-stats ") :])
    return None


def sample_at(samples, t):
    """The RSS sample taken last at or before time t (the first one if t precedes them all)."""
    best = samples[0]
    for s in samples:
        if s[0] > t:
            break
        best = s
    return best[1]


def soak_one(args, model, broker_cpu, load_cpu, workdir):
    per_second = args.rate * args.subscribers
    duration = math.ceil(args.deliveries / per_second)  # whole seconds: at least the deliveries asked for
    broker, port = start_broker(args.tvl, model, broker_cpu)
    pid = broker.pid  # taskset execs the broker: the same process
    result = {"model": model, "design": "improved", "subscribers": args.subscribers, "rate": args.rate,
              "duration_s": duration, "deliveries_asked": args.deliveries, "failures": []}
    try:
        time.sleep(0.2)  # let its threads and event loops settle before counting descriptors
        fds_start = count_fds(pid)
        load_json = os.path.join(workdir, f"load_{model}.json")
        load_cmd = [args.tvl, "load", "--port", str(port), "--subscribers", str(args.subscribers), "--rate",
                    str(args.rate), "--duration", str(duration), "--broker-pid", str(pid), "--json", load_json]
        if load_cpu is not None:
            load_cmd += ["--load-cpus", str(load_cpu)]
        log_path = os.path.join(workdir, f"load_{model}.log")
        samples = []  # (seconds since the load started, RSS KiB)
        t0 = time.monotonic()
        deadline = duration + 60  # confirmation, drain and slack: a hung load is stopped, not waited on
        with open(log_path, "w") as log:
            load = subprocess.Popen(load_cmd, stdout=log, stderr=subprocess.STDOUT)
            while load.poll() is None:
                rss = read_rss_kib(pid)
                if rss is not None:
                    samples.append((time.monotonic() - t0, rss))
                if time.monotonic() - t0 > deadline:
                    load.kill()
                    load.wait()
                    result["failures"].append(f"the load did not finish within {deadline} s")
                    break
                time.sleep(SAMPLE_S)
        load_s = time.monotonic() - t0
        if load.returncode != 0:
            with open(log_path) as f:
                tail = f.read()[-2000:]
            result["failures"].append(f"tvl load exited {load.returncode}: {tail.strip()}")
        # Descriptors: the load has exited, so its sockets are closed; the broker sees EOF on each
        # and closes its side. Give it a few seconds, then count.
        settle_end = time.monotonic() + FD_SETTLE_S
        fds_end = count_fds(pid)
        while fds_end != fds_start and time.monotonic() < settle_end:
            time.sleep(0.1)
            fds_end = count_fds(pid)
        result.update(fds_start=fds_start, fds_end=fds_end, load_s=round(load_s, 1), rss_samples=len(samples))
        if fds_end != fds_start:
            result["failures"].append(f"descriptors {fds_start} before the load, {fds_end} after")

        counters = {}
        if os.path.exists(load_json):
            with open(load_json) as f:
                counters = json.load(f)["counters"]
        def c(name):
            return int(counters.get(name, -1))

        result.update({k: c(k) for k in ("published", "expected", "delivered", "lost", "gaps",
                                         "duplicates_or_reordered", "impossible")})
        result.update(p50_us=counters.get("p50_us"), p99_us=counters.get("p99_us"),
                      load_busy=counters.get("load_busy"))
        for k in ("lost", "gaps", "duplicates_or_reordered", "impossible"):
            if c(k) != 0:
                result["failures"].append(f"{k} = {c(k)}")
        if c("delivered") != c("expected"):
            result["failures"].append(f"delivered {c('delivered')} of {c('expected')}")
        if c("expected") < args.deliveries:
            result["failures"].append(f"expected {c('expected')} deliveries, fewer than the {args.deliveries} asked for")

        if len(samples) >= 3:
            rss_start, rss_end = samples[0][1], samples[-1][1]
            rss_two_thirds = sample_at(samples, samples[-1][0] * 2 / 3)
            growth = rss_end / rss_two_thirds - 1
            result.update(rss_start_kib=rss_start, rss_two_thirds_kib=rss_two_thirds, rss_end_kib=rss_end,
                          rss_peak_kib=max(s[1] for s in samples), rss_last_third_growth=round(growth, 4),
                          rss_series=[[round(t, 2), kib] for t, kib in samples])
            if growth >= RSS_GROWTH_LIMIT:
                why = f"RSS grew {growth:.1%} in the last third ({rss_two_thirds} -> {rss_end} KiB)"
                busy = counters.get("load_busy", 0)
                if busy >= LOAD_BOUND_BUSY:  # the load was not steady: say so beside the failure
                    why += (f"; the load generator was on a CPU or waiting for one {busy:.0%} of the time, so the "
                            f"machine was too busy for a steady load (p99 {counters.get('p99_us', 0) / 1000:.0f} ms): "
                            "a stall lets the subscribers' queues fill further than before, and their buffers keep "
                            "that size; run the soak on a quiet machine")
                result["failures"].append(why)
        else:
            result["failures"].append(f"only {len(samples)} RSS samples: the load ended too soon to judge")
    finally:
        stats = stop_broker(broker)
    if stats is None:
        result["failures"].append(f"the broker did not stop cleanly on SIGTERM within {STOP_S:g} s (exit status {broker.returncode}, or no stats line)")
    else:
        result["broker_stats"] = stats
    result["passed"] = not result["failures"]
    return result


def write_atomically(path, data):
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".soak-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def print_table(results):
    def kib(r, k):
        v = r.get(k)
        return "-" if v is None else f"{v / 1024:.1f}"

    print(f"{'broker':<14}{'deliveries':>12}{'lost/gaps/dup':>15}{'RSS MiB start':>15}{'at 2/3':>8}{'end':>8}"
          f"{'last 1/3':>10}{'fds':>9}{'load s':>8}  result")
    for r in results:
        errors = "/".join(str(r.get(k, "-")) for k in ("lost", "gaps", "duplicates_or_reordered"))
        growth = r.get("rss_last_third_growth")
        print(f"{r['model']:<14}{r.get('delivered', '-'):>12}{errors:>15}{kib(r, 'rss_start_kib'):>15}"
              f"{kib(r, 'rss_two_thirds_kib'):>8}{kib(r, 'rss_end_kib'):>8}"
              f"{'-' if growth is None else f'{growth:+.1%}':>10}"
              f"{str(r.get('fds_start', '-')) + '->' + str(r.get('fds_end', '-')):>9}{r.get('load_s', '-'):>8}"
              f"  {'ok' if r['passed'] else 'FAILED: ' + '; '.join(r['failures'])}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tvl", required=True, help="the tvl binary")
    ap.add_argument("--model", action="append", choices=["threads", "asyncloop", "asyncloop-mt"],
                    help="an improved broker to soak (repeatable; default: all three)")
    ap.add_argument("--deliveries", type=int, default=10_000_000, help="at least this many deliveries per broker")
    ap.add_argument("--subscribers", type=int, default=100)
    ap.add_argument("--rate", type=float, default=1000, help="messages per second (each goes to every subscriber)")
    ap.add_argument("--out", default="results/soak", help="folder for soak.json and the load's logs")
    ap.add_argument("--no-pin", action="store_true", help="pin neither the broker nor the load")
    args = ap.parse_args()
    if not os.access(args.tvl, os.X_OK):
        ap.error(f"no executable {args.tvl}: build it first (make build)")
    if args.deliveries <= 0 or args.subscribers <= 0 or args.rate <= 0:
        ap.error("--deliveries, --subscribers and --rate must be positive")
    models = args.model or ["threads", "asyncloop", "asyncloop-mt"]
    broker_cpu, load_cpu, pinning = placement(args.no_pin)
    os.makedirs(args.out, exist_ok=True)
    per_second = args.rate * args.subscribers
    print(f"soak: {args.deliveries:,} deliveries per broker, {args.subscribers} subscribers, {args.rate:g} msg/s "
          f"({per_second:,.0f} deliveries/s, {math.ceil(args.deliveries / per_second)} s each); {pinning}", flush=True)
    results = []
    for model in models:
        print(f"soak: {model} ...", flush=True)
        try:
            results.append(soak_one(args, model, broker_cpu, load_cpu, args.out))
        except RuntimeError as e:
            results.append({"model": model, "passed": False, "failures": [str(e)]})
    print_table(results)
    summary = {"deliveries_asked": args.deliveries, "subscribers": args.subscribers, "rate": args.rate,
               "pinning": pinning, "rss_growth_limit": RSS_GROWTH_LIMIT, "results": results}
    path = os.path.join(args.out, "soak.json")
    write_atomically(path, summary)
    print(f"soak: summary in {path}")
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
