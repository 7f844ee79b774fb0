"""Fan-out capacity (book ch. 4): the most each broker carries within the latency SLO.

Reads `tvl capacity` points (`fanout_capacity/<model>/<design>/[cpus:K/]subscribers:N`): the
capacity found by searching the offered load, the broker's floor and the SLO set for that
fan-out degree, whether the load generator was the limit (then "≥", with a CPU-projected
ceiling beside it), both processes' CPU per delivery, and the goodput when offered a multiple
of the broker's saturation rate (collapse below 0.8×). Its probe_log, every probe the search
ran, draws the knee: p99 against offered load. How a capacity is worded and how brokers are
compared is capacity_terms.py's, shared with the headline.
"""
from .capacity_figures import (cap_key, cap_label, cap_sorted, capacity_figure, knee_figure,
                               overload_figure, projected_of, saturation_of)
from .capacity_terms import (RATIO_BROKERS, broker_cpu, broker_ratio, is_measured, lowest_tried,
                             positive, ratio_line)
from .fmt import dur, num, si

CAP_LIMITS = {"latency": "p99 over the SLO", "loss": "deliveries lost", "drops": "broker dropped",
              "load-bound": "the load generator (lower bound)", "check": "impossible counts",
              "too-few": "too few latencies to judge", "max-probes": "probe budget",
              "not-run": "a probe could not run (see its log)"}


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


def no_pass_text(p):
    """'no rate passed: lowest tried 13.0 k/s (p99 50.3 ms; floor 37.3 ms)'."""
    low, floor = lowest_tried(p), positive(p["counters"].get("floor_p99_us"))
    notes = []
    if low and low[1]:
        notes.append(f"p99 {dur(low[1])}")
    if low and low[2] and low[2] != "latency":
        notes.append(low[2])
    if floor:
        notes.append(f"floor {dur(floor)}")
    text = "no rate passed" + (f": lowest tried {si(low[0])}" if low else "")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def cap_phrase(p):
    """A capacity in words: '3.07 M/s', 'at least 16.0 M/s (projected 24.1 M/s)', or why no
    rate passed."""
    c = p["counters"]
    if not positive(c.get("capacity")):
        return no_pass_text(p)
    if is_measured(c):
        return si(c["capacity"])
    projected = projected_of(p)
    return f"at least {si(c['capacity'])}" + (f" (projected {si(projected)})" if projected else "")


def slo_text(c, labels):
    """'10 ms', '10 ms (--slo-ms)', or a dash."""
    if not positive(c.get("slo_ms")):
        return "—"
    return f"{c['slo_ms']:g} ms" + (" (--slo-ms)" if labels.get("slo_source") == "option" else "")


def p99_text(c, labels):
    """p99 at capacity, from the kernel's receive stamp, the user-space receive time beside it;
    a dash where no latency was judged (never '0 µs')."""
    p99, user = positive(c.get("p99_us")), positive(c.get("user_p99_us"))
    if not p99:
        return "—"
    if labels.get("receive_clock") == "user":
        return f"{dur(p99)} (user-space clock)"
    return dur(p99) + (f" (user {dur(user)})" if user else "")


def confirmed_text(c):
    """'yes (p99 ±2.4%, delivered ±0.2%)', 'no', or a dash for results without the field."""
    if "confirmed" not in c or not positive(c.get("capacity")):
        return "—"
    if not c["confirmed"]:
        return "no"
    spreads = [f"{what} ±{100 * c[k]:.1f}%" for k, what in (("spread_p99", "p99"),
                                                              ("spread_delivered", "delivered"))
               if c.get(k) is not None]
    return "yes" + (f" ({', '.join(spreads)})" if spreads else "")


def cpu_text(value):
    """CPU seconds per million deliveries, three significant digits, or a dash where none was
    measured (never 0)."""
    return f"{value:#.3g}".rstrip(".") if positive(value) else "—"


def capacity_table(groups):
    """Every capacity point: the capacity or why there is none, its projected ceiling, the SLO
    and floor, p99 there, both processes' CPU per delivery, confirmation, what limited it."""
    table = [["broker", "subscribers", "broker CPUs", "capacity", "projected ceiling",
              "SLO (p99)", "floor p99", "p99 at capacity", "broker CPU s / M deliveries",
              "generator CPU s / M deliveries", "confirmed (spread)", "next step failed on"]]
    for group in groups:
        for key in cap_sorted(group):
            for p in group[key]:
                head = [cap_label(key), f"{p['subscribers']:,}"]
                if p.get("failure"):
                    table.append(head + [str(p["cpus"]), "did not run: " + p["failure"]]
                                 + [""] * 8)
                    continue
                c, labels = p["counters"], p["labels"]
                cap = positive(c.get("capacity"))
                projected = projected_of(p)
                limit = labels.get("limit", "")
                cell = (si(cap) if is_measured(c) else f"≥ {si(cap)} (load-bound)" if cap
                        else no_pass_text(p))
                table.append(head + [
                    num(c.get("broker_cpus")), cell,
                    f"{si(projected)} projected" if projected else "—",
                    slo_text(c, labels), dur(positive(c.get("floor_p99_us"))),
                    p99_text(c, labels) if cap else "—",
                    cpu_text(broker_cpu(c)) if cap else "—",
                    cpu_text(c.get("load_cpu_s_per_million")) if cap else "—",
                    confirmed_text(c),
                    labels.get("limit_detail") or CAP_LIMITS.get(limit, limit) or "—"])
    return table


def overload_table(groups):
    """Every overload probe: the saturation rate, what was offered, the goodput against it."""
    table = [["broker", "subscribers", "broker CPUs", "saturation (flat out)", "offered",
              "goodput", "÷ saturation", "p99 under overload", "verdict", "peak RSS"]]
    for group in groups:
        for key in cap_sorted(group):
            for p in group[key]:
                c, labels = p["counters"], p["labels"]
                if p.get("failure") or c.get("goodput") is None:
                    continue
                sat = saturation_of(c)
                source = labels.get("saturation_source")
                factor = c.get("overload_factor")
                share = (f"{c['goodput'] / sat:.2f}" if sat else
                         f"{num(c.get('goodput_ratio'), 2)} (÷ capacity)")
                rss = c.get("overload_hwm_kib")
                table.append([
                    cap_label(key), f"{p['subscribers']:,}", num(c.get("broker_cpus")),
                    (si(sat) + (f" ({source})" if source else "")) if sat else "—",
                    si(c.get("overload_offered"))
                    + (f" ({num(factor, 1)}×)" if factor else "")
                    + (" — not past saturation" if c.get("overload_under_offered") else ""),
                    si(c["goodput"]) + (" (load-bound)" if c.get("overload_load_bound") else ""),
                    share + (" collapsed" if c.get("collapsed") else
                             " (load-bound: not judged)"
                             if c.get("overload_load_bound") and sat
                             and c["goodput"] < 0.8 * sat else ""),
                    dur(positive(c.get("overload_p99_us"))),
                    labels.get("overload_verdict", "—"),
                    f"{rss / 1024:.0f} MiB" if rss else "—"])
    return table if len(table) > 1 else None


def at_count(single, n):
    """{ratio label: point} of the ratio brokers that ran at n subscribers."""
    found = {}
    for model, design, label in RATIO_BROKERS:
        for p in single.get(f"{model}/{design}", []):
            if p["subscribers"] == n and not p.get("failure"):
                found[label] = p
    return found


def slo_clause(points):
    """' (SLO p99 ≤ 10 ms)' from the points at one count, if they record it."""
    slos = sorted({p["counters"]["slo_ms"] for p in points
                   if positive(p["counters"].get("slo_ms"))})
    return f" (SLO p99 ≤ {' or '.join(f'{s:g} ms' for s in slos)})" if slos else ""


def ratio_sentences(single):
    """One sentence per subscriber count: asyncloop : threads : redis-server (: python), marked
    measured or projected, and who was left out and why."""
    out = []
    counts = sorted({p["subscribers"] for pts in single.values() for p in pts})
    for n in counts:
        found = at_count(single, n)
        if not found:
            continue
        where = f"**At {n:,} subscribers**{slo_clause(found.values())}: "
        ratio = broker_ratio(found)
        if not ratio:
            out.append(where + "no ratio: fewer than two of "
                       + ", ".join(label for _, _, label in RATIO_BROKERS)
                       + " have a capacity or a projected ceiling here ("
                       + "; ".join(f"{label}: {cap_phrase(p)}" for label, p in found.items())
                       + ").")
            continue
        text = where + ratio_line(ratio)
        if ratio["kind"] == "measured":
            text += ", **measured**: every capacity in it was measured, no term load-bound."
        else:
            bound = [label for label, p in found.items()
                     if p["counters"].get("load_bound") and positive(p["counters"].get("capacity"))]
            text += (", **projected**: " + " and ".join(bound)
                     + (" was" if len(bound) == 1 else " were")
                     + " load-bound (the load generator was the limit, so a capacity there is "
                     "only a lower bound), so every term is the broker's CPU-projected ceiling "
                     "(10⁶ ÷ its CPU seconds per million deliveries at its highest passing "
                     "probe), measured capacities included.")
        for label, p in ratio["left_out"]:
            text += f" {label} is left out: {cap_phrase(p)}."
        out.append(text)
    return out


def overload_sentences(single, other):
    """Collapses, and overload probes that did not offer more than the broker's saturation."""
    out = []
    for key, pts in [*single.items(), *other.items()]:
        for p in pts:
            c = p["counters"]
            where = f"{cap_label(key)} at {p['subscribers']:,} subscribers"
            sat = saturation_of(c)
            if c.get("collapsed"):
                out.append(
                    f"**Collapse:** {where} delivered {si(c.get('goodput'))} when offered "
                    f"{si(c.get('overload_offered'))}, {num(c.get('overload_factor'), 1)}× its "
                    + (f"saturation rate of {si(sat)}: {c['goodput'] / sat:.2f}× of it."
                       if sat else f"capacity: {num(c.get('goodput_ratio'), 2)}× of it."))
            if c.get("overload_under_offered"):
                out.append(f"**Not past saturation:** {where} was offered no more than it "
                           f"delivered flat out ({si(sat)}): the load generator could not offer "
                           "more, so its overload probe does not test overload.")
    return out


def equal_core_sentences(other):
    """threads against asyncloop-mt on the same CPUs, where both were searched."""
    by_cpus = {}
    for key, pts in other.items():
        for p in pts:
            if not p.get("failure"):
                by_cpus.setdefault((p["cpus"], p["subscribers"]), {})[key] = p
    out = []
    for (cpus, n), found in sorted(by_cpus.items()):
        t, m = found.get("threads/improved"), found.get("asyncloop-mt/improved")
        if t and m:
            tc, mc = t["counters"], m["counters"]
            both = is_measured(tc) and is_measured(mc)
            out.append(f"At equal cores ({cpus} for the broker, shared with the load generator) "
                       f"and {n:,} subscribers: asyncloop-mt sustained {cap_phrase(m)}, threads "
                       f"{cap_phrase(t)}"
                       + (f" ({mc['capacity'] / tc['capacity']:.2f}×, measured)." if both
                          else "."))
    return out


def probe_length(rows):
    """' (3 s of load after a warm-up)': the probe length the points recorded, if any."""
    lengths = sorted({r["counters"]["probe_s"] for r in rows if "probe_s" in r["counters"]})
    return (f" ({' or '.join(f'{s:g}' for s in lengths)} s of load after a warm-up)"
            if lengths else "")


def slo_summary(single):
    """'10 ms at 10 subscribers and 25 ms at 1,000, the default for each fan-out degree'."""
    by = {}
    sources = set()
    for pts in single.values():
        for p in pts:
            if positive(p["counters"].get("slo_ms")):
                by.setdefault(p["subscribers"], set()).add(p["counters"]["slo_ms"])
                sources.add(p["labels"].get("slo_source", ""))
    if not by:
        return ""
    parts = [" or ".join(f"{s:g} ms" for s in sorted(slos)) + f" at {n:,}"
             for n, slos in sorted(by.items())]
    how = ("set with --slo-ms" if sources == {"option"} else
           "the default for each fan-out degree" if sources == {"default"} else "")
    return " here: p99 ≤ " + ", ".join(parts) + " subscribers" + (f", {how}" if how else "")


def precision_of(rows):
    """How close the search bisects, as the rows recorded it (5%, tvl's default, for older files)."""
    found = {p["counters"].get("precision") for p in rows if p["counters"].get("precision")}
    return ", ".join(f"{x * 100:.0f}%" for x in sorted(found)) if found else "5%"


def render_capacity(plt, rows, context, command):
    """Fan-out capacity section: the ratios, the table with the knee beside it, the capacity
    and overload figures, the overload table and what they show."""
    single, other = capacity_rows(rows)
    # The one-core placement is the one every broker shares; the two-CPU rows say theirs below.
    first = next((p for pts in single.values() for p in pts), rows[0])["context"]
    blocks = [("p", "Capacity is the highest offered load, in deliveries per second, that a "
                    "broker sustains for a whole probe" + probe_length(rows) + " with nothing "
                    "lost or dropped, at least 99% of the offered deliveries arrived, and p99 "
                    "latency from the *intended* send within the SLO. Before searching, a "
                    "trickle measures each broker's *floor*: the p99 of one message's fan-out to "
                    "every subscriber. The SLO is set per fan-out degree, the same for every "
                    f"broker at a given count{slo_summary(single)}. The search (`tvl capacity`) "
                    f"ramps ×2 until a probe fails and bisects to within {precision_of(rows)}; "
                    "a probe that judged "
                    "too few latencies to estimate its p99 is no pass. The capacity is confirmed "
                    "when its probe passes a second time, and the spread between the two runs is "
                    "kept. Each probe starts a fresh broker; "
                    f"{first.get('placement', 'placement unknown')} — the same for every broker "
                    "(rows with two broker CPUs share them with the load generator). A failed "
                    "probe during which the load generator itself was busy 90% of the time or "
                    "more is *load-bound*: the search stops there, the capacity is only a lower "
                    "bound (≥), and beside it stands a *projected* ceiling, 10⁶ ÷ the broker's "
                    "CPU seconds per million deliveries at its highest passing probe: what one "
                    "core would carry were the broker the only limit — a projection, not a "
                    "measurement. Then each broker is offered a multiple of its *saturation* "
                    "rate, the most it delivered flat out (in the calibration flood or any "
                    "probe): a broker whose goodput falls below 0.8× of that rate has "
                    "collapsed.")]
    for key, pts in {**single, **other}.items():
        for p in pts:
            if p.get("failure"):
                blocks.append(("p", f"**Did not run:** `{cap_label(key)}` at "
                                    f"{p['subscribers']:,} subscribers — {p['failure']}"))
    blocks += [("p", s) for s in ratio_sentences(single)]
    blocks.append(("table", capacity_table([single, other])))
    blocks.append(("p", "Broker CPU is the broker's CPU time (every thread, from /proc) per "
                        "million deliveries during the probe at capacity; generator CPU is the "
                        "load generator's for the same deliveries — where it is near or above "
                        "the broker's, the machine's cores limit the generator as much as the "
                        "broker. p99 is timed to the kernel's receive stamp of each read "
                        "(`SO_TIMESTAMPNS`: when the broker's bytes reached the socket, not when "
                        "the generator got round to reading them); the p99 from the user-space "
                        "receive time is in brackets. Confirmed: the capacity probe passed a "
                        "second time; spread: how far apart the two runs' p99 and delivered "
                        "rate came out."))
    figures = {}
    knee = knee_figure(plt, single, context, command) if single else None
    if knee:
        figures["fanout_knee"] = knee
        blocks.append(("figure", "fanout_knee",
                       "The knee: p99 latency (from the intended send) against the offered load "
                       "of every probe the search ran — the floor trickle, the search, its "
                       "confirmation and the overload probe (the calibration flood is left "
                       "out). Filled: the probe passed; hollow: it failed; ringed in red: "
                       "load-bound, a point that measures the generator, not the broker. The "
                       "dashed line is the SLO: past the rate where a broker's line crosses "
                       "it, latency explodes."))
    if single:
        figures["fanout_capacity"] = capacity_figure(plt, single, context, command)
        blocks.append(("figure", "fanout_capacity",
                       "Sustained deliveries per second against subscribers, each broker on one "
                       "pinned core and the load generator on another. Higher is better; a "
                       "ringed point is a lower bound (the generator was the limit), its "
                       "projected ceiling drawn above it."))
        figures["fanout_overload"] = overload_figure(plt, single, context, command)
        blocks.append(("figure", "fanout_overload",
                       "Goodput when offered a multiple of each broker's saturation rate, as a "
                       "share of that rate. 1.0: it holds its throughput past saturation; below "
                       "the dashed line it has collapsed (bar edged in red); a hatched bar was "
                       "not offered more than the broker delivered flat out, so it does not test "
                       "overload."))
    table = overload_table([single, other])
    if table:
        blocks.append(("table", table))
    blocks += [("p", s) for s in overload_sentences(single, other) + equal_core_sentences(other)]
    return blocks, figures
