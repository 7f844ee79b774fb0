"""Fan-out figures: throughput, latency, memory per connection, and the slow consumer.

Each series is a broker design (`threads/improved`) or a reference peer (`redis (peer)`), drawn
against subscribers with sweeps.draw_sweep: improved designs solid, naive dashed, peers dotted;
a point whose checks failed keeps its numbers, ringed in red.
"""
from .charts import decade_limits, log_floor, plain_axes, side_legend
from . import palette
from .fmt import dur, latency_tick, rate_tick
from .sweeps import draw_sweep, sweep_stamp, sweep_values

FAN_PERCENTILES = (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9"))
FAN_CHECK = dict(marker="o", markersize=14, markerfacecolor="none", markeredgecolor=palette.FLAG,
                 markeredgewidth=1.8, linestyle="none", zorder=6)


def fan_key(r):
    """Series of a row: model/design for tvl's brokers, 'model (peer)' for a reference broker."""
    return f"{r['model']} (peer)" if r["variant"] == "peer" else f"{r['model']}/{r['variant']}"


def fan_base(key):
    """A series' key without ' (peer)': what FAN_ORDER knows it by."""
    return key.split(" ")[0]


def fan_style(key):
    """A series' colour and marker (its model's, palette.py) and line style: improved solid,
    naive dashed in the model's light shade, peers dotted."""
    base = fan_base(key)
    if base.endswith("/naive"):
        return dict(color=palette.light(base), marker=palette.marker(base), linestyle="--")
    return dict(color=palette.color(base), marker=palette.marker(base),
                linestyle=":" if palette.model_of(base) in palette.PEERS else "-")


def fan_rate(c):
    """The publishers' target rate of a point (messages per second, all publishers)."""
    return c.get("rate", c["published_per_second"])


def ring_checks(ax, sweeps, key, label=True):
    """A red ring around every drawn point whose checks failed: its numbers stay, flagged."""
    drawn = False
    for points in sweeps.values():
        for p in points:
            if p.get("check") and not p.get("failure") and key in p["counters"]:
                ax.plot([p["subscribers"]], [p["counters"][key]], **FAN_CHECK,
                        label=None if drawn or not label else
                        "check failed: numbers kept,\nnot valid (reason in the report)")
                drawn = True


def fan_offered(normal):
    """The offered load as curves of (subscribers, deliveries per second) with a label each:
    what a broker that delivers every message to every subscriber reaches. One curve when every
    series had the same load; else one per series, less those another curve contains."""
    per_series = [sorted({(p["subscribers"], fan_rate(p["counters"]) * p["subscribers"],
                           fan_rate(p["counters"])) for p in pts if not p.get("failure")})
                  for pts in normal.values()]
    per_series = [c for c in per_series if c]
    merged = sorted({point for c in per_series for point in c})
    if len({n for n, _, _ in merged}) == len(merged):
        curves = [merged]
    else:
        sets = [set(c) for c in per_series]
        curves = [c for i, c in enumerate(per_series)
                  if not any(set(c) < other or (set(c) == other and j < i)
                             for j, other in enumerate(sets) if j != i)]
    out = []
    for curve in curves:
        totals, rates = {d for _, d, _ in curve}, {r for _, _, r in curve}
        label = (f"offered: {rate_tick(curve[0][1])} deliveries" if len(totals) == 1
                 else f"offered: {rate_tick(curve[0][2])} × subscribers" if len(rates) == 1
                 else "offered: rate × subscribers")
        out.append(([(n, d) for n, d, _ in curve], label))
    return out


def fanout_throughput_figure(plt, normal, context, command):
    """Deliveries per second against subscribers, with the offered load as a reference."""
    fig, ax = plt.subplots(figsize=(10.5, 6.2))
    offered = fan_offered(normal)
    for curve, label in offered:  # what an ideal broker delivers: every message to everyone
        if len(curve) == 1:
            ax.plot([curve[0][0]], [curve[0][1]], marker="_", markersize=30, color=palette.FAINT,
                    markeredgewidth=5, linestyle="none", zorder=1, label=label)
        else:
            ax.plot([n for n, _ in curve], [d for _, d in curve], color=palette.FAINT, linewidth=5,
                    alpha=0.6, zorder=1, solid_capstyle="round", label=label)
    draw_sweep(ax, normal, [("items_per_second", None, "")], x="subscribers",
               unit="subscribers", style=fan_style, mark="did not run")
    ring_checks(ax, normal, "items_per_second")
    ax.set(yscale="log", xlabel="subscribers (log scale)",
           title="Fan-out: messages delivered per second, all subscribers together")
    decade_limits(ax, sweep_values(normal, "items_per_second")
                  + [d for curve, _ in offered for _, d in curve])
    plain_axes(ax, "deliveries per second (log scale)", rate_tick)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.subplots_adjust(left=0.1, right=0.7, top=0.92, bottom=0.2)
    sweep_stamp(fig, normal, context, command)
    return fig


def fanout_latency_figure(plt, normal, context, command):
    """p50, p99 and p99.9 against subscribers: from the intended send time (top) and from the
    actual send (bottom), one scale for all six panels."""
    fig, axes = plt.subplots(2, 3, figsize=(13.5, 8), sharex=True, sharey=True)
    rows = (("", "from the intended send time\n(corrected for coordinated omission)"),
            ("sent_", "from the actual send\n(uncorrected)"))
    for i, (prefix, what) in enumerate(rows):
        for j, (key, name) in enumerate(FAN_PERCENTILES):
            ax = axes[i][j]
            draw_sweep(ax, normal, [(prefix + key, None, "")], x="subscribers",
                       unit="subscribers", style=fan_style,
                       mark="did not run" if i == j == 0 else None)
            ring_checks(ax, normal, prefix + key)
            ax.set_yscale("log")
            plain_axes(ax, f"latency {what}\n(log scale)" if j == 0 else None, latency_tick)
            ax.set_title(f"{name}, {what.split(chr(10))[0]}", fontsize=9)
            if i == 1:
                ax.set_xlabel("subscribers (log scale)")
    decade_limits(axes[0][0], [v for pre in ("", "sent_") for key, _ in FAN_PERCENTILES
                               for v in sweep_values(normal, pre + key)])
    fig.suptitle("Fan-out: delivery latency against subscribers — top: from when each message "
                 "was due (open loop); bottom: from when it was really sent", fontsize=11)
    side_legend(fig, axes[0][0], 0.77, 0.9)
    fig.subplots_adjust(left=0.1, right=0.77, top=0.9, bottom=0.16, wspace=0.08, hspace=0.18)
    sweep_stamp(fig, normal, context, command)
    return fig


def fanout_memory_figure(plt, normal, context, command):
    """Broker RSS per connection (left) and the slope between points (right)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6), sharex=True)
    draw_sweep(left, normal, [("kib_per_connection", None, "")], x="subscribers",
               unit="subscribers", style=fan_style, mark="did not run")
    ring_checks(left, normal, "kib_per_connection")
    left.set(yscale="log", xlabel="subscribers (log scale)")
    left.set_title("broker RSS ÷ connections\n(subscribers + publishers)", fontsize=10)
    decade_limits(left, sweep_values(normal, "kib_per_connection"))
    plain_axes(left, "KiB per connection (log scale)", lambda v, _: f"{v:,.0f}" if v >= 1
               else f"{v:g}")
    slopes = {k: [p for p in pts if p.get("failure") or "kib_per_added_connection"
                  in p["counters"]] for k, pts in normal.items()}
    slopes = {k: v for k, v in slopes.items() if v}
    if slopes:
        draw_sweep(right, slopes, [("kib_per_added_connection", None, "")], x="subscribers",
                   unit="subscribers", style=fan_style, mark="did not run")
        ring_checks(right, slopes, "kib_per_added_connection", label=False)
        right.axhline(0, color=palette.RULE, linewidth=0.8)
        # A series whose only other point did not run has no slope to draw, only its ✕.
        drawn = sweep_values(slopes, "kib_per_added_connection")
        right.set_ylim(min([0, *drawn]) * 1.15, max([1, *drawn]) * 1.15)
        every = [p["subscribers"] for pts in normal.values() for p in pts]
        right.set_xlim(min(every) / 1.5, max(every) * 1.5)
    else:
        right.text(0.5, 0.5, "one point per broker: no slope to draw", ha="center",
                   transform=right.transAxes, color=palette.MUTED)
    right.set(xlabel="subscribers (log scale)")
    right.set_title("slope: RSS growth ÷ connections added\nsince the previous point (drawn at "
                    "the later one)", fontsize=10)
    plain_axes(right, "KiB per added connection (linear)")
    fig.suptitle("Fan-out: broker memory per connection (RSS read from /proc/<pid> "
                 "after the load)", fontsize=11)
    side_legend(fig, left, 0.76, 0.84)
    fig.subplots_adjust(left=0.07, right=0.76, top=0.84, bottom=0.2, wspace=0.25)
    sweep_stamp(fig, normal, context, command)
    return fig


def fan_slow_label(p):
    """An x label of the slow-consumer chart: series, subscribers, slow ones, check."""
    text = (f"{fan_key(p)}\n{p['subscribers']:,} subscribers\n+ {p['slow']} slow")
    if p.get("failure"):
        return text + "\n✕ did not run"
    return text + ("\n✕ check failed" if p.get("check") else "")


def fanout_slow_figure(plt, slow, normal, context, command):
    """A subscriber that never reads: what the others got (with the same run without it beside),
    and what the broker did with the slow one's messages."""
    points = [p for pts in slow.values() for p in pts]
    same = lambda p: (fan_key(p), p["subscribers"], fan_rate(p["counters"]),
                      p["counters"].get("payload"))  # the same load, but for the slow one
    baseline = {same(p): p for pts in normal.values() for p in pts if not p.get("failure")}
    fig, axes = plt.subplots(1, 3, figsize=(14, 6.4))
    width = 0.38
    for p in points + list(baseline.values()):  # what share of the others' deliveries arrived
        c = p["counters"]
        if not p.get("failure") and c.get("expected"):
            c["arrived_pct"] = 100.0 * c["delivered"] / c["expected"]
    panels = (("arrived_pct", "share of the others' deliveries that arrived", None,
               lambda v: f"{v:.0f}%"),
              ("p99_us", "p99 latency of the others (from intended send)", latency_tick,
               dur))
    for ax, (key, title, tick, text) in zip(axes, panels):
        values, labelled = [], set()
        for i, p in enumerate(points):
            base = None if p.get("failure") else baseline.get(same(p))
            color = fan_style(fan_key(p))["color"]
            bars = [(-width / 2, p, "with the slow subscriber", "")]
            if base:
                bars.append((width / 2, base, "the same point without it", "//"))
            else:
                ax.text(i + width / 2, 0.03, "no run\nwithout it", ha="center", va="bottom",
                        fontsize=7, color=palette.SOFT, transform=ax.get_xaxis_transform())
            for off, q, label, hatch in bars:
                if q.get("failure"):
                    ax.text(i + off, 0.05, "✕", transform=ax.get_xaxis_transform(),
                            ha="center", color=palette.FLAG, fontsize=14)
                    continue
                v = q["counters"][key]
                values.append(v)
                ax.bar(i + off, v, width, color=color if not hatch else "white",
                       edgecolor=palette.FLAG if q.get("check") else color, hatch=hatch,
                       linewidth=2 if q.get("check") else 1,
                       label=None if label in labelled else label)
                labelled.add(label)
                ax.text(i + off, v * 1.12, text(v), ha="center", va="bottom", fontsize=7,
                        rotation=90)
        if key == "arrived_pct":  # a share: linear, 0 to 100%
            ax.set(title=title, xticks=range(len(points)), ylim=(0, 125))
            tick = lambda v, _pos: f"{v:.0f}%"
        else:
            ax.set(yscale="log", title=title, xticks=range(len(points)))
            if values:
                ax.set_ylim(bottom=log_floor(values), top=max(values) * 30)
        plain_axes(ax, tick=tick)
        ax.grid(False, axis="x")
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax = axes[2]
    counts = (("broker_dropped", "messages dropped (policy drop)", palette.QUANTITIES[0][0]),
              ("broker_slow_disconnects", "slow subscribers disconnected", palette.QUANTITIES[1][0]),
              ("lost", "deliveries lost to the others", palette.QUANTITIES[2][0]))
    w, top, labelled = 0.26, 1, set()
    for i, p in enumerate(points):
        for j, (key, label, color) in enumerate(counts):
            if p.get("failure"):
                continue
            v = p["counters"].get(key)
            x = i + (j - 1) * w
            if v is None:  # a peer that does not report it
                ax.text(x, 0.6, "n/a", ha="center", fontsize=7, color=palette.MUTED)
                continue
            top = max(top, v)
            ax.bar(x, v, w, color=color, edgecolor=palette.INK, linewidth=0.5,
                   label=None if label in labelled else label)
            labelled.add(label)
            ax.text(x, max(v, 0.6) * 1.15, f"{v:,.0f}", ha="center", va="bottom", fontsize=7,
                    rotation=90)
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(0, top * 60)
    ax.set(title="what happened to the messages", xticks=range(len(points)))
    plain_axes(ax, tick=lambda v, _: f"{v:,.0f}")
    ax.grid(False, axis="x")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    for ax in axes:
        ax.set_xticklabels([fan_slow_label(p) for p in points], fontsize=7.5)
        for label, p in zip(ax.get_xticklabels(), points):
            if p.get("check") or p.get("failure"):
                label.set_color(palette.FLAG)
        ax.set_xlim(-0.6, len(points) - 0.4)
    fig.suptitle("Fan-out: one subscriber that never reads — naive against improved", fontsize=11)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.88, bottom=0.26, wspace=0.22)
    sweep_stamp(fig, slow, context, command)
    return fig
