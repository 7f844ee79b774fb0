"""Fan-out (book ch. 4, Streams: a message queue): one broker, many subscribers.

Reads the `tvl sweep fanout` points (`fanout/<model>/<design>/subscribers:N`, a reference
broker's design `peer`, a slow consumer's `slow:1`): every point's table row, the ratios to
redis-server at the same load, threads against the loop at the largest count both reached, and
every point that did not run or whose checks failed, with its reason. The figures are drawn in
fanout_figures.py.
"""
from .fanout_figures import (FAN_PERCENTILES, fan_base, fan_key, fan_rate,
                             fanout_latency_figure, fanout_memory_figure, fanout_slow_figure,
                             fanout_throughput_figure)
from .fmt import ctx, dur, num, rate_tick, ratio, si
from .load import PlotError

FAN_ORDER = ["threads/naive", "threads/improved", "asyncloop/naive", "asyncloop/improved",
             "redis", "python", "python-uvloop"]
FAN_REFERENCE = "redis"  # the reference broker every ratio is taken against (SPEC §6)
FAN_COMPARED = ("asyncloop/improved", "threads/improved", "python", "python-uvloop")
FAN_NEEDS = ("items_per_second", "published_per_second", "delivered", "lost", "gaps",
             "duplicates_or_reordered", "p50_us", "p99_us", "p999_us", "sent_p50_us",
             "sent_p99_us", "sent_p999_us", "rss_kib")


def fan_name(r):
    """The row's benchmark name."""
    return "/".join(["fanout", r["model"], r["variant"]]
                    + [f"{k}:{v}" for k, v in r["params"].items()])


def fan_connections(r):
    """Connections the broker held at this point: subscribers, publishers and slow ones."""
    c = r["counters"]
    return r["subscribers"] + int(c.get("publishers", 1)) + int(c.get("slow_subscribers", 0))


def fanout_rows(rows):
    """Split rows into ({series: points}, {series: slow-consumer points}), each list sorted by
    subscribers; adds the derived counters the figures draw (KiB per connection, its slope)."""
    normal, slow = {}, {}
    for r in rows:
        c = r["counters"]
        subs = r["params"].get("subscribers", c.get("subscribers"))
        missing = ([] if r.get("failure") else [k for k in FAN_NEEDS if k not in c]) \
            + (["subscribers"] if subs is None else [])
        if missing:
            raise PlotError(f"{fan_name(r)}: missing counter " + ", ".join(missing))
        r["subscribers"] = int(subs)
        r["slow"] = int(r["params"].get("slow", 0) or c.get("slow_subscribers", 0) or 0)
        if not r.get("failure"):
            c["kib_per_connection"] = c["rss_kib"] / fan_connections(r)
        (slow if r["slow"] else normal).setdefault(fan_key(r), []).append(r)
    rank = lambda k: (FAN_ORDER.index(fan_base(k)) if fan_base(k) in FAN_ORDER else 99, k)
    out = [{k: sorted(group[k], key=lambda r: r["subscribers"]) for k in sorted(group, key=rank)}
           for group in (normal, slow)]
    for points in out[0].values():  # the slope: KiB per connection added since the last point
        ok = [p for p in points if not p.get("failure")]
        for prev, p in zip(ok, ok[1:]):
            added = fan_connections(p) - fan_connections(prev)
            if added > 0:
                p["counters"]["kib_per_added_connection"] = (
                    (p["counters"]["rss_kib"] - prev["counters"]["rss_kib"]) / added)
    return out


def cpu_per_million(c):
    """Broker CPU seconds per million deliveries (the counter, else broker_cpu_s over
    delivered), or None without either."""
    if c.get("broker_cpu_s_per_million") is not None:
        return c["broker_cpu_s_per_million"]
    if c.get("broker_cpu_s") is None or not c.get("delivered"):
        return None
    return c["broker_cpu_s"] / c["delivered"] * 1e6


def load_cpu_per_million(c):
    """The load generator's CPU seconds per million deliveries, or None in older results."""
    return c.get("load_cpu_s_per_million")


def has(points, key):
    """Whether any point that ran carries this counter (older results lack the newer ones)."""
    return any(key in p["counters"] for p in points if not p.get("failure"))


def cpu_cell(value):
    """CPU seconds per million deliveries with two decimals, or a dash."""
    return "—" if value is None else f"{value:.2f}"


def fanout_ratios(normal):
    """Ratios to the reference broker at every subscriber count that both reached:
    (table, sentences)."""
    ref_key = f"{FAN_REFERENCE} (peer)"
    ref = {p["subscribers"]: p for p in normal.get(ref_key, []) if not p.get("failure")}
    keys = [k for k in normal if fan_base(k) in FAN_COMPARED]
    keys.sort(key=lambda k: FAN_COMPARED.index(fan_base(k)))
    every = [p for pts in normal.values() for p in pts]
    user, load = has(every, "user_p99_us"), has(every, "load_cpu_s_per_million")
    table = [["subscribers", "broker", "delivered/s", "× redis", "p99 from intended send",
              "× redis"] + (["p99 at user-space receive"] if user else [])
             + ["p99 from actual send", "× redis", "broker CPU s per M deliveries", "× redis"]
             + (["generator CPU s per M deliveries"] if load else []) + ["check"]]
    extra = lambda c: (([dur(c.get("user_p99_us"))] if user else []),
                       ([cpu_cell(load_cpu_per_million(c))] if load else []))
    sentences = []
    for n in sorted(ref):
        r = ref[n]["counters"]
        rc = cpu_per_million(r)
        mine = [(k, p) for k in keys for p in normal[k]
                if p["subscribers"] == n and not p.get("failure")]
        if not mine:
            continue
        user_cell, load_cell = extra(r)
        table.append([f"{n:,}", "redis-server (reference)", si(r["items_per_second"]), "1",
                      dur(r["p99_us"]), "1"] + user_cell + [dur(r["sent_p99_us"]), "1",
                      cpu_cell(rc), "1"] + load_cell
                     + [f"CHECK FAILED: {ref[n]['check']}" if ref[n].get("check") else "ok"])
        parts = []
        for k, p in mine:
            c = p["counters"]
            mc = cpu_per_million(c)
            user_cell, load_cell = extra(c)
            table.append([f"{n:,}", k, si(c["items_per_second"]),
                          ratio(c["items_per_second"], r["items_per_second"]),
                          dur(c["p99_us"]), ratio(c["p99_us"], r["p99_us"])] + user_cell
                         + [dur(c["sent_p99_us"]), ratio(c["sent_p99_us"], r["sent_p99_us"]),
                            cpu_cell(mc), ratio(mc, rc)] + load_cell
                         + [f"CHECK FAILED: {p['check']}" if p.get("check") else "ok"])
            parts.append(f"{k} {ratio(c['items_per_second'], r['items_per_second'])} "
                         "redis-server's deliveries per second, "
                         f"{ratio(c['p99_us'], r['p99_us'])} its p99 "
                         "latency" + (f", {ratio(mc, rc)} its CPU time per delivery"
                                      if ratio(mc, rc) != "—" else "")
                         + (" (**its checks failed**: not a valid comparison)"
                            if p.get("check") else ""))
        offered = fan_rate(r) * n
        kept = all(q["counters"]["lost"] == 0 and not q.get("check")
                   and q["counters"]["items_per_second"] >= 0.95 * offered
                   for q in [ref[n]] + [p for _, p in mine])
        sentences.append(
            f"**Against redis-server at {n:,} subscribers** ({rate_tick(offered)} offered, "
            "identical load): " + "; ".join(parts) + "."
            + (" Every broker here delivered every message, within 5% of the offered rate, "
               "so the delivered-per-second ratio says little more than that; the latency and "
               "CPU ratios are the comparison." if kept else ""))
    return (table if len(table) > 1 else None), sentences


def fanout_findings(normal):
    """Sentences computed from the rows: threads against the loop at the largest subscriber
    count both improved brokers reached."""
    t = {p["subscribers"]: p for p in normal.get("threads/improved", []) if not p.get("failure")}
    a = {p["subscribers"]: p for p in normal.get("asyncloop/improved", []) if not p.get("failure")}
    both = sorted(set(t) & set(a))
    if not both:
        return []
    n = both[-1]
    tc, ac = t[n]["counters"], a[n]["counters"]
    cpu = [cpu_per_million(tc), cpu_per_million(ac)]
    text = (f"**Threads against one event loop** (improved designs, {n:,} subscribers): broker "
            f"RSS per connection {tc['kib_per_connection']:.1f} KiB (threads) against "
            f"{ac['kib_per_connection']:.1f} KiB (asyncloop)")
    if "kib_per_added_connection" in tc and "kib_per_added_connection" in ac:
        text += (f", {tc['kib_per_added_connection']:.1f} against "
                 f"{ac['kib_per_added_connection']:.1f} KiB per connection added since the "
                 "previous point")
    if None not in cpu:
        text += f"; CPU per million deliveries {cpu[0]:.2f} s against {cpu[1]:.2f} s"
    text += (f"; p99 latency {dur(tc['p99_us'])} against {dur(ac['p99_us'])}; main-thread "
             f"context switches {num(tc.get('vcsw'), 0)} voluntary / {num(tc.get('ivcsw'), 0)} "
             f"involuntary against {num(ac.get('vcsw'), 0)} / {num(ac.get('ivcsw'), 0)}.")
    flagged = [k for k, p in (("threads", t[n]), ("asyncloop", a[n])) if p.get("check")]
    if flagged:
        text += f" (**Check failed** for {', '.join(flagged)} at this point: see above.)"
    return [("p", text)]


def fanout_table(normal, slow):
    """Every point, failed ones included, in series order. The user-space receive latencies and
    the generator's CPU are columns where the results carry them."""
    every = [p for group in (normal, slow) for pts in group.values() for p in pts]
    user, load = has(every, "user_p99_us"), has(every, "load_cpu_s_per_million")
    table = [["model", "design", "subscribers", "slow", "published/s", "delivered/s", "lost",
              "gaps", "dup/reordered", "p50 / p99 / p99.9 from intended send"
              + (" (kernel receive stamp)" if user else "")]
             + (["p50 / p99 at user-space receive"] if user else [])
             + ["p50 / p99 / p99.9 from actual send", "broker RSS", "KiB per connection",
                "broker CPU s", "broker CPU s / M deliveries"]
             + (["generator CPU s / M deliveries"] if load else []) + ["vcsw", "ivcsw", "check"]]
    lat = lambda c, pre: " / ".join(dur(c[pre + k]) for k, _ in FAN_PERCENTILES)
    for p in every:
        head = [p["model"], p["variant"], f"{p['subscribers']:,}", str(p["slow"])]
        if p.get("failure"):
            table.append(head + ["—"] * (len(table[0]) - 5) + [f"did not run: {p['failure']}"])
            continue
        c = p["counters"]
        table.append(head + [
            si(c["published_per_second"]), si(c["items_per_second"]), num(c["lost"], 0),
            num(c["gaps"], 0), num(c["duplicates_or_reordered"], 0), lat(c, "")]
            + ([user_lat(c)] if user else [])
            + [lat(c, "sent_"), f"{c['rss_kib'] / 1024:.1f} MiB",
               f"{c['kib_per_connection']:.1f}", num(c.get("broker_cpu_s"), 2),
               cpu_cell(cpu_per_million(c))]
            + ([cpu_cell(load_cpu_per_million(c))] if load else [])
            + [num(c.get("vcsw"), 0), num(c.get("ivcsw"), 0),
               f"CHECK FAILED: {p['check']}" if p.get("check") else "ok"])
    return table


def user_lat(c):
    """'562 µs / 1.12 ms': p50 and p99 at user-space receive, or a dash in older results."""
    if c.get("user_p99_us") is None:
        return "—"
    return f"{dur(c.get('user_p50_us'))} / {dur(c['user_p99_us'])}"


def clock_note(points):
    """What the two receive clocks are, where the results carry the user-space one; how many
    deliveries had no kernel stamp."""
    if not has(points, "user_p99_us"):
        return []
    unstamped = sum(p["counters"].get("unstamped", 0) for p in points if not p.get("failure"))
    return [("p", "**Two receive clocks.** Latency from the intended send is timed to the "
                  "kernel's receive stamp of each read (`SO_TIMESTAMPNS`): when the broker's "
                  "bytes reached the subscriber's socket, whatever the load generator was doing. "
                  "The user-space column times the same deliveries when the generator got round "
                  "to reading them, so it adds the generator's own reading time to the broker's; "
                  "the difference between the two is the generator's. A read that holds several "
                  "messages carries its last segment's stamp: later than the truth, never "
                  "earlier. "
                  + (f"{unstamped:,.0f} deliveries carried no kernel stamp and were timed in user "
                     "space (`unstamped`)." if unstamped else
                     "Every delivery carried a kernel stamp."))]


def render_fanout(plt, rows, context, command):
    """Fan-out section: throughput, latency, memory and slow-consumer figures, ratios to
    redis-server, every point in a table, and every failure with its reason."""
    normal, slow = fanout_rows(rows)
    every = [p for group in (normal, slow) for pts in group.values() for p in pts]
    first = every[0]["context"]
    blocks = [("p", "Each point starts one broker as a child process (`tvl sweep fanout`), "
                    "connects the subscribers and publishers, confirms every subscription with a "
                    "probe message, then publishes on an open-loop schedule and checks that every "
                    "subscriber got every message, once, in order. Latency is taken from when "
                    "each message was due (corrected for coordinated omission) and from when it "
                    "was really sent. Broker RSS, CPU time (all threads) and context switches "
                    "are read from /proc/<pid> (context switches summed over every thread). "
                    "The load generator runs on the same machine "
                    f"({ctx(first, 'cores')} cores) as the broker, so the two compete for the "
                    "CPU.")]
    checks = [p for p in every if p.get("check") and not p.get("failure")]
    for p in checks:
        note = (" A naive broker with a slow subscriber is expected to fail here: it moves at "
                "the pace of its slowest subscriber." if p["slow"] and p["variant"] == "naive"
                else "")
        blocks.append(("p", f"**Check failed:** `{fan_name(p)}` — {p['check']}. Its numbers are "
                            "kept in the figures (ringed in red) and the table, but they do not "
                            "measure a broker that did its work." + note))
    for p in (p for p in every if p.get("failure")):
        blocks.append(("p", f"**Did not run:** `{fan_name(p)}` — {p['failure']}"))
    ratios, sentences = fanout_ratios(normal)
    blocks += [("p", s) for s in sentences]
    if ratios:
        blocks.append(("table", ratios))
        blocks.append(("p", "Ratios are this broker's value over redis-server's at the same "
                            "subscriber count, rate and payload: above 1 means more deliveries "
                            "per second, more latency or more CPU per delivery than Redis. CPU "
                            "time is counted in clock ticks, so a broker that used well under a "
                            "second is measured coarsely."))
    else:
        blocks.append(("p", "No ratio to redis-server: no subscriber count was reached both by "
                            "redis-server and by a broker it is compared with (asyncloop and "
                            "threads improved, Python asyncio)."))
    blocks += fanout_findings(normal)
    figures = {}
    if normal:
        figures["fanout_throughput"] = fanout_throughput_figure(plt, normal, context, command)
        blocks.append(("figure", "fanout_throughput",
                       "Messages delivered per second (over all subscribers) against subscribers. "
                       "The grey band is the offered load, the rate times the subscribers: a "
                       "broker on it delivered everything as fast as it was published. Solid: "
                       "improved designs; dashed: naive; dotted: reference peers."))
        figures["fanout_latency"] = fanout_latency_figure(plt, normal, context, command)
        blocks.append(("figure", "fanout_latency",
                       "Latency percentiles against subscribers. Top: from the moment each "
                       "message was due on the open-loop schedule, which counts the time a message "
                       "waited because the publisher or broker was behind. Bottom: from the "
                       "moment it was really sent, which hides that wait (coordinated omission)."))
        figures["fanout_memory"] = fanout_memory_figure(plt, normal, context, command)
        blocks.append(("figure", "fanout_memory",
                       "Left: the broker's RSS after the load divided by its connections; at few "
                       "connections it is mostly the process's fixed memory. Right: the slope, "
                       "RSS growth per connection added between two points — what one more "
                       "connection costs."))
    if slow:
        figures["fanout_slow"] = fanout_slow_figure(plt, slow, normal, context, command)
        blocks.append(("figure", "fanout_slow",
                       "One extra subscriber connects and never reads. Solid bars: the run with "
                       "it; hatched: the same point without it. The naive broker writes to every "
                       "subscriber in turn and waits, so once the slow one's socket buffers fill, "
                       "everyone waits; the improved broker queues per subscriber and drops "
                       "(or disconnects) when the slow one's bounded queue is full."))
    else:
        blocks.append(("p", "**Slow consumer:** no slow-consumer run is in these results (rows "
                            "named `fanout/<model>/<design>/slow:1/...`, from `tvl sweep fanout "
                            "--slow-subscribers 1`), so the naive and improved designs are not "
                            "compared with a subscriber that never reads."))
    blocks.append(("table", fanout_table(normal, slow)))
    blocks += clock_note(every)
    if has(every, "load_cpu_s_per_million"):
        blocks.append(("p", "Generator CPU per million deliveries is the load generator's CPU "
                            "time (every thread) for the same deliveries as the broker's: where "
                            "it is near or above the broker's, the generator, not the broker, is "
                            "what the machine's cores run out of first."))
    return blocks, figures
