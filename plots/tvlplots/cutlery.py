"""Cutlery (book ch. 2, Robots and Cutlery): how often a shared kitchen ends wrong.

Reads `cutlery/<model>/<variant>/tables:N` rows: the failure rate of the trials with its Wilson
interval, and the throughput, against tables per bot. Racy variants are drawn solid, safe ones
dashed, and `asyncloop/racy` (racy code that one loop thread makes safe) dotted; a safe variant
that failed is called out under the table.
"""
from .charts import stamp
from .fmt import num, si
from .load import PlotError
from . import palette

CUTLERY_ORDER = ["threads/racy", "threads/mutex", "threads/atomic", "tbb/racy", "tbb/safe",
                 "asyncloop/racy", "asyncloop/await-inside", "asyncloop-mt/nostrand",
                 "asyncloop-mt/strand"]
CUTLERY_RACY = {"threads/racy", "tbb/racy", "asyncloop/await-inside", "asyncloop-mt/nostrand"}
LOOP_SAFE = "asyncloop/racy"  # racy code that one loop thread makes safe: no switch inside change()
CUTLERY_NEEDS = ("fail_rate", "fail_lo", "fail_hi", "failures", "trials", "items_per_second")


def cutlery_series(rows):
    """Group cutlery rows into {series label: [rows sorted by tables]} in a stable order."""
    series = {}
    for r in rows:
        missing = [k for k in CUTLERY_NEEDS if k not in r["counters"]]
        tables = r["params"].get("tables", r["counters"].get("tables"))
        if missing or tables is None:
            raise PlotError(f"cutlery/{r['model']}/{r['variant']}: missing counter "
                            + ", ".join(missing or ["tables"]))
        r["tables"] = tables
        extra = " ".join(f"{k}:{v}" for k, v in r["params"].items() if k != "tables")
        series.setdefault((f"{r['model']}/{r['variant']}", extra), []).append(r)
    rank = lambda key: (CUTLERY_ORDER.index(key[0]) if key[0] in CUTLERY_ORDER else 99, key)
    return {k: sorted(series[k], key=lambda r: r["tables"]) for k in sorted(series, key=rank)}


def cutlery_style(vid, index_in_model):
    """The model's colour (its n-th shade for its n-th series) and marker; line style by
    expectation: racy solid, safe dashed, loop-made-safe dotted."""
    kind = "racy" if vid in CUTLERY_RACY else "loop" if vid == LOOP_SAFE else "safe"
    return dict(color=palette.color(vid, index_in_model), marker=palette.marker(vid),
                linestyle={"racy": "-", "safe": "--", "loop": ":"}[kind], linewidth=1.6,
                markersize=5, zorder={"racy": 3, "safe": 2, "loop": 2.5}[kind]), kind


def cutlery_figures(plt, series, context, command, how):
    """Draw cutlery_fail_rate and cutlery_throughput; return {name: figure}."""
    from matplotlib.ticker import EngFormatter, FuncFormatter, LogLocator, NullFormatter
    legend_note = {"racy": "racy, expected to fail", "safe": "safe, expected 0",
                   "loop": "racy code, safe on one loop thread"}
    figs = {"cutlery_fail_rate": plt.subplots(figsize=(10, 5.6)),
            "cutlery_throughput": plt.subplots(figsize=(10, 5.6))}
    shade = {}  # the n-th series of a model takes the model's n-th colour
    for i, ((vid, extra), rows) in enumerate(series.items()):
        model = vid.split("/")[0]
        shade[model] = shade.get(model, -1) + 1
        style, kind = cutlery_style(vid, shade[model])
        label = f"{vid} {extra}".strip() + f" ({legend_note[kind]})"
        dodge = 10 ** (0.025 * (i - (len(series) - 1) / 2))  # keep error bars apart on log x
        xs = [r["tables"] * dodge for r in rows]
        c = [r["counters"] for r in rows]
        figs["cutlery_fail_rate"][1].errorbar(
            xs, [x["fail_rate"] for x in c], capsize=2.5, label=label, **style,
            yerr=[[max(0, x["fail_rate"] - x["fail_lo"]) for x in c],
                  [max(0, x["fail_hi"] - x["fail_rate"]) for x in c]])
        figs["cutlery_throughput"][1].plot([r["tables"] for r in rows],
                                           [x["items_per_second"] for x in c], label=label, **style)
    ax = figs["cutlery_fail_rate"][1]
    ax.set(xscale="log", ylim=(-0.04, 1.04), xlabel="tables per bot (log scale)",
           ylabel="failure rate (fraction of trials)",
           title="Cutlery: trials whose kitchen did not end at 100 knives / 100 forks\n"
                 "error bars: 95% Wilson interval; points offset slightly along x")
    ax = figs["cutlery_throughput"][1]
    ax.set(xscale="log", yscale="log", xlabel="tables per bot (log scale)",
           ylabel="table operations per second (log scale)",
           title=f"Cutlery: throughput ({how})")
    ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.yaxis.set_major_formatter(EngFormatter(unit="/s"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    out = {}
    for name, (fig, ax) in figs.items():
        ax.grid(True, which="major", alpha=0.3)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        fig.subplots_adjust(left=0.08, right=0.62, top=0.88, bottom=0.17)
        stamp(fig, context, command)
        out[name] = fig
    return out


def render_cutlery(plt, rows, context, command):
    """Cutlery section: two figures, the per-configuration table, and expectation checks."""
    series = cutlery_series(rows)
    how = "; ".join(sorted({r["aggregate"] for r in rows}))
    figures = cutlery_figures(plt, series, context, command, how)
    table = [["model", "variant", "tables", "trials", "failures", "fail_rate [95% CI]",
              "drift_knives", "drift_forks", "items_per_second", "os_threads"]]
    surprises = []
    for (vid, _), srows in series.items():
        for r in srows:
            c = r["counters"]
            table.append([r["model"], r["variant"], num(r["tables"]), num(c["trials"], 1),
                          num(c["failures"], 1),
                          f"{c['fail_rate']:.3f} [{c['fail_lo']:.3f}, {c['fail_hi']:.3f}]",
                          num(c.get("drift_knives"), 2), num(c.get("drift_forks"), 2),
                          si(c["items_per_second"]), num(c.get("os_threads"), 1)])
            if vid not in CUTLERY_RACY and c["failures"] > 0:
                surprises.append(f"`{vid}` at {num(r['tables'])} tables: "
                                 f"{num(c['failures'], 1)} failed trials")
    blocks = [("p", "Each bot prepares and clears its tables against one shared kitchen; a "
                    "trial fails when the kitchen does not end with exactly 100 knives and 100 "
                    f"forks. Each configuration's values: {how}."),
              ("figure", "cutlery_fail_rate",
               "Failure rate against tables per bot. Solid: racy variants; dashed: safe variants "
               "(expected 0); dotted: `asyncloop/racy`, the racy `change()` that a "
               "single-threaded loop makes safe because nothing can switch inside it."),
              ("figure", "cutlery_throughput",
               "Table operations per second against tables per bot."),
              ("table", table)]
    if surprises:
        blocks.append(("p", "**Unexpected:** safe variants that failed: " + "; ".join(surprises)))
    return blocks, figures
