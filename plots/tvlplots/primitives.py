"""Primitives: the costs under every scenario — a switch, a created task, a waiting task.

Reads `primitives/<model>/<mechanism>/...` rows and sorts them by the counter they carry
(`ns_per_switch`, `us_per_create`, `kib_per_task`): grouped bars, pinned beside unpinned, for
the first two, and RSS growth against N with its fitted slope for the third.
"""
import re

from .charts import log_floor, stamp
from .fmt import num
from .load import PlotError
from . import palette

PRIM_ORDER = ["threads/semaphore", "threads/pipe", "threads/create", "threads/waiting",
              "asyncloop/post", "asyncloop/post-nolock", "asyncloop/handle",
              "asyncloop/handle-nolock", "asyncloop/create", "asyncloop/timer-each",
              "asyncloop/timer-shared", "asyncloop/sleep-queue"]
PRIM_GROWTH = re.compile(r"^growth_kib_n(\d+)$")


def prim_label(value):
    """A bar's value: thousands with separators, small values with three digits."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def prim_fixed(value, digits):
    """A counter with a fixed number of decimals (0 prints as 0.00); missing as a dash."""
    return "—" if value is None or value != value else f"{value:.{digits}f}"


def primitives_groups(rows):
    """Split primitives rows into switch, creation and memory rows by the counter they carry."""
    groups = {"switch": [], "create": [], "memory": []}
    for r in rows:
        c = r["counters"]
        kind = ("switch" if "ns_per_switch" in c else "create" if "us_per_create" in c
                else "memory" if "kib_per_task" in c else None)
        if kind is None:
            raise PlotError(f"primitives/{r['model']}/{r['variant']}: no ns_per_switch, "
                            "us_per_create or kib_per_task counter")
        r["pinned"] = int(r["params"].get("pinned", c.get("pinned", 0)) or 0)
        groups[kind].append(r)
    mech = lambda r: f"{r['model']}/{r['variant']}"
    order = lambda r: (PRIM_ORDER.index(mech(r)) if mech(r) in PRIM_ORDER else 99, mech(r),
                       -r["pinned"])
    return {k: sorted(v, key=order) for k, v in groups.items()}


def primitives_bars(plt, rows, key, ylabel, title, context, command):
    """Grouped bars, pinned beside unpinned, per mechanism, on a log y axis; values printed."""
    mechs = list(dict.fromkeys(f"{r['model']}/{r['variant']}" for r in rows))
    fig, ax = plt.subplots(figsize=(10, 5.6))
    width = 0.38
    for offset, pinned, label in ((-width / 2, 1, "pinned to one CPU"), (width / 2, 0, "unpinned")):
        for i, mech in enumerate(mechs):
            match = [r for r in rows if f"{r['model']}/{r['variant']}" == mech
                     and r["pinned"] == pinned]
            if not match:
                continue
            value = match[0]["counters"][key]
            model = match[0]["model"]
            shade = palette.color(model) if pinned else palette.light(model)
            ax.bar(i + offset, value, width, color=shade, edgecolor=palette.INK, linewidth=0.5,
                   hatch="" if pinned else "//", label=label if i == 0 else None)
            ax.text(i + offset, value * 1.08, prim_label(value), ha="center", va="bottom",
                    fontsize=7)
    ax.set(yscale="log", ylabel=ylabel, title=title, xticks=range(len(mechs)))
    ax.set_ylim(bottom=log_floor([r["counters"][key] for r in rows]))
    ax.set_xticklabels(mechs, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(top=ax.get_ylim()[1] * 2)
    ax.grid(True, axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    fig.subplots_adjust(left=0.09, right=0.97, top=0.9, bottom=0.27)
    stamp(fig, context, command)
    return fig


def primitives_memory_figure(plt, rows, context, command):
    """RSS growth against N with each fitted line (left), and the slopes as bars (right)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5.6), gridspec_kw={"width_ratios": [3, 2]})
    shade = {}  # the n-th curve of a model takes the model's n-th colour
    for i, r in enumerate(rows):
        c = r["counters"]
        points = sorted((int(m.group(1)), v) for k, v in c.items() if (m := PRIM_GROWTH.match(k)))
        shade[r["model"]] = shade.get(r["model"], -1) + 1
        model_color = palette.color(r["model"], shade[r["model"]])
        label = f"{r['model']}/{r['variant']}"
        if points:
            xs = [n for n, _ in points]
            left.plot(xs, [g / 1024 for _, g in points], "o", color=model_color, label=label)
            line = [c["fit_intercept_kib"] + c["kib_per_task"] * n for n in xs]
            left.plot(xs, [v / 1024 for v in line], "-", color=model_color, linewidth=1, alpha=0.7)
        right.bar(i, c["kib_per_task"], color=model_color, edgecolor=palette.INK, linewidth=0.5)
        right.text(i, c["kib_per_task"] * 1.08, f"{c['kib_per_task']:.3g} KiB\n"
                   f"RMS residual\n{c.get('fit_residual_kib', float('nan')):.2f} KiB",
                   ha="center", va="bottom", fontsize=7)
    left.set(xscale="log", yscale="log", xlabel="waiting tasks N (log scale)",
             ylabel="RSS growth of the child process, MiB (log scale)",
             title="RSS growth against N; lines: least-squares fit")
    left.grid(True, which="major", alpha=0.3)
    left.legend(fontsize=7.5, frameon=False, loc="upper left")
    right.set(yscale="log", ylabel="KiB per waiting task (slope, log scale)",
              title="memory per waiting task", xticks=range(len(rows)))
    right.set_xticklabels([f"{r['model']}/{r['variant']}" for r in rows], rotation=25,
                          ha="right", fontsize=8)
    right.set_ylim(bottom=log_floor([r["counters"]["kib_per_task"] for r in rows]),
                   top=right.get_ylim()[1] * 4)
    right.grid(True, axis="y", which="major", alpha=0.3)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.27, wspace=0.3)
    stamp(fig, context, command)
    return fig


def render_primitives(plt, rows, context, command):
    """Primitives section: switch, creation and memory figures, and one table of all three."""
    groups = primitives_groups(rows)
    how = "; ".join(sorted({r["aggregate"] for r in rows}))
    figures, blocks = {}, [("p", "The costs under every scenario: a hand-over between two tasks "
                                 "(ping-pong), a task created, run and joined, and the resident "
                                 "memory a waiting task adds (the slope of RSS growth over N, "
                                 "each N measured in a fresh child process). Pinned runs keep "
                                 f"every thread on one CPU. Each configuration's values: {how}.")]
    if groups["switch"]:
        figures["primitives_switch"] = primitives_bars(
            plt, groups["switch"], "ns_per_switch", "ns per switch (log scale)",
            "Context switch: ping-pong hand-over, pinned and unpinned", context, command)
        blocks.append(("figure", "primitives_switch", "Nanoseconds per hand-over (log scale)."))
    if groups["create"]:
        figures["primitives_create"] = primitives_bars(
            plt, groups["create"], "us_per_create", "µs per task (log scale)",
            "Creation: create, run to the end and join, one task after another", context, command)
        blocks.append(("figure", "primitives_create", "Microseconds per created task (log scale)."))
    if groups["memory"]:
        figures["primitives_memory"] = primitives_memory_figure(plt, groups["memory"], context,
                                                                command)
        blocks.append(("figure", "primitives_memory",
                       "Left: RSS growth of a child process holding N waiting tasks, with the "
                       "fitted line. Right: the slope, KiB per waiting task, with the RMS "
                       "residual of the fit."))
    table = [["model", "variant", "pinned", "measure", "value", "fit residual KiB", "fit r²",
              "N", "vcsw", "ivcsw", "stack KiB"]]
    units = {"switch": ("ns per switch", "ns_per_switch"),
             "create": ("µs per create", "us_per_create"),
             "memory": ("KiB per waiting task", "kib_per_task")}
    for kind in ("switch", "create", "memory"):
        measure, key = units[kind]
        for r in groups[kind]:
            c = r["counters"]
            ns = sorted(int(m.group(1)) for k in c if (m := PRIM_GROWTH.match(k)))
            table.append([r["model"], r["variant"],
                          "" if kind == "memory" else ("yes" if r["pinned"] else "no"),
                          measure, f"{c[key]:.{1 if kind == 'switch' else 3}f}",
                          prim_fixed(c.get("fit_residual_kib"), 2),
                          prim_fixed(c.get("fit_r2"), 4),
                          ", ".join(map(str, ns)), num(c.get("vcsw"), 0),
                          num(c.get("ivcsw"), 0), num(c.get("stack_kib"), 0)])
    blocks.append(("table", table))
    stacks = {c["stack_kib"] for r in rows for c in [r["counters"]] if "stack_kib" in c}
    if stacks:
        blocks.append(("p", "Default thread stack size (`pthread_attr_getstacksize`): "
                            + ", ".join(f"{s:.0f} KiB" for s in sorted(stacks))
                            + "; a waiting thread keeps only the pages it touched resident. "
                            "`vcsw`/`ivcsw` are the whole process's context switches during "
                            "one run."))
    return blocks, figures
