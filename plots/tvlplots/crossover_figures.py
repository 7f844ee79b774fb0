"""Crossover figures: the map of winners over connections × work, capacity against connections,
and the debate's classics redrawn from the same rows — SEDA fig. 2 (throughput and p99 against
connections, a thread per connection beside the loop) and SEDA's well-conditioned service
(goodput against offered load from every probe).

A contender is drawn in its model's colour and marker (palette.py), a variant other than the
model's usual one in the model's light shade; greys are for ties and quantities; red only flags
(a load-bound point, a collapse). What a cell's verdict means is crossover_terms.py's.
"""
from . import palette
from .capacity_terms import positive
from .charts import decade_limits, plain_axes, stamp
from .crossover_claims import (COLLAPSE, conditioned_cells, is_collapsed, seda_cell, series,
                               throughput)
from .crossover_terms import (MAIN_VARIANT, nothing, b_text, c_text, capacity, cpus_of, label,
                              margin_text, w_text)
from .fmt import latency_tick, rate_tick

TIE_FILL, NONE_FILL = "#e3e3e3", "white"
LOG_KINDS = ("search", "confirm", "flood", "overload")  # probes the goodput figure draws


def key_color(key):
    """A contender's colour: its model's, or the model's light shade for another variant."""
    model, variant = key.split("/")
    return palette.color(model) if MAIN_VARIANT.get(model, variant) == variant \
        else palette.light(model)


def series_label(grid, key):
    """A contender in a legend: 'asyncloop-mt (2 CPUs)' when its server had more than one."""
    cpus = max((cpus_of(found[key]) for found in grid.cells.values() if key in found), default=1)
    return label(key) + (f" ({cpus} CPUs)" if cpus > 1 else "")


def slo_of(grid):
    """'p99 ≤ 10 ms' from the rows' bounds, or 'p99 within the bound'."""
    slos = sorted({r["counters"]["slo_ms"] for found in grid.cells.values()
                   for r in found.values() if positive(r["counters"].get("slo_ms"))})
    return "p99 ≤ " + " or ".join(f"{s:g} ms" for s in slos) if slos else "p99 within the bound"


def dark(hex_colour):
    """Whether white text reads better than black on this fill."""
    if not hex_colour.startswith("#"):
        return False
    r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b < 0.55


def cell_face(v, grid):
    """(fill, hatch, text) of one map cell from its verdict."""
    if not v["winner"]:
        cell = next((k for k, x in grid.verdicts.items() if x is v), None)
        why = nothing(grid, *cell) if cell else "no rate passed"
        return NONE_FILL, "", why.replace(" rate ", " rate\n").replace("not run", "not\nrun")
    if v["tie"]:
        return TIE_FILL, "", f"tie (≤ {grid.precision:.0%})\n{label(v['winner'])} " \
                             f"{margin_text(v)}"
    hatch = "///" if v["kind"] in ("at-least", "projected") else ""
    margin = "alone" if v["kind"] == "alone" else margin_text(v)
    return key_color(v["winner"]), hatch, f"{label(v['winner'])}\n{margin}"


def map_figure(plt, grid, b, context, command):
    """The crossover map at blocking call b: a cell per (C, W), filled with the winner's colour,
    its name and margin written in it; hatched where the margin rests on a lower bound or a
    projection, grey for a tie."""
    from matplotlib.patches import Patch, Rectangle
    at = grid.at(b)
    cs, ws = sorted({c for c, _ in at}), sorted({w for _, w in at})
    height = max(0.85 * len(ws) + 2.0, 3.8)
    width = max(1.5 * len(cs) + 3.6, 8.5)
    fig, ax = plt.subplots(figsize=(width, height))
    right = 1 - 3.3 / width
    top = 1 - 0.75 / height
    fig.subplots_adjust(left=1.2 / width, right=right, top=top, bottom=1.05 / height)
    models, marks = {}, {}
    for i, c in enumerate(cs):
        for j, w in enumerate(ws):
            v = at.get((c, w))
            if not v:
                continue
            fill, hatch, text = cell_face(v, grid)
            ink = "white" if dark(fill) else palette.INK
            ax.add_patch(Rectangle((i, j), 1, 1, facecolor=fill, hatch=hatch, linewidth=0,
                                   edgecolor=ink if hatch else fill))
            ax.add_patch(Rectangle((i, j), 1, 1, facecolor="none", edgecolor="white",
                                   linewidth=2))
            ax.text(i + 0.5, j + 0.5, text, ha="center", va="center", fontsize=7.2, color=ink,
                    bbox=dict(boxstyle="round,pad=0.25", facecolor=fill, edgecolor="none"))
            if v["winner"] and not v["tie"]:
                models[v["winner"]] = Patch(facecolor=key_color(v["winner"]))
            if hatch:
                marks["hatched: a lower bound (≥) or CPU-\nprojected ceilings, not measured"] = \
                    Patch(facecolor="white", edgecolor=palette.INK, hatch="///")
            if v["tie"]:
                marks[f"tie: within {grid.precision:.0%}, the search's\nprecision (best one named)"] = \
                    Patch(facecolor=TIE_FILL)
    seen = {label(k): models[k] for k in grid.keys if k in models}
    seen.update(marks)
    ax.set_xlim(0, len(cs))
    ax.set_ylim(0, len(ws))
    ax.set_xticks([i + 0.5 for i in range(len(cs))], [c_text(c) for c in cs])
    ax.set_yticks([j + 0.5 for j in range(len(ws))], [w_text(w) for w in ws])
    ax.set_xlabel("connections C")
    ax.set_ylabel("CPU work per\nrequest W")
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(f"Who carries more, {b_text(b)}: the winner and its margin\n(its capacity ÷ "
                 "the best other model's, servers on the same CPUs)", fontsize=9.5)
    fig.legend(list(seen.values()), list(seen), fontsize=7.5, loc="upper left",
               bbox_to_anchor=(right + 0.01, top), frameon=False)
    stamp(fig, context, command)
    return fig


def lines_figure(plt, grid, b, context, command):
    """Capacity against connections (log-log), a line per contender, a panel per W; load-bound
    points ringed in red; a model that did not run or passed no rate at a C has no point.
    None when no contender passed a rate at B."""
    from matplotlib.lines import Line2D
    ws = sorted({w for (_, w) in grid.at(b)})
    cols = min(len(ws), 4)
    rows = -(-len(ws) // cols)
    width = max(3.3 * cols + 2.6, 8.0)
    fig, axes = plt.subplots(rows, cols, figsize=(width, 3.3 * rows + 1.5), squeeze=False,
                             sharey=True)
    right = 1 - 2.6 / width
    handles, values = {}, []
    for n, w in enumerate(ws):
        ax = axes[n // cols][n % cols]
        for key in grid.keys:
            pts = [(c, grid.row(key, c, w, b)) for c in grid.cs if capacity(grid.row(key, c, w, b))]
            if not pts:
                continue
            xs, ys = [c for c, _ in pts], [capacity(r) for _, r in pts]
            values += ys
            handles[series_label(grid, key)] = ax.plot(xs, ys, color=key_color(key),
                                          marker=palette.marker(key), markersize=5,
                                          linewidth=1.4)[0]
            for c, r in pts:
                if r["counters"].get("load_bound"):
                    ax.plot([c], [capacity(r)], linestyle="none", marker="o", markersize=11,
                            markerfacecolor="none", markeredgecolor=palette.FLAG)
                    handles["load-bound: at least this"] = Line2D(
                        [], [], linestyle="none", marker="o", markersize=9,
                        markerfacecolor="none", markeredgecolor=palette.FLAG)
        ax.set(xscale="log", yscale="log", xlabel="connections C")
        ax.set_title(f"W = {w_text(w)}", fontsize=9.5)
        plain_axes(ax, None, rate_tick)
    if not values:
        plt.close(fig)
        return None
    for n in range(len(ws), rows * cols):
        axes[n // cols][n % cols].set_visible(False)
    decade_limits(axes[0][0], values)
    lo, hi = axes[0][0].get_ylim()
    axes[0][0].set_ylim(lo, max(hi, max(values, default=1) * 1.6))  # room for the rings
    flags = {k: handles.pop(k) for k in [k for k in handles if k.startswith("load-bound")]}
    handles.update(flags)  # the models first, then what a ring means
    axes[0][0].set_ylabel("capacity (requests/s)")
    fig.suptitle(f"Capacity against connections, {b_text(b)}:\nthe most requests/s with "
                 f"{slo_of(grid)}", fontsize=10)
    fig.legend(list(handles.values()), list(handles), fontsize=7.5, loc="upper left",
               bbox_to_anchor=(right + 0.01, 0.88), frameon=False)
    height = 3.3 * rows + 1.5
    fig.subplots_adjust(left=0.85 / width, right=right, top=1 - 0.75 / height,
                        bottom=0.95 / height, wspace=0.12, hspace=0.45)
    stamp(fig, context, command)
    return fig


def seda_figure(plt, grid, keys, context, command):
    """SEDA fig. 2 redrawn: throughput (saturation dashed, capacity solid) and p99 at capacity
    against connections, a thread per connection beside the loop."""
    from matplotlib.lines import Line2D
    w, b = seda_cell(grid)
    fig, (tp, lat) = plt.subplots(1, 2, figsize=(10.4, 4.6))
    fig.subplots_adjust(left=0.08, right=0.76, top=0.85, bottom=0.27, wspace=0.3)
    handles, values, lats, slos = {}, [], [], set()
    for key in keys:
        pts = series(grid, key, w, b)
        if not pts:
            continue
        style = dict(color=key_color(key), marker=palette.marker(key), markersize=5)
        xs = [c for c, _ in pts]
        sat = [throughput(r) for _, r in pts]
        tp.plot(xs, sat, linestyle="--", linewidth=1.2, **style)
        caps = [(c, capacity(r)) for c, r in pts if capacity(r)]
        handles[series_label(grid, key)] = tp.plot([c for c, _ in caps], [v for _, v in caps],
                                                   linewidth=1.8, **style)[0]
        values += sat + [v for _, v in caps]
        p99 = [(c, positive(r["counters"].get("p99_us"))) for c, r in pts]
        p99 = [(c, v) for c, v in p99 if v]
        lat.plot([c for c, _ in p99], [v for _, v in p99], linewidth=1.6, **style)
        lats += [v for _, v in p99]
        slos |= {r["counters"]["slo_ms"] for _, r in pts if positive(r["counters"].get("slo_ms"))}
    for slo in slos:
        lat.axhline(slo * 1e3, color=palette.INK, linestyle=":", linewidth=1)
        handles[f"the p99 bound ({slo:g} ms)"] = Line2D([], [], color=palette.INK, linestyle=":")
    handles["solid: capacity (p99 within\nthe bound)"] = Line2D([], [], color=palette.MUTED)
    handles["dashed: saturation (most\ndelivered in any probe)"] = Line2D(
        [], [], color=palette.MUTED, linestyle="--")
    for ax in (tp, lat):
        ax.set(xscale="log", yscale="log", xlabel="connections = threads (thread per connection)")
    decade_limits(tp, values)
    decade_limits(lat, lats + [s * 2e3 for s in slos])  # the bound inside the frame
    plain_axes(tp, "requests/s", rate_tick)
    plain_axes(lat, "p99 at capacity", latency_tick)
    tp.set_title("Throughput", fontsize=9.5)
    lat.set_title("Latency at capacity", fontsize=9.5)
    fig.suptitle(f"SEDA fig. 2 on this machine: W = {w_text(w)}, {b_text(b)}", fontsize=10)
    fig.legend(list(handles.values()), list(handles), fontsize=7.5, loc="upper left",
               bbox_to_anchor=(0.775, 0.85), frameon=False)
    stamp(fig, context, command)
    return fig


def probe_points(r):
    """[(offered, delivered)] of a row's probes the goodput figure draws, by offered load."""
    log = [e for e in (r or {}).get("probe_log", []) if e.get("kind") in LOG_KINDS
           and positive(e.get("offered")) and e.get("delivered_per_s") is not None]
    return sorted((e["offered"], e["delivered_per_s"], e.get("kind")) for e in log)


def conditioned_figure(plt, grid, context, command):
    """Goodput against offered load from every probe, a panel per chosen cell, each model's
    saturation as a dotted line; a collapsed overload probe ringed in red. None without logs."""
    from matplotlib.lines import Line2D
    cells = conditioned_cells(grid)
    if not cells:
        return None
    fig, axes = plt.subplots(1, len(cells), figsize=(4.6 * len(cells) + 2.8, 4.6), squeeze=False)
    right = 1 - 2.8 / (4.6 * len(cells) + 2.8)
    handles = {}
    for ax, (c, w, b) in zip(axes[0], cells):
        top = []
        for key in grid.keys:
            r = grid.row(key, c, w, b)
            pts = probe_points(r)
            if not pts:
                continue
            colour = key_color(key)
            handles[series_label(grid, key)] = ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colour,
                                          marker=palette.marker(key), markersize=4,
                                          linewidth=1.3)[0]
            sat = positive(r["counters"].get("saturation"))
            if sat:
                ax.axhline(sat, color=colour, linestyle=":", linewidth=1)
            over = [p for p in pts if p[2] == "overload"]
            if over and is_collapsed(r):
                ax.plot([over[-1][0]], [over[-1][1]], linestyle="none", marker="o",
                        markersize=12, markerfacecolor="none", markeredgecolor=palette.FLAG,
                        markeredgewidth=1.6)
                handles[f"collapsed: goodput under overload\n< {COLLAPSE}× saturation"] = Line2D(
                    [], [], linestyle="none", marker="o", markersize=10, markerfacecolor="none",
                    markeredgecolor=palette.FLAG, markeredgewidth=1.6)
            top += [p[0] for p in pts] + [p[1] for p in pts]
        lim = max(top, default=1) * 1.05
        ax.plot([0, lim], [0, lim], color=palette.FAINT, linewidth=1)
        ax.set(xlabel="offered requests/s", xlim=(0, lim), ylim=(0, None))
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_formatter(plt.FuncFormatter(rate_tick))
        ax.yaxis.set_major_formatter(plt.FuncFormatter(rate_tick))
        ax.set_title(f"C = {c_text(c)}, W = {w_text(w)}, {b_text(b)}", fontsize=9)
    axes[0][0].set_ylabel("delivered requests/s (goodput)")
    handles["dotted: the model's saturation"] = Line2D([], [], color=palette.MUTED, linestyle=":")
    handles["grey: delivered = offered"] = Line2D([], [], color=palette.FAINT)
    fig.suptitle("Well-conditioned? Goodput against offered load, every probe of the search "
                 "(flood, search, confirmation, overload)", fontsize=10)
    fig.legend(list(handles.values()), list(handles), fontsize=7.5, loc="upper left",
               bbox_to_anchor=(right + 0.01, 0.86), frameon=False)
    fig.subplots_adjust(left=0.09, right=right, top=0.86, bottom=0.25, wspace=0.22)
    stamp(fig, context, command)
    return fig
