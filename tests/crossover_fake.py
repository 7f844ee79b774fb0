#!/usr/bin/env python3
"""Fake `tvl capacity echo` results, for developing and testing the crossover part of the report
before real ones exist: results/<profile>/crossover_<model>[_<variant>].json in the shape the
fan-out capacity files have ({"benchmarks": [rows], "context": {...}}), one row per cell
`echo_capacity/<model>/<variant>/connections:C/work_us:W/block_ms:B`.

The numbers come from a toy cost model of a 2-core machine (the server on one core, the load
generator on the other): CPU per request = W + a per-model overhead growing with C; a
connection carries at most one request per round trip (plus B); the generator tops out near
GENERATOR_MAX requests/s (then the capacity is load-bound); a pool refuses more connections
than workers; thread per connection fails to start 10,000 threads with a blocking call. It
is plausible, not measured: never use it for anything but tests.

    /usr/bin/python3 tests/crossover_fake.py OUT_DIR   # writes the files into OUT_DIR
    /usr/bin/python3 tests/crossover_fake.py --one-file tests/data/crossover_fixture.json

The second writes every contender into one file on a smaller grid (C 1, 100, 10,000 × W 0,
10 µs, 1 ms × B 0, 1 ms), numbers to four digits, a row a line: the browser test's fixture.
"""
import json
import sys
from pathlib import Path

CONTEXT = {"date": "2026-12-07T12:00:00+00:00", "host_name": "fake", "cpu_model": "Fake CPU 2c",
           "cores": 2, "num_cpus": 2, "kernel": "6.1.0-fake", "compiler": "GCC 12.2.0",
           "boost_version": "1.81", "tbb_version": "2021.8", "benchmark_version": "1.7.1",
           "git_revision": "fake000", "tvl_command": "tvl capacity echo --profile quick",
           "tvl_profile": "quick",
           "placement": "server pinned to CPU 1, load generator to CPU 0"}
CS, WS, BS = (1, 10, 100, 1000, 10000), (0, 10, 100, 1000), (0, 1)
RTT_US = 30.0            # a loopback round trip, client included
GENERATOR_MAX = 100e3    # requests/s the generator offers flat out on its core
SLO_MS = 10.0
POOL_WORKERS, EXECUTOR_THREADS = 64, 8
# (model, variant): (base µs per request, µs per request per connection, CPUs, RSS KiB/conn)
MODELS = {("threads", "per-connection"): (5.0, 0.01, 1, 14.0),
          ("pool", "fixed"): (9.0, 0.001, 1, 3.0),
          ("asyncloop", "inline"): (8.0, 0.0003, 1, 2.1),
          ("asyncloop", "executor"): (14.0, 0.0003, 1, 2.4),
          ("asyncloop-mt", "inline"): (9.0, 0.0004, 2, 2.3)}


def not_run(model, variant, c, w, b):
    """Why a cell cannot run, or None."""
    if model == "pool" and c > POOL_WORKERS:
        return f"pool of {POOL_WORKERS} workers: {POOL_WORKERS} of {c:,} connections answered"
    if model == "threads" and c >= 10000 and b:
        return f"thread limit: {c:,} threads wanted, the 8,192nd failed to start (EAGAIN)"
    return None


def probes(cap, sat, goodput, floor_ms, load_bound):
    """A probe_log: floor, flood, a ×2 ramp and bisection, confirmation, overload."""
    log = [dict(kind="floor", offered=100, delivered_per_s=100, p99_ms=floor_ms,
                user_p99_ms=floor_ms * 1.1, judged=500, verdict="pass", detail="", load_bound=0),
           dict(kind="flood", offered=2 * sat, delivered_per_s=sat, p99_ms=SLO_MS * 20,
                user_p99_ms=SLO_MS * 21, judged=5000, verdict="flood", detail="", load_bound=0)]
    rate = 1000.0
    while rate < cap * 4:
        ok = rate <= cap
        last = load_bound and rate > cap
        p99 = floor_ms * (1 + 2 * min(rate, sat) / sat) if ok else SLO_MS * 3
        log.append(dict(kind="search", offered=rate, delivered_per_s=min(rate, sat), p99_ms=p99,
                        user_p99_ms=p99 * 1.1, judged=int(rate), detail="",
                        verdict="load-bound" if last else "pass" if ok else "latency",
                        load_bound=int(last)))
        if not ok:
            break
        rate *= 2
    log.append(dict(kind="confirm", offered=cap, delivered_per_s=cap, p99_ms=floor_ms * 2.5,
                    user_p99_ms=floor_ms * 2.7, judged=int(cap), verdict="pass", detail="",
                    load_bound=0))
    log.append(dict(kind="overload", offered=2 * sat, delivered_per_s=goodput,
                    p99_ms=SLO_MS * 30, user_p99_ms=SLO_MS * 31, judged=int(goodput),
                    verdict="collapsed" if goodput < 0.8 * sat else "held", detail="",
                    load_bound=0))
    return log


def cell(model, variant, c, w, b):
    """One result row of the toy model."""
    base, per_conn, cpus, rss = MODELS[(model, variant)]
    name = f"echo_capacity/{model}/{variant}/connections:{c}/work_us:{w}/block_ms:{b}"
    row = dict(name=name, run_name=name, run_type="iteration", scenario="echo", model=model,
               variant=variant, connections=c, work_us=w, block_ms=b, slo_ms=SLO_MS,
               server_cpus=cpus)
    why = not_run(model, variant, c, w, b)
    if why:
        return dict(row, capacity=0, load_bound=0, limit="not-run", limit_detail=why,
                    probe_log=[])
    cpu = w + base + per_conn * c + (2.0 if b else 0.0)
    core = cpus * 1e6 / cpu * (0.55 if cpus > 1 else 0.95)  # two CPUs: shared with the generator
    serial = c / ((RTT_US + b * 1000 + w + base) / 1e6)
    limits = [core, serial]
    if variant == "executor" and b:
        limits.append(EXECUTOR_THREADS / (b / 1e3 + w / 1e6))
    sat = min(limits) / 0.95 if min(limits) == core else min(limits)
    cap = min(limits) * 0.93
    load_bound = cap > GENERATOR_MAX
    if load_bound:
        cap, sat = GENERATOR_MAX * 0.9, GENERATOR_MAX
    collapses = model == "threads" and c >= 1000
    goodput = sat * (0.55 if collapses else 0.97)
    floor_us = RTT_US + w + b * 1000 + 20
    p99_us = min(SLO_MS * 800, floor_us * 3 + per_conn * c * 50)
    return dict(row, capacity=cap, load_bound=int(load_bound),
                projected_ceiling=cpus * 1e6 / cpu,
                limit="load-bound" if load_bound else "latency", limit_detail="",
                floor_p99_us=floor_us, p99_us=p99_us, user_p99_us=p99_us * 1.1,
                cpu_us_per_request=cpu, load_cpu_us_per_request=12.0,
                server_rss_kib=4000 + rss * c,
                saturation=sat, goodput=goodput, goodput_ratio=goodput / sat,
                overload_factor=2.0, overload_offered=2 * sat, collapsed=int(goodput < 0.8 * sat),
                confirmed=1, spread_p99=0.03,
                probe_log=probes(cap, sat, goodput, floor_us / 1e3, load_bound))


def fake_docs(cs=CS, ws=WS, bs=BS, models=MODELS):
    """{file name: document}: one crossover_<model>[_<variant>].json per contender."""
    docs = {}
    for model, variant in models:
        rows = [cell(model, variant, c, w, b) for b in bs for w in ws for c in cs]
        suffix = "" if variant in ("per-connection", "fixed", "inline") else f"_{variant}"
        docs[f"crossover_{model}{suffix}.json"] = {"context": dict(CONTEXT), "benchmarks": rows}
    return docs


def write_fake(folder, **grid):
    """Write fake_docs(**grid) into folder; return the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, doc in fake_docs(**grid).items():
        (folder / name).write_text(json.dumps(doc, indent=1), encoding="utf-8")
        paths.append(folder / name)
    return paths


def rounded(x):
    """x with every float cut to four significant digits."""
    if isinstance(x, float):
        return float(f"{x:.4g}")
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v) for v in x]
    return x


def write_one_file(path):
    """Every contender of the smaller grid in one file, a row a line."""
    docs = fake_docs(cs=(1, 100, 10000), ws=(0, 10, 1000))
    rows = [rounded(b) for d in docs.values() for b in d["benchmarks"]]
    Path(path).write_text('{"context": ' + json.dumps(CONTEXT) + ',\n "benchmarks": [\n'
                          + ",\n".join(json.dumps(r, separators=(",", ":")) for r in rows)
                          + "\n]}\n", encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one-file":
        write_one_file(sys.argv[2])
    elif len(sys.argv) == 2:
        for path in write_fake(sys.argv[1]):
            print(path)
    else:
        sys.exit(__doc__)
