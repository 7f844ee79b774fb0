"""Fan-out capacity figures: capacity against subscribers, the knee (p99 against offered load,
from every probe of the search) and goodput under overload against the saturation rate.

Each broker is drawn in its model's colour and marker (palette.py), peers dotted; red flags a
load-bound point, a collapse. The series helpers here (cap_key, cap_label, cap_sorted) are the
ones capacity.py's tables and sentences use too.
"""
from . import palette
from .capacity_terms import ceiling, positive
from .charts import decade_limits, plain_axes, side_legend, stamp
from .fmt import latency_tick, num, rate_tick

CAP_ORDER = ["threads/improved", "asyncloop/improved", "asyncloop-mt/improved", "redis/peer",
             "python/peer", "python-uvloop/peer"]
KNEE_KINDS = ("floor", "search", "confirm", "overload")  # probe_log kinds the knee draws
KNEE_SUBSCRIBERS = (10, 1000)  # the panels, where the results have them
COLLAPSE = 0.8  # goodput below this share of the saturation rate is a collapse


def cap_key(r):
    """A point's series: model/design ('redis/peer' for a reference broker)."""
    return f"{r['model']}/{r['variant']}"


def cap_label(key):
    """A series as the report names it: 'threads (improved)', or the peer's name alone."""
    model, design = key.split("/")
    return model if design == "peer" else f"{model} ({design})"


def cap_style(key):
    """A series' colour and marker (its model's) and line: peers dotted."""
    return dict(palette.style(key), linestyle=":" if key.endswith("/peer") else "-")


def cap_sorted(keys):
    """Series keys in CAP_ORDER, unknown ones last by name."""
    return sorted(keys, key=lambda k: (CAP_ORDER.index(k) if k in CAP_ORDER else 99, k))


def projected_of(p):
    """The point's projected ceiling: its own field, or 10⁶ ÷ its CPU per million in results
    written before that field was."""
    return ceiling(p, from_cpu="projected_ceiling" not in p["counters"])[0]


def saturation_of(c):
    """The saturation rate the overload was a multiple of, or None in older results."""
    return positive(c.get("saturation"))


def capacity_figure(plt, single, context, command):
    """Capacity against subscribers, one line per broker; ringed: load-bound, with the projected
    ceiling above it."""
    fig, ax = plt.subplots(figsize=(8.6, 4.8))
    fig.subplots_adjust(left=0.11, right=0.7, top=0.9, bottom=0.2)
    values, ceiling_drawn, none_passed = [], False, False
    floor = ax.get_xaxis_transform()  # x in data, y as a fraction of the axes
    for key in cap_sorted(single):
        style = cap_style(key)
        for p in single[key]:  # no rate passed: an ✕ on the floor of the chart
            if not p.get("failure") and not positive(p["counters"].get("capacity")):
                ax.plot([p["subscribers"]], [0.04], marker="X", markersize=10, linestyle="none",
                        color=style["color"], transform=floor, clip_on=False)
                none_passed = True
        pts = [p for p in single[key]
               if not p.get("failure") and positive(p["counters"].get("capacity"))]
        if not pts:
            continue
        ys = [p["counters"]["capacity"] for p in pts]
        values += ys
        ax.plot([p["subscribers"] for p in pts], ys, label=cap_label(key), linewidth=1.6,
                markersize=6, **style)
        for p in (p for p in pts if p["counters"].get("load_bound")):
            x, cap = p["subscribers"], p["counters"]["capacity"]
            ax.plot([x], [cap], linestyle="none", marker=style["marker"], markersize=11,
                    markerfacecolor="none", markeredgecolor=palette.FLAG,
                    label="load-bound: at least this\n(the generator was the limit)")
            projected = projected_of(p)
            if projected and projected > cap:
                values.append(projected)
                ax.plot([x, x], [cap, projected], color=style["color"], linestyle=":",
                        linewidth=1.2)
                ax.plot([x], [projected], linestyle="none", marker="_", markersize=14,
                        markeredgewidth=2, color=style["color"])
                ceiling_drawn = True
    if none_passed:  # a decade of room under the lowest capacity for the ✕, and its legend
        values.append(min(values, default=1e3) / 10)
        ax.plot([], [], marker="X", markersize=10, linestyle="none", color=palette.MUTED,
                label="✕ no rate passed\n(lowest tried: see the table)")
    if ceiling_drawn:  # one legend entry, in no broker's colour
        ax.plot([], [], linestyle="none", marker="_", markersize=14, markeredgewidth=2,
                color=palette.MUTED,
                label="projected ceiling: 10⁶ ÷ broker\nCPU s per million (one core)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    decade_limits(ax, values)
    plain_axes(ax, "sustained deliveries/s (capacity)", rate_tick)
    ax.set_xticks(sorted({p["subscribers"] for pts in single.values() for p in pts}))
    ax.set_xlabel("subscribers")
    ax.set_title("Fan-out capacity: the most a broker carries with p99 within the SLO and "
                 "nothing lost", fontsize=9.5)
    side_legend(fig, ax, 0.7, 0.9)
    stamp(fig, context, command)
    return fig


def knee_probes(p):
    """The probes of a point the knee draws (not the calibration flood), by offered load;
    only those with a p99 to draw on a log scale."""
    log = [e for e in p.get("probe_log", [])
           if e.get("kind", "search") in KNEE_KINDS and e.get("verdict") != "flood"
           and positive(e.get("offered")) and positive(e.get("p99_ms"))]
    return sorted(log, key=lambda e: e["offered"])


def knee_counts(single):
    """The subscriber counts the knee shows: 10 and 1,000 where present, else the nearest
    others, two panels at most."""
    have = sorted({p["subscribers"] for pts in single.values() for p in pts if knee_probes(p)})
    chosen = [n for n in KNEE_SUBSCRIBERS if n in have]
    for n in have:
        if len(chosen) < len(KNEE_SUBSCRIBERS) and n not in chosen:
            chosen.append(n)
    return sorted(chosen)


def knee_figure(plt, single, context, command):
    """p99 against offered load from every probe the search ran, one line per broker, a panel
    per subscriber count, the SLO drawn, load-bound probes ringed. None without probe logs."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, NullFormatter
    counts = knee_counts(single)
    if not counts:
        return None
    fig, axes = plt.subplots(1, len(counts), figsize=(5.2 * len(counts) + 2.8, 5.2),
                             squeeze=False)
    right = 1 - 2.8 / (5.2 * len(counts) + 2.8)
    handles, flags = {}, {}  # legend: the brokers, then what the markers mean
    for ax, n in zip(axes[0], counts):
        slos, values = set(), []
        for key in cap_sorted(single):
            for p in (p for p in single[key] if p["subscribers"] == n):
                probes = knee_probes(p)
                if not probes:
                    continue
                style = cap_style(key)
                if positive(p["counters"].get("slo_ms")):
                    slos.add(p["counters"]["slo_ms"])
                xs, ys = [e["offered"] for e in probes], [e["p99_ms"] for e in probes]
                values += ys
                handles[cap_label(key)] = ax.plot(xs, ys, linewidth=1.4, markersize=6,
                                                  **style)[0]
                for e in probes:
                    passed = e.get("verdict") == "pass"
                    ax.plot([e["offered"]], [e["p99_ms"]], linestyle="none",
                            marker=style["marker"], markersize=6, color=style["color"],
                            markerfacecolor=style["color"] if passed else "white", zorder=3)
                    if e.get("load_bound") or e.get("verdict") == "load-bound":
                        ax.plot([e["offered"]], [e["p99_ms"]], linestyle="none", marker="o",
                                markersize=13, markerfacecolor="none", markeredgewidth=1.6,
                                markeredgecolor=palette.FLAG, zorder=4)
                        flags["load-bound probe: the generator\nwas the limit, not the broker"] = \
                            Line2D([], [], linestyle="none", marker="o", markersize=11,
                                   markerfacecolor="none", markeredgewidth=1.6,
                                   markeredgecolor=palette.FLAG)
        for slo in sorted(slos):
            ax.axhline(slo, color=palette.INK, linestyle="--", linewidth=1)
            ax.annotate(f"SLO: p99 ≤ {slo:g} ms", xy=(0.01, slo), xycoords=ax.get_yaxis_transform(),
                        xytext=(0, 3), textcoords="offset points", fontsize=7.5, color=palette.INK)
        ax.set(xscale="log", yscale="log", xlabel="offered deliveries/s (log scale)")
        decade_limits(ax, values + list(slos))
        ax.set_title(f"{n:,} subscribers", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.xaxis.set_major_formatter(FuncFormatter(rate_tick))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: latency_tick(v * 1e3)))
        ax.yaxis.set_minor_formatter(NullFormatter())
    axes[0][0].set_ylabel("p99 from the intended send (log scale)")
    handles["probe passed"] = Line2D([], [], linestyle="none", marker="o", color=palette.MUTED)
    handles["probe failed"] = Line2D([], [], linestyle="none", marker="o", color=palette.MUTED,
                                     markerfacecolor="white")
    handles.update(flags)
    handles["SLO for this fan-out degree"] = Line2D([], [], color=palette.INK, linestyle="--")
    fig.legend(list(handles.values()), list(handles), fontsize=7.5, loc="upper left",
               bbox_to_anchor=(right + 0.01, 0.88), frameon=False)
    fig.suptitle("Fan-out knee: p99 against offered load, every probe of the capacity search "
                 "(floor, search, confirmation, overload)", fontsize=10)
    fig.subplots_adjust(left=0.08, right=right, top=0.88, bottom=0.22, wspace=0.2)
    stamp(fig, context, command)
    return fig


def overload_figure(plt, single, context, command):
    """Goodput under overload as a share of each broker's saturation rate (of its capacity in
    results written before the saturation rate was): collapses ringed in red, probes that were
    not offered past saturation hatched."""
    import numpy as np
    from matplotlib.patches import Patch
    new = any(saturation_of(p["counters"]) for pts in single.values() for p in pts)
    share = ((lambda c: c["goodput"] / c["saturation"] if saturation_of(c) and
              c.get("goodput") is not None else None) if new
             else (lambda c: c.get("goodput_ratio")))
    keys = [k for k in cap_sorted(single) if any(share(p["counters"]) is not None
                                                 for p in single[k])]
    subs = sorted({p["subscribers"] for k in keys for p in single[k]
                   if share(p["counters"]) is not None})
    fig, ax = plt.subplots(figsize=(8.6, 4.6))
    fig.subplots_adjust(left=0.1, right=0.7, top=0.88, bottom=0.2)
    width = 0.8 / max(1, len(keys))
    top = 1.2
    flags = {}
    for i, key in enumerate(keys):
        by = {p["subscribers"]: p["counters"] for p in single[key]}
        for j, n in enumerate(subs):
            c = by.get(n)
            value = share(c) if c else None
            if value is None:
                continue
            x = j + (i - (len(keys) - 1) / 2) * width
            collapsed, under = c.get("collapsed"), c.get("overload_under_offered")
            ax.bar(x, value, width * 0.9, color=palette.color(key),
                   edgecolor=palette.FLAG if collapsed else palette.INK,
                   linewidth=2 if collapsed else 0.5, hatch="//" if under else "",
                   label=cap_label(key))
            ax.text(x, value + 0.02, f"{value:.2f}", ha="center", va="bottom", fontsize=6.5,
                    rotation=90, color=palette.FLAG if collapsed else palette.INK)
            top = max(top, value + 0.25)
            if collapsed:
                flags["collapsed (below 0.8×)"] = Patch(facecolor="white",
                                                        edgecolor=palette.FLAG, linewidth=2)
            if under:
                flags["not offered past saturation\n(the generator could not)"] = Patch(
                    facecolor="white", edgecolor=palette.INK, hatch="//")
    ax.axhline(1.0, color=palette.INK, linewidth=0.8)
    ax.axhline(COLLAPSE, color=palette.FLAG, linewidth=0.8, linestyle="--",
               label=f"below: collapse ({COLLAPSE}×)")
    ax.set_xticks(np.arange(len(subs)), [f"{n:,} subscribers" for n in subs])
    ax.set_ylim(0, top)
    what = "saturation rate" if new else "capacity"
    ax.set_ylabel(f"goodput ÷ {what}")
    factor = next((p["counters"].get("overload_factor") for k in keys for p in single[k]
                   if p["counters"].get("overload_factor")), None)
    ax.set_title(f"Offered {num(factor, 1)}× its {what}: does the broker keep delivering?",
                 fontsize=9.5)
    ax.grid(True, axis="y", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    seen.update(flags)
    fig.legend(list(seen.values()), list(seen), fontsize=7.5, loc="upper left",
               bbox_to_anchor=(0.71, 0.88), frameon=False)
    stamp(fig, context, command)
    return fig
