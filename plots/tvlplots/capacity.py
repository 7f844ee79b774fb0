"""Fan-out capacity (book ch. 4): the most each broker carries within the latency SLO.

Reads `tvl capacity` points (`fanout_capacity/<model>/<design>/[cpus:K/]subscribers:N`): the
capacity found by ramping and bisecting the offered load, whether the load generator was the
limit (a lower bound), and the goodput when offered a multiple of it (collapse below 0.8×).
Ratios are to redis-server at the same subscriber count and placement.
"""
from .charts import decade_limits, plain_axes, side_legend, stamp
from .fmt import dur, num, rate_tick, ratio, si

CAP_ORDER = ["threads/improved", "asyncloop/improved", "asyncloop-mt/improved", "redis/peer",
             "python/peer", "python-uvloop/peer"]
CAP_STYLES = {"threads/improved": dict(color="#1f4e9c", marker="o"),
              "asyncloop/improved": dict(color="#c05a00", marker="D"),
              "asyncloop-mt/improved": dict(color="#e08a30", marker="d"),
              "redis/peer": dict(color="#444444", marker="s", linestyle=":"),
              "python/peer": dict(color="#1b7a3a", marker="^", linestyle=":"),
              "python-uvloop/peer": dict(color="#5fbf7a", marker="v", linestyle=":")}
CAP_REFERENCE = "redis/peer"
CAP_LIMITS = {"latency": "p99 over the SLO", "loss": "deliveries lost", "drops": "broker dropped",
              "load-bound": "the load generator (lower bound)", "check": "impossible counts",
              "max-probes": "probe budget"}


def cap_key(r):
    """A point's series: model/design ('redis/peer' for a reference broker)."""
    return f"{r['model']}/{r['variant']}"


def cap_label(key):
    """A series as the report names it: 'threads (improved)', or the peer's name alone."""
    model, design = key.split("/")
    return model if design == "peer" else f"{model} ({design})"


def capacity_rows(rows):
    """Split capacity rows into {key: [points by subscribers]} for one broker CPU (pinned) and
    for other placements (cpus:K in the name)."""
    single, other = {}, {}
    for r in rows:
        point = dict(r, subscribers=r["params"].get("subscribers"),
                     cpus=r["params"].get("cpus", 1))
        (single if point["cpus"] == 1 else other).setdefault(cap_key(r), []).append(point)
    for group in (single, other):
        for pts in group.values():
            pts.sort(key=lambda p: p["subscribers"])
    return single, other


def cap_sorted(keys):
    """Series keys in CAP_ORDER, unknown ones last by name."""
    return sorted(keys, key=lambda k: (CAP_ORDER.index(k) if k in CAP_ORDER else 99, k))


def capacity_figure(plt, single, context, command):
    """Capacity against subscribers, one line per broker; hollow markers: load-bound."""
    fig, ax = plt.subplots(figsize=(8.6, 4.8))
    fig.subplots_adjust(left=0.11, right=0.72, top=0.9, bottom=0.2)
    values = []
    for key in cap_sorted(single):
        pts = [p for p in single[key] if not p.get("failure") and p["counters"].get("capacity")]
        if not pts:
            continue
        style = dict(CAP_STYLES.get(key, dict(marker="o")))
        xs = [p["subscribers"] for p in pts]
        ys = [p["counters"]["capacity"] for p in pts]
        values += ys
        ax.plot(xs, ys, label=cap_label(key), linewidth=1.6, markersize=6, **style)
        bound = [p for p in pts if p["counters"].get("load_bound")]
        if bound:
            ax.plot([p["subscribers"] for p in bound], [p["counters"]["capacity"] for p in bound],
                    linestyle="none", marker=style.get("marker", "o"), markersize=11,
                    markerfacecolor="none", markeredgecolor="#d62728",
                    label="load-bound: at least this\n(the generator was the limit)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    decade_limits(ax, values)
    plain_axes(ax, "sustained deliveries/s (capacity)", rate_tick)
    ax.set_xticks(sorted({p["subscribers"] for pts in single.values() for p in pts}))
    ax.set_xlabel("subscribers")
    ax.set_title("Fan-out capacity: the most a broker carries with p99 within the SLO and "
                 "nothing lost", fontsize=9.5)
    side_legend(fig, ax, 0.72, 0.9)
    stamp(fig, context, command)
    return fig


def overload_figure(plt, single, context, command):
    """Goodput under overload as a share of each broker's own capacity."""
    import numpy as np
    keys = [k for k in cap_sorted(single)
            if any(p["counters"].get("goodput_ratio") is not None for p in single[k])]
    subs = sorted({p["subscribers"] for k in keys for p in single[k]
                   if p["counters"].get("goodput_ratio") is not None})
    fig, ax = plt.subplots(figsize=(8.6, 4.4))
    fig.subplots_adjust(left=0.1, right=0.72, top=0.88, bottom=0.2)
    width = 0.8 / max(1, len(keys))
    for i, key in enumerate(keys):
        by = {p["subscribers"]: p["counters"].get("goodput_ratio") for p in single[key]}
        xs = np.arange(len(subs)) + (i - (len(keys) - 1) / 2) * width
        ax.bar(xs, [by.get(n) or 0 for n in subs], width * 0.9, label=cap_label(key),
               color=CAP_STYLES.get(key, {}).get("color", "#888888"))
    ax.axhline(1.0, color="#333333", linewidth=0.8)
    ax.axhline(0.8, color="#d62728", linewidth=0.8, linestyle="--", label="below: collapse (0.8×)")
    ax.set_xticks(np.arange(len(subs)), [f"{n:,} subscribers" for n in subs])
    ax.set_ylabel("goodput / own capacity")
    factor = next((p["counters"].get("overload_factor") for k in keys for p in single[k]
                   if p["counters"].get("overload_factor")), None)
    ax.set_title(f"Offered {num(factor, 1)}× its capacity: does the broker keep delivering?",
                 fontsize=9.5)
    ax.grid(True, axis="y", alpha=0.3)
    side_legend(fig, ax, 0.72, 0.88)
    stamp(fig, context, command)
    return fig


def capacity_table(groups):
    """Every capacity point: capacity, per core, ratios to redis-server, CPU, limit, overload."""
    table = [["broker", "subscribers", "broker CPUs", "capacity", "per core", "× redis",
              "CPU s / M deliveries", "× redis", "p99 at capacity", "next step failed on",
              "goodput at overload", "÷ capacity", "peak RSS (overload)"]]
    for group in groups:
        ref = {p["subscribers"]: p["counters"] for p in group.get(CAP_REFERENCE, [])
               if not p.get("failure")}
        for key in cap_sorted(group):
            for p in group[key]:
                if p.get("failure"):
                    table.append([cap_label(key), f"{p['subscribers']:,}", str(p["cpus"]),
                                  "did not run: " + p["failure"]] + [""] * 9)
                    continue
                c, r = p["counters"], ref.get(p["subscribers"], {})
                cores = c.get("broker_cpus") or None
                limit = p["labels"].get("limit", "")
                cap = c.get("capacity") or 0
                if cap <= 0:  # no rate down to the floor met the SLO
                    table.append([cap_label(key), f"{p['subscribers']:,}", num(c.get("broker_cpus")),
                                  "none met the SLO", "—", "—", "—", "—", "—",
                                  CAP_LIMITS.get(limit, limit), "—", "—", "—"])
                    continue
                table.append([
                    cap_label(key), f"{p['subscribers']:,}", num(c.get("broker_cpus")),
                    si(cap) + (" (at least)" if c.get("load_bound") else ""),
                    si(cap / cores) if cores else "—",
                    cap_ratio(c, r),
                    num(c.get("cpu_s_per_million"), 3),
                    ratio(c.get("cpu_s_per_million"), r.get("cpu_s_per_million")),
                    dur(c.get("p99_us")), CAP_LIMITS.get(limit, limit),
                    si(c.get("goodput")) + (" (load-bound)" if c.get("overload_load_bound") else ""),
                    num(c.get("goodput_ratio"), 2) + (" collapse" if c.get("collapsed") else ""),
                    f"{c['overload_hwm_kib'] / 1024:.0f} MiB" if c.get("overload_hwm_kib") else "—"])
    return table


def cap_ratio(c, r):
    """Capacity c over the reference r. A lower bound (load-bound) over a measured capacity is a
    lower bound on the ratio ('≥ 2.10×'), a measured one over a lower bound an upper bound
    ('≤ 0.80×'); two lower bounds give no ratio at all."""
    if not c.get("capacity") or not r.get("capacity") or (c.get("load_bound") and r.get("load_bound")):
        return "—"
    mark = "≥ " if c.get("load_bound") else "≤ " if r.get("load_bound") else ""
    return mark + ratio(c["capacity"], r["capacity"])


def cap_text(c):
    """A capacity as words: '3.07 M/s', 'at least 247 k/s', 'no rate within the SLO'."""
    if not c.get("capacity"):
        return "no rate within the SLO"
    return ("at least " if c.get("load_bound") else "") + si(c["capacity"])


def capacity_findings(single, other):
    """Sentences generated from the points: each tvl broker against redis-server, collapses,
    and the comparison at equal cores."""
    out = []
    ref = {p["subscribers"]: p["counters"] for p in single.get(CAP_REFERENCE, [])
           if not p.get("failure")}
    for key in ("asyncloop/improved", "threads/improved", "asyncloop-mt/improved"):
        for p in single.get(key, []):
            c, r = p["counters"], ref.get(p["subscribers"])
            if p.get("failure") or not r:
                continue
            where = f"At {p['subscribers']:,} subscribers on one core, {cap_label(key)}"
            if not c.get("capacity"):
                out.append(f"{where} met the latency SLO at no rate tried; redis-server "
                           f"sustained {cap_text(r)}.")
            elif c.get("load_bound") and r.get("load_bound"):
                out.append(f"{where} sustained {cap_text(c)} and redis-server {cap_text(r)}: "
                           "the load generator was the limit of both, so their ratio is not a "
                           "result. CPU per million deliveries: "
                           f"{num(c.get('cpu_s_per_million'), 3)} s against "
                           f"{num(r.get('cpu_s_per_million'), 3)} s.")
            elif r.get("capacity"):
                bound = (" — a lower bound: the load generator was the limit"
                         if c.get("load_bound") or r.get("load_bound") else "")
                out.append(f"{where} sustained {cap_text(c)} ({cap_ratio(c, r)} redis-server's "
                           f"{cap_text(r)}{bound}), at {num(c.get('cpu_s_per_million'), 3)} CPU s "
                           f"per million deliveries against {num(r.get('cpu_s_per_million'), 3)}.")
    for key, pts in [*single.items(), *other.items()]:
        for p in pts:
            if p["counters"].get("collapsed"):
                out.append(f"**Collapse:** {cap_label(key)} at {p['subscribers']:,} subscribers "
                           f"delivered {si(p['counters'].get('goodput'))} when offered "
                           f"{num(p['counters'].get('overload_factor'), 1)}× its capacity, "
                           f"{p['counters'].get('goodput_ratio', 0):.2f}× of it.")
    by_cpus = {}
    for key, pts in other.items():
        for p in pts:
            if not p.get("failure"):
                by_cpus.setdefault((p["cpus"], p["subscribers"]), {})[key] = p["counters"]
    for (cpus, n), found in sorted(by_cpus.items()):
        t, m = found.get("threads/improved"), found.get("asyncloop-mt/improved")
        if t and m:
            out.append(f"At equal cores ({cpus} for the broker, shared with the load generator) "
                       f"and {n:,} subscribers: asyncloop-mt sustained {cap_text(m)}, threads "
                       f"{cap_text(t)}"
                       + (f" ({m['capacity'] / t['capacity']:.2f}×)." if t.get("capacity")
                          and m.get("capacity") and not t.get("load_bound")
                          and not m.get("load_bound") else "."))
    return [("p", s) for s in out]


def probe_length(rows):
    """' (3 s of load after a warm-up)': the probe length the points recorded, if any."""
    lengths = sorted({r["counters"]["probe_s"] for r in rows if "probe_s" in r["counters"]})
    return (f" ({' or '.join(f'{s:g}' for s in lengths)} s of load after a warm-up)"
            if lengths else "")


def render_capacity(plt, rows, context, command):
    """Fan-out capacity section: the capacity figure, overload goodput, table and findings."""
    single, other = capacity_rows(rows)
    # The one-core placement is the one every broker shares; the two-CPU rows say theirs below.
    first = next((p for pts in single.values() for p in pts), rows[0])["context"]
    blocks = [("p", "Capacity is the highest offered load, in deliveries per second, that a "
                    "broker sustains for a whole probe with nothing lost or dropped, at least 99% "
                    "of the offered deliveries arrived, and p99 latency from the *intended* send "
                    "within the SLO (`tvl capacity`: ramp ×2 until a probe fails, then bisect to "
                    f"within 5%). Each probe{probe_length(rows)} starts a fresh broker; "
                    f"{first.get('placement', 'placement unknown')} — the same for every broker "
                    "(rows with two broker CPUs share them with the load generator). A failed "
                    "probe during which the load generator itself was busy (running, or waiting "
                    "for a CPU) 90% of the time or more is *load-bound*: the search stops there, "
                    "and the capacity is only a lower bound (\"at least\"). Then each broker is "
                    "offered a multiple of its own capacity: a broker whose goodput falls below "
                    "0.8× of it has collapsed.")]
    for key, pts in {**single, **other}.items():
        for p in pts:
            if p.get("failure"):
                blocks.append(("p", f"**Did not run:** `{cap_label(key)}` at "
                                    f"{p['subscribers']:,} subscribers — {p['failure']}"))
    blocks += capacity_findings(single, other)
    figures = {}
    if single:
        figures["fanout_capacity"] = capacity_figure(plt, single, context, command)
        blocks.append(("figure", "fanout_capacity",
                       "Sustained deliveries per second against subscribers, each broker on one "
                       "pinned core and the load generator on another. Higher is better; a "
                       "ringed point is a lower bound (the generator was the limit)."))
        figures["fanout_overload"] = overload_figure(plt, single, context, command)
        blocks.append(("figure", "fanout_overload",
                       "Goodput when offered a multiple of each broker's own capacity, as a share "
                       "of that capacity. 1.0: it holds its capacity under overload; below the "
                       "dashed line it has collapsed."))
    blocks.append(("table", capacity_table([single, other])))
    blocks.append(("p", "Ratios are to redis-server at the same subscriber count and placement. "
                        "Per core divides the capacity by the CPUs the broker was pinned to. "
                        "CPU seconds per million deliveries is the broker's CPU time (every "
                        "thread, from /proc) during the probe at capacity."))
    return blocks, figures
