#!/usr/bin/env python3
"""Render tvl's figures and report from Google Benchmark JSON.

Reads every *.json in --results (the files `tvl-bench --benchmark_out` writes), keeps one row
per benchmark (its median aggregate, or its only run when it ran once), and writes
OUT/figures/<name>.png and .svg, OUT/report.md and a self-contained OUT/report.html.
Every number printed or plotted comes from those files; every figure is stamped with the
machine and the command that produced it. One renderer per scenario lives in SECTIONS;
a scenario without one gets a generic table.

Run it with an interpreter that imports matplotlib (on Debian: /usr/bin/python3).
"""
import argparse
import base64
import html
import json
import re
import statistics
import sys
from pathlib import Path

GB_KEYS = {"iterations", "repeats", "min_time", "min_warmup_time", "real_time",
           "manual_time", "process_time", "threads"}
AGG_SUFFIX = re.compile(r"_(mean|median|stddev|cv)$")
SKIP_FIELDS = {"family_index", "per_family_instance_index", "repetitions", "repetition_index",
               "threads", "iterations"}  # GB bookkeeping, not measurements


class PlotError(Exception):
    """A problem with the input that must stop the run with one clear line."""


# ---------------------------------------------------------------------------- loading

def parse_name(name):
    """Split 'scenario/model/variant/k:v/...' into its parts, dropping GB's own segments."""
    parts = AGG_SUFFIX.sub("", name).split("/")
    if len(parts) < 3 or not all(parts[:3]):
        raise PlotError(f"benchmark name '{name}' is not scenario/model/variant[/param:value]")
    params = {}
    for seg in parts[3:]:
        key, _, value = seg.partition(":")
        if key in GB_KEYS:
            continue
        params[key] = number(value) if value else ""
    return parts[0], parts[1], parts[2], params


def number(text):
    """Return text as int or float when it is one, else unchanged."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_json(path):
    """Load one Google Benchmark JSON file, raising PlotError on anything malformed."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise PlotError(f"{path}: cannot read: {err}") from None
    except json.JSONDecodeError as err:
        raise PlotError(f"{path}: malformed JSON: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise PlotError(f"{path}: malformed JSON: no 'benchmarks' list "
                        "(not Google Benchmark output)")
    if not all(isinstance(b, dict) and isinstance(b.get("name"), str) for b in doc["benchmarks"]):
        raise PlotError(f"{path}: malformed JSON: a benchmark entry has no 'name'")
    return doc


def select_runs(entries):
    """Group entries by run and pick one per run: median aggregate, else the median of its runs."""
    runs = {}
    for e in entries:
        runs.setdefault(e.get("run_name") or AGG_SUFFIX.sub("", e["name"]), []).append(e)
    chosen = []
    for run_name, group in runs.items():
        median = [e for e in group if e.get("aggregate_name") == "median"]
        iters = [e for e in group if e.get("run_type", "iteration") == "iteration"]
        if median:
            chosen.append((run_name, median[0], "median aggregate of the repetitions"))
        elif len(iters) == 1:
            chosen.append((run_name, iters[0], "single run (no repetitions)"))
        elif iters:  # repetitions without aggregates: take the median here, say so
            keys = [k for k, v in iters[0].items() if isinstance(v, (int, float))
                    and not isinstance(v, bool)]
            merged = {k: statistics.median(e[k] for e in iters) for k in keys}
            chosen.append((run_name, {**iters[0], **merged},
                           f"median of {len(iters)} runs, computed here (no aggregates)"))
    return chosen


def one_line(text):
    """Collapse any whitespace (newlines included) so an error stays on one line."""
    return " ".join(str(text).split())


def load_results(results_dir):
    """Read every *.json in results_dir; return (rows, contexts by file name)."""
    if not results_dir.is_dir():
        raise PlotError(f"results folder {results_dir} does not exist")
    files = sorted(results_dir.glob("*.json"))
    if not files:
        raise PlotError(f"no *.json files in {results_dir} "
                        "(run tvl-bench with --benchmark_out first)")
    rows, contexts, failed = {}, {}, []
    for path in files:
        doc = read_json(path)
        contexts[path.name] = doc.get("context") or {}
        failed += [f"{b['name']} ({one_line(b.get('error_message', 'no message'))})"
                   for b in doc["benchmarks"] if b.get("error_occurred")]
        ok = [b for b in doc["benchmarks"] if not b.get("error_occurred")]
        for run_name, entry, how in select_runs(ok):
            scenario, model, variant, params = parse_name(run_name)
            if run_name in rows:
                print(f"tvl_plots: warning: {run_name} in several files; using {path.name}",
                      file=sys.stderr)
            counters = {k: v for k, v in entry.items() if isinstance(v, (int, float))
                        and not isinstance(v, bool) and k not in SKIP_FIELDS}
            rows[run_name] = dict(scenario=scenario, model=model, variant=variant, params=params,
                                  counters=counters, aggregate=how, source=path.name)
    if failed:
        raise PlotError(f"{len(failed)} benchmark(s) reported an error: " + "; ".join(failed))
    if not rows:
        raise PlotError(f"no benchmarks in {', '.join(p.name for p in files)}")
    return list(rows.values()), contexts


# ---------------------------------------------------------------------------- formatting

def si(value, unit="/s"):
    """Format with an SI prefix and three significant digits: 12300000 -> '12.3 M/s'."""
    if value is None or value != value:
        return "—"
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")):
        if abs(value) >= scale * 0.9995 or scale == 1:
            return f"{value / scale:#.3g}".rstrip(".") + f" {prefix}{unit}"


def num(value, digits=3):
    """Format a counter: integers plainly, others with `digits` decimals; missing as a dash."""
    if value is None or value != value:
        return "—"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.{digits}f}"


CONTEXT_ROWS = [("CPU", "cpu_model"), ("cores", "cores"), ("kernel", "kernel"),
                ("compiler", "compiler"), ("Boost", "boost_version"), ("oneTBB", "tbb_version"),
                ("Google Benchmark", "benchmark_version"), ("git revision", "git_revision"),
                ("date", "date"), ("host", "host_name"), ("benchmark command", "tvl_command")]


def ctx(context, key):
    """One context value as text ('cores' falls back to num_cpus); 'unknown' when absent."""
    value = context.get(key, context.get("num_cpus") if key == "cores" else None)
    return "unknown" if value in (None, "") else str(value)


def stamp(fig, context, command):
    """Write the machine context and the producing command in small print under a figure."""
    keys = ("cpu_model", "cores", "kernel", "compiler")
    line1 = " · ".join([ctx(context, "cpu_model"), ctx(context, "cores") + " cores"]
                       + [ctx(context, k) for k in keys[2:]]
                       + [f"Boost {ctx(context, 'boost_version')}",
                          f"oneTBB {ctx(context, 'tbb_version')}",
                          f"benchmark {ctx(context, 'benchmark_version')}",
                          f"rev {ctx(context, 'git_revision')}", ctx(context, "date")])
    fig.text(0.01, 0.01, f"{line1}\ncommand: {command}", fontsize=6.5, color="#555555",
             ha="left", va="bottom")


# ---------------------------------------------------------------------------- cutlery

CUTLERY_ORDER = ["threads/racy", "threads/mutex", "threads/atomic", "tbb/racy", "tbb/safe",
                 "asyncloop/racy", "asyncloop/await-inside", "asyncloop-mt/nostrand",
                 "asyncloop-mt/strand"]
CUTLERY_RACY = {"threads/racy", "tbb/racy", "asyncloop/await-inside", "asyncloop-mt/nostrand"}
LOOP_SAFE = "asyncloop/racy"  # racy code that one loop thread makes safe: no switch inside change()
MODEL_COLORS = {"threads": ["#1f4e9c", "#4f83d1", "#8fb5ea"], "tbb": ["#1b7a3a", "#5fbf7a"],
                "asyncloop": ["#c05a00", "#f0a030"], "asyncloop-mt": ["#7a2f9c", "#b57fd6"]}
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
    """Line style by expectation: racy solid, safe dashed, loop-made-safe dotted."""
    model = vid.split("/")[0]
    colors = MODEL_COLORS.get(model, ["#444444", "#888888", "#bbbbbb"])
    kind = "racy" if vid in CUTLERY_RACY else "loop" if vid == LOOP_SAFE else "safe"
    return dict(color=colors[index_in_model % len(colors)],
                linestyle={"racy": "-", "safe": "--", "loop": ":"}[kind],
                marker={"racy": "o", "safe": "s", "loop": "D"}[kind], linewidth=1.6,
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


# ---------------------------------------------------------------------------- primitives

PRIM_ORDER = ["threads/semaphore", "threads/pipe", "threads/create", "threads/waiting",
              "asyncloop/post", "asyncloop/post-nolock", "asyncloop/handle",
              "asyncloop/handle-nolock", "asyncloop/create", "asyncloop/timer-each",
              "asyncloop/timer-shared", "asyncloop/sleep-queue"]
PRIM_COLORS = {"threads": ("#1f4e9c", "#8fb5ea"), "asyncloop": ("#c05a00", "#f0a030")}
PRIM_MEMORY_COLORS = {"threads": ["#1f4e9c", "#4f83d1"],
                      "asyncloop": ["#8c3b00", "#c05a00", "#f0a030", "#7a2f9c"]}
PRIM_GROWTH = re.compile(r"^growth_kib_n(\d+)$")


def prim_label(value):
    """A bar's value: thousands with separators, small values with three digits."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def prim_floor(values):
    """The power of ten just below the smallest value: where log-scale bars start."""
    import math
    return 10 ** math.floor(math.log10(min(v for v in values if v > 0)))


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
            color = PRIM_COLORS.get(match[0]["model"], ("#444444", "#aaaaaa"))[1 - pinned]
            ax.bar(i + offset, value, width, color=color, edgecolor="#333333", linewidth=0.5,
                   hatch="" if pinned else "//", label=label if i == 0 else None)
            ax.text(i + offset, value * 1.08, prim_label(value), ha="center", va="bottom",
                    fontsize=7)
    ax.set(yscale="log", ylabel=ylabel, title=title, xticks=range(len(mechs)))
    ax.set_ylim(bottom=prim_floor([r["counters"][key] for r in rows]))
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
        palette = PRIM_MEMORY_COLORS.get(r["model"], ["#444444", "#888888"])
        color = palette[shade[r["model"]] % len(palette)]
        label = f"{r['model']}/{r['variant']}"
        if points:
            xs = [n for n, _ in points]
            left.plot(xs, [g / 1024 for _, g in points], "o", color=color, label=label)
            line = [c["fit_intercept_kib"] + c["kib_per_task"] * n for n in xs]
            left.plot(xs, [v / 1024 for v in line], "-", color=color, linewidth=1, alpha=0.7)
        right.bar(i, c["kib_per_task"], color=color, edgecolor="#333333", linewidth=0.5)
        right.text(i, c["kib_per_task"] * 1.08, f"{c['kib_per_task']:.3g} KiB\n"
                   f"RMS residual\n{c.get('fit_residual_kib', float('nan')):.2g} KiB",
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
    right.set_ylim(bottom=prim_floor([r["counters"]["kib_per_task"] for r in rows]),
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
                          num(c.get("fit_residual_kib"), 2), num(c.get("fit_r2"), 4),
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


def render_generic(plt, rows, context, command):
    """Fallback section: one table of every counter, no figures."""
    first = ["items_per_second", "fail_rate", "p50_us", "p99_us", "p999_us", "rss_kib",
             "vcsw", "ivcsw"]
    names = {k for r in rows for k in r["counters"]}
    cols = [k for k in first if k in names] + sorted(names - set(first))
    table = [["model", "variant", "params"] + cols]
    for r in sorted(rows, key=lambda r: (r["model"], r["variant"], str(r["params"]))):
        params = " ".join(f"{k}:{v}" for k, v in r["params"].items())
        table.append([r["model"], r["variant"], params]
                     + [si(r["counters"].get(k)) if k == "items_per_second"
                        else num(r["counters"].get(k)) for k in cols])
    return [("table", table)], {}


SECTIONS = {"cutlery": render_cutlery, "primitives": render_primitives}
TITLES = {"cutlery": "Cutlery (book ch. 2, Robots and Cutlery)",
          "primitives": "Primitives (the costs under every scenario)"}

# ---------------------------------------------------------------------------- report

def inline_html(text):
    """Escape text for HTML, turning `code` and **bold** into tags."""
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def to_markdown(blocks):
    """Render blocks (h1/h2/p/table/figure) as Markdown; figures link to figures/."""
    out = []
    for kind, *body in blocks:
        if kind in ("h1", "h2"):
            out.append("#" * int(kind[1]) + " " + body[0])
        elif kind == "p":
            out.append(body[0])
        elif kind == "figure":
            name, caption = body
            out.append(f"![{name}](figures/{name}.png)\n\n*{caption}* "
                       f"([SVG](figures/{name}.svg))")
        elif kind == "table":
            rows = [[str(c).replace("|", "\\|") for c in row] for row in body[0]]
            out.append("\n".join(["| " + " | ".join(rows[0]) + " |",
                                  "|" + "---|" * len(rows[0])]
                                 + ["| " + " | ".join(r) + " |" for r in rows[1:]]))
    return "\n\n".join(out) + "\n"


def to_html(blocks, title, figdir):
    """Render the same blocks as one self-contained HTML page (PNGs embedded as data: URIs)."""
    out = []
    for kind, *body in blocks:
        if kind in ("h1", "h2"):
            out.append(f"<{kind}>{html.escape(body[0])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{inline_html(body[0])}</p>")
        elif kind == "figure":
            name, caption = body
            data = base64.b64encode((figdir / f"{name}.png").read_bytes()).decode("ascii")
            out.append(f'<figure><img alt="{name}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{inline_html(caption)}</figcaption></figure>")
        elif kind == "table":
            head, *rows = body[0]
            out.append("<table><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
                       + "</tr>" + "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>"
                                                            for c in r) + "</tr>" for r in rows)
                       + "</table>")
    style = ("body{font-family:sans-serif;max-width:75em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #ccc;"
             "padding:0.2em 0.5em;text-align:right}th{background:#f2f2f2}img{max-width:100%}"
             "code{background:#f4f4f4;padding:0 0.2em}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{style}</style></head><body>\n"
            + "\n".join(out) + "\n</body></html>\n")


def load_pyplot():
    """Import matplotlib headless, or explain which interpreter to use."""
    try:
        import matplotlib
    except ImportError:
        raise PlotError(f"matplotlib does not import under {sys.executable}; "
                        "run this script with /usr/bin/python3 (Debian python3-matplotlib)"
                        ) from None
    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "tvl"})
    import matplotlib.pyplot as plt
    return plt


def build_report(args):
    """Load, render every scenario's section, write figures and both reports."""
    rows, contexts = load_results(Path(args.results))
    first = contexts[min(contexts)]
    command = args.command or first.get("tvl_command") or "unknown"
    profile = args.profile or first.get("tvl_profile") or "unknown"
    plt = load_pyplot()
    figdir = Path(args.out) / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    blocks = [("h1", args.title),
              ("p", f"Profile: **{profile}** · date: {ctx(first, 'date')} · "
                    f"produced by: `{command}`"),
              ("p", "Every number in this report and its figures is read from these Google "
                    "Benchmark JSON files, none typed by hand: "
                    + ", ".join(f"`{name}`" for name in sorted(contexts)) + "."),
              ("h2", "Machine"),
              ("table", [["", "value"]]
               + [[label, ctx(first, key)] for label, key in CONTEXT_ROWS])]
    if first.get("cpu_scaling_enabled"):
        blocks.append(("p", "**Warning:** CPU frequency scaling was enabled; timings are noisy."))
    for scenario in sorted({r["scenario"] for r in rows}):
        srows = [r for r in rows if r["scenario"] == scenario]
        context = contexts[srows[0]["source"]]
        render = SECTIONS.get(scenario, render_generic)
        section, figures = render(plt, srows, context, command)
        for name, fig in figures.items():
            fig.savefig(figdir / f"{name}.png", dpi=130, metadata={"Software": None})
            fig.savefig(figdir / f"{name}.svg", metadata={"Date": None})
            plt.close(fig)
        blocks += [("h2", TITLES.get(scenario, scenario))] + section
    out = Path(args.out)
    (out / "report.md").write_text(to_markdown(blocks), encoding="utf-8")
    (out / "report.html").write_text(to_html(blocks, args.title, figdir), encoding="utf-8")


def main(argv=None):
    """Command-line entry point; input problems exit 2 with one 'tvl_plots: error:' line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", required=True, help="folder of Google Benchmark *.json")
    parser.add_argument("--out", required=True, help="report folder (figures/ goes inside)")
    parser.add_argument("--profile", help="profile name (default: context tvl_profile)")
    parser.add_argument("--command", help="command shown on figures (default: context tvl_command)")
    parser.add_argument("--title", default="tvl — threads vs. event loop")
    args = parser.parse_args(argv)
    try:
        build_report(args)
    except PlotError as err:
        print(f"tvl_plots: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
