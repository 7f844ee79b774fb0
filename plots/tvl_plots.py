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
TEXT_FIELDS = {"limit", "overload_verdict"}  # structured text a section reads (never error text)
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
            # A sweep point that did not run (`tvl sweep`) is a recorded failure, not an error:
            # it has no counters, only its reason, which the scenario's section reports.
            failure = (one_line(entry.get("failure_reason") or "no reason recorded")
                       if entry.get("sweep_failed") else None)
            # A point that ran but whose checks failed keeps its numbers and its reason.
            check = one_line(entry["check_failed"]) if entry.get("check_failed") else None
            labels = {k: one_line(v) for k, v in entry.items() if k in TEXT_FIELDS and isinstance(v, str)}
            rows[run_name] = dict(scenario=scenario, model=model, variant=variant, params=params,
                                  counters=counters, aggregate=how, source=path.name,
                                  failure=failure, check=check, context=contexts[path.name],
                                  labels=labels)
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


def prim_fixed(value, digits):
    """A counter with a fixed number of decimals (0 prints as 0.00); missing as a dash."""
    return "—" if value is None or value != value else f"{value:.{digits}f}"


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


# ---------------------------------------------------------------------------- restaurant

# The book's two idle figures (Using Asyncio in Python, ch. 1). They are quoted from the book,
# not measured, and drawn only as references beside what tvl measured.
BOOK_THREADBOT_IDLE_PCT = 98  # "the busiest ThreadBot is idle about 98% of the time"
BOOK_LOOPBOT_IDLE_PCT = 97    # "one LoopBot doing all seven bots' work is still about 97% idle"
REST_MODELS = ["threads", "threads-per-table", "tbb", "asyncloop"]
REST_COLORS = {"threads": "#1f4e9c", "threads-per-table": "#7a2f9c", "tbb": "#1b7a3a",
               "asyncloop": "#c05a00"}
REST_MARKERS = {"threads": "o", "threads-per-table": "^", "tbb": "s", "asyncloop": "D"}
REST_ROLES = {"GreetBot": ("o", "#4c72b0"), "WaitBot": ("s", "#55a868"),
              "ChefBot": ("^", "#c44e52"), "WineBot": ("v", "#8172b2")}
REST_COLLISIONS = ("duplicate_order", "seated_while_clearing", "plate_grabbed", "other")
REST_NEEDS = ("items_per_second", "p50_us", "p99_us", "overhead_p50_us", "overhead_p99_us",
              "lateness_p99_us", "busiest_bot_idle_pct", "collisions", "os_threads")
REST_SWEEP_NEEDS = ("kib_per_table", "overhead_p50_us", "overhead_p99_us", "lateness_p99_us")
REST_THREAD_FAIL = re.compile(r"thread creation failed after (\d+) threads(?: \(([^)]*)\))?")
REST_LIMIT_VALUE = re.compile(r"([A-Za-z_][\w-]*)=(\d+)")
FD_LIMIT_FAIL = re.compile(r"(\d+) descriptors needed, the open-files hard limit is (\d+)")


def rest_name(r):
    """The row's benchmark name without Google Benchmark's suffixes."""
    return "/".join(["restaurant", r["model"], r["variant"]]
                    + [f"{k}:{v}" for k, v in r["params"].items()])


def rest_rank(r):
    """Sort key: models in lesson order, safe before unsafe, book before weekend, chatty last."""
    model = REST_MODELS.index(r["model"]) if r["model"] in REST_MODELS else 99
    chatty = ["none", "block", "offload"]
    return (r["chatty"] in chatty[1:], model, r["model"], r["variant"] != "safe",
            r["staff"] != "book", chatty.index(r["chatty"]) if r["chatty"] in chatty else 9)


def restaurant_rows(rows):
    """Split rows into registry rows (sorted) and {model: sweep points sorted by tables}."""
    registry, sweeps = [], {}
    for r in rows:
        c = r["counters"]
        r["tables"] = r["params"].get("tables", c.get("tables"))
        r["staff"], r["chatty"] = r["params"].get("staff", ""), r["params"].get("chatty", "")
        sweep = "sweep" in r["params"]
        needs = () if r.get("failure") else REST_SWEEP_NEEDS if sweep else REST_NEEDS
        missing = [k for k in needs if k not in c] + (["tables"] if r["tables"] is None else [])
        if missing:
            raise PlotError(f"{rest_name(r)}: missing counter " + ", ".join(missing))
        if sweep:
            key = r["model"] if r["variant"] == "safe" else f"{r['model']}/{r['variant']}"
            sweeps.setdefault(key, []).append(r)
        else:
            registry.append(r)
    order = lambda m: (REST_MODELS.index(m.split("/")[0]) if m.split("/")[0] in REST_MODELS
                       else 99, m)
    return (sorted(registry, key=rest_rank),
            {m: sorted(sweeps[m], key=lambda r: r["tables"]) for m in sorted(sweeps, key=order)})


def dur(us):
    """A duration given in µs, in µs, ms or s with three significant digits."""
    if us is None or us != us:
        return "—"
    if us == 0:
        return "0 µs"
    for scale, unit in ((1e6, "s"), (1e3, "ms"), (1, "µs")):
        if abs(us) >= scale or scale == 1:
            return f"{us / scale:#.3g}".rstrip(".") + f" {unit}"


def pct(value):
    """A percentage with one decimal, or a dash when absent."""
    return "—" if value is None else f"{value:.1f}%"


def collisions_text(c):
    """'68 (plate_grabbed 36, other 32)': the total, then each kind that occurred."""
    kinds = [f"{k} {num(c[f'collisions_{k}'], 0)}" for k in REST_COLLISIONS
             if c.get(f"collisions_{k}")]
    return num(c["collisions"], 0) + (f" ({', '.join(kinds)})" if kinds else "")


def short_failure(reason):
    """The head of a failure reason, short enough to annotate a chart."""
    m = REST_THREAD_FAIL.search(reason)
    if m:
        return m.group(0)
    m = FD_LIMIT_FAIL.search(reason)
    if m:
        return f"open-files hard limit {m.group(2)}, {m.group(1)} descriptors needed"
    return reason if len(reason) <= 70 else reason[:67] + "..."


def plain_log_axis(axis):
    """Log-axis ticks written plainly (0.5, 20, 1,000), at 1, 2, 5 x 10^k over a short range."""
    import math
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    lo, hi = sorted(axis.get_view_interval())
    decades = math.log10(hi / lo) if lo > 0 else 99
    axis.set_major_locator(LogLocator(subs=range(1, 10) if decades < 1.2 else (1, 2, 5)
                                      if decades < 2.5 else (1,)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def sweep_stamp(fig, points, context, command):
    """Stamp a sweep figure: the machine, the report command and every sweep's own command."""
    import textwrap
    stamp(fig, context, command)
    cmds = list(dict.fromkeys(r["context"].get("tvl_command", "unknown")
                              for pts in points.values() for r in pts))
    lines = textwrap.wrap("points from: " + "; ".join(cmds), 190, break_on_hyphens=False)
    fig.text(0.01, 0.052, "\n".join(lines), fontsize=6.5, color="#555555", ha="left",
             va="bottom")


def rest_style(model):
    """A restaurant sweep series' colour and marker, by model."""
    base = model.split("/")[0]
    return dict(color=REST_COLORS.get(base, "#444444"), marker=REST_MARKERS.get(base, "o"))


def draw_sweep(ax, sweeps, keys, x="tables", unit="tables", style=rest_style, mark="stopped"):
    """Draw sweep points on one log-x axes: a line per series and key (a key's line style, when
    given, overrides the series'); a point that did not run is an ✕ on the floor of the chart,
    its reason in the legend and `mark` (unless None) written beside it."""
    import textwrap
    ax.set_xscale("log")
    fails = []
    for model, points in sweeps.items():
        st = style(model)
        ok = [p for p in points if not p.get("failure")]
        for key, line, what in keys:
            ax.plot([p[x] for p in ok], [p["counters"][key] for p in ok], linewidth=1.6,
                    markersize=5, label=f"{model}{what}",
                    **{**st, **({"linestyle": line} if line else {})})
        fails += [(p, st["color"], model) for p in points if p.get("failure")]
    where = ax.get_xaxis_transform()  # x in data, y as a fraction of the axes
    for p, color, model in fails:
        ax.axvline(p[x], color=color, linestyle=":", linewidth=1.2)
        reason = textwrap.fill(f"{model}: ✕ did not run at {p[x]:,} {unit} — "
                               f"{short_failure(p['failure'])}", 44,
                               break_on_hyphens=False)
        ax.plot([p[x]], [0.04], marker="X", markersize=12, color=color, transform=where,
                clip_on=False, zorder=5, linestyle="none", label=reason)
        if mark is not None:
            ax.text(p[x] * 1.04, 0.5, f"{model} {mark}", rotation=90, transform=where,
                    ha="left", va="center", fontsize=7.5, color=color,
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))
    every = [p[x] for points in sweeps.values() for p in points]
    ax.set_xlim(min(every) / 1.5, max(every) * 1.5)


def sweep_figure(plt, sweeps, keys, ylabel, title, context, command):
    """Log-log chart of sweep points against tables; a point that did not run is an ✕."""
    from matplotlib.ticker import FuncFormatter
    fig, ax = plt.subplots(figsize=(10, 6))
    draw_sweep(ax, sweeps, keys)
    ax.set(yscale="log", xlabel="concurrent tables (log scale)", ylabel=ylabel, title=title)
    ax.grid(True, which="major", alpha=0.3)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    plain_log_axis(ax.yaxis)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.subplots_adjust(left=0.09, right=0.7, top=0.9, bottom=0.2)
    return fig, ax


def restaurant_memory_figure(plt, sweeps, context, command):
    """KiB per table against tables, with the threads' reserved stack size as a reference."""
    fig, ax = sweep_figure(plt, sweeps, [("kib_per_table", "-", "")],
                           "peak RSS growth per table, KiB (log scale)",
                           "Restaurant: memory per concurrent table", context, command)
    stacks = {p["counters"]["stack_kib"] for pts in sweeps.values() for p in pts
              if p["counters"].get("stack_kib")}
    for s in sorted(stacks):
        ax.axhline(s, color="#888888", linestyle="--", linewidth=1)
        ax.annotate(f"a thread's stack, reserved (virtual, not resident): {s:,.0f} KiB",
                    xy=(0.01, s), xycoords=ax.get_yaxis_transform(), xytext=(0, -4),
                    textcoords="offset points", va="top", fontsize=7.5, color="#555555")
    plain_log_axis(ax.yaxis)
    sweep_stamp(fig, sweeps, context, command)
    return fig


def restaurant_overhead_figure(plt, sweeps, context, command):
    """Latency over the ideal meal, p50 and p99, against tables."""
    fig, _ = sweep_figure(plt, sweeps, [("overhead_p50_us", "-", " p50"),
                                        ("overhead_p99_us", "--", " p99")],
                          "diner latency minus the ideal meal, µs (log scale)",
                          "Restaurant: latency overhead over the ideal meal "
                          "(solid p50, dashed p99)",
                          context, command)
    sweep_stamp(fig, sweeps, context, command)
    return fig


def restaurant_idle_figure(plt, picks, context, command):
    """Idle % per role, busiest bot and loop thread, per model and staff, beside the book's."""
    fig, ax = plt.subplots(figsize=(12, 6))
    seen = set()

    def point(x, y, label, **style):
        ax.plot([x], [y], linestyle="none", label=None if label in seen else label, **style)
        seen.add(label)

    for i, r in enumerate(picks):
        c = r["counters"]
        for j, (role, (marker, color)) in enumerate(REST_ROLES.items()):
            if f"idle_pct_{role}" in c:
                point(i + (j - 1.5) * 0.13, c[f"idle_pct_{role}"], f"{role} (mean of its bots)",
                      marker=marker, color=color, markersize=6)
        ax.plot([i - 0.3, i + 0.3], [c["busiest_bot_idle_pct"]] * 2, color="black",
                linewidth=2.2, label=None if i else "busiest bot")
        if "loop_idle_pct" in c:
            point(i, c["loop_idle_pct"], "asyncloop's one thread\n(doing every bot's work)",
                  marker="*", markersize=15, color=REST_COLORS["asyncloop"],
                  markeredgecolor="black", markeredgewidth=0.5)
        if i and r["model"] != picks[i - 1]["model"]:
            ax.axvline(i - 0.5, color="#cccccc", linewidth=0.8)
    # The book's figures, each over the models it speaks of: its ThreadBots, its LoopBot.
    loops = [i for i, r in enumerate(picks) if r["model"].startswith("asyncloop")]
    threads = [i for i in range(len(picks)) if i not in loops]
    for idx, value, style, label in (
            (threads, BOOK_THREADBOT_IDLE_PCT, "--", "the book: busiest ThreadBot"),
            (loops, BOOK_LOOPBOT_IDLE_PCT, ":", "the book: one LoopBot doing 7 bots' work")):
        if idx:
            color = REST_COLORS["asyncloop" if idx is loops else "threads"]
            ax.hlines(value, min(idx) - 0.45, max(idx) + 0.45, color=color, linestyle=style,
                      linewidth=1.6)
            ax.text(min(idx) - 0.42, value, f"{label}\n≈ {value}% idle", fontsize=7,
                    color=color, ha="left", va="bottom")
    values = [v for r in picks for k, v in r["counters"].items()
              if k.startswith("idle_pct_") or k in ("busiest_bot_idle_pct", "loop_idle_pct")]
    low = min(values + [BOOK_LOOPBOT_IDLE_PCT])
    ax.set_ylim(max(0, low - (100 - low) * 0.15), 100 + (100 - low) * 0.05)
    ax.set_xticks(range(len(picks)))
    ax.set_xticklabels([r["model"].replace("-per-", "-per-\n") + f"\n{r['staff']} staff"
                        for r in picks], fontsize=8)
    ax.set(ylabel="idle, % of the run's wall-clock time",
           title="Restaurant: how idle the bots are (safe, no chatty guest)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.subplots_adjust(left=0.07, right=0.76, top=0.92, bottom=0.2)
    stamp(fig, context, command)
    return fig


def restaurant_chatty_figure(plt, picks, context, command):
    """Overhead p50/p99 and timer lateness p99 with and without the chatty guest, as bars."""
    fig, ax = plt.subplots(figsize=(10, 6))
    bars = [("overhead_p50_us", "overhead p50", "#9ecae1", ""),
            ("overhead_p99_us", "overhead p99", "#3182bd", ""),
            ("lateness_p99_us", "timer lateness p99", "#e6550d", "//")]
    width = 0.26
    for j, (key, label, color, hatch) in enumerate(bars):
        for i, r in enumerate(picks):
            v = r["counters"][key]
            ax.bar(i + (j - 1) * width, v, width, color=color, hatch=hatch, edgecolor="#333333",
                   linewidth=0.5, label=label if i == 0 else None)
            ax.text(i + (j - 1) * width, v * 1.1, dur(v), ha="center", va="bottom", fontsize=7,
                    rotation=90)
    ax.set(yscale="log", ylabel="µs (log scale)", xticks=range(len(picks)),
           title="Restaurant: the chatty guest (weekend staff, safe)")
    ax.set_xticklabels([f"{r['model']}\nchatty: {r['chatty']}" for r in picks], fontsize=8)
    ax.set_ylim(bottom=prim_floor([r["counters"][k] for r in picks for k, *_ in bars]),
                top=ax.get_ylim()[1] * 6)
    plain_log_axis(ax.yaxis)
    for i in range(1, len(picks)):
        if picks[i]["model"] != picks[i - 1]["model"]:
            ax.axvline(i - 0.5, color="#cccccc", linewidth=0.8)
    ax.grid(True, axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    fig.subplots_adjust(left=0.09, right=0.97, top=0.92, bottom=0.2)
    stamp(fig, context, command)
    return fig


def thread_limit_check(reason):
    """Blocks comparing a failed thread-per-table point with the limits its reason lists."""
    m = REST_THREAD_FAIL.search(reason)
    if not m:
        return []
    n, limits = int(m.group(1)), {k: int(v) for k, v in REST_LIMIT_VALUE.findall(reason)}
    used = {"pid_max": (n, "threads (a thread takes a pid, system-wide)"),
            "threads-max": (n, "threads (system-wide)"),
            "RLIMIT_NPROC": (n, "threads (per user)"),
            "max_map_count": (2 * n, "memory mappings (a stack and its guard page each)")}
    table, shares = [["limit", "value", "this process had", "share"]], {}
    for key, (count, what) in used.items():
        if limits.get(key):
            shares[key] = count / limits[key]
            table.append([key, f"{limits[key]:,}", f"{count:,} {what}", f"{shares[key]:.1%}"])
    stack, avail = limits.get("default_stack"), limits.get("MemAvailable")
    reserved = n * stack if stack else None
    if reserved and avail:  # shown, not judged: reserved stack is not memory in use
        table.append(["MemAvailable", f"{avail:,} KiB", f"{reserved:,} KiB of stacks reserved "
                      "(virtual; only touched pages are resident)", f"{reserved / avail:.1%}"])
    if not shares:
        return []
    closest = max(shares, key=shares.get)
    near = sorted((k for k in shares if shares[k] >= 0.8), key=shares.get, reverse=True)
    if near:
        verdict = ("The limit it ran into: " + " or ".join(f"**{k}** ({shares[k]:.1%} used)"
                                                         for k in near) + ".")
    else:
        verdict = (f"None of the limits the reason lists was near (the closest, {closest}, was "
                   f"{shares[closest]:.1%} used), so the limit is one it does not list: a cap on "
                   "the process's address space (RLIMIT_AS, which `tvl sweep --max-address-space` "
                   "sets" + (f"; {n:,} threads reserve {reserved / 1024:,.0f} MiB of stack"
                             if reserved else "")
                   + "), a strict commit limit (`vm.overcommit_memory=2`) or a container's task "
                   "limit (cgroup `pids.max`).")
    return [("p", f"Thread creation failed with `{m.group(2) or 'an error'}` after {n:,} threads. "
                  + verdict), ("table", table)]


def restaurant_registry_table(registry):
    """One row per registry configuration, with the counters the lesson discusses."""
    table = [["model", "variant", "staff", "chatty", "meals/s", "latency p50", "latency p99",
              "overhead p50", "overhead p99", "lateness p99", "busiest bot idle",
              "loop idle", "collisions", "OS threads", "vcsw", "ivcsw"]]
    for r in registry:
        c = r["counters"]
        table.append([r["model"], r["variant"], r["staff"], r["chatty"],
                      f"{c['items_per_second']:.1f}", dur(c["p50_us"]), dur(c["p99_us"]),
                      dur(c["overhead_p50_us"]), dur(c["overhead_p99_us"]),
                      dur(c["lateness_p99_us"]), pct(c["busiest_bot_idle_pct"]),
                      pct(c.get("loop_idle_pct")), collisions_text(c),
                      num(c["os_threads"], 0), num(c.get("vcsw"), 0), num(c.get("ivcsw"), 0)])
    return table


def restaurant_sweep_table(sweeps):
    """One row per sweep point, failed points included."""
    table = [["model", "tables", "KiB per table", "overhead p50", "overhead p99",
              "lateness p99", "OS threads", "busiest bot idle", "loop idle", "outcome"]]
    for model, points in sweeps.items():
        for p in points:
            c = p["counters"]
            if p.get("failure"):
                table.append([model, f"{p['tables']:,}"] + ["—"] * 7 + ["did not run (below)"])
                continue
            table.append([model, f"{p['tables']:,}", f"{c['kib_per_table']:.2f}",
                          dur(c["overhead_p50_us"]), dur(c["overhead_p99_us"]),
                          dur(c["lateness_p99_us"]), num(c.get("os_threads"), 0),
                          pct(c.get("busiest_bot_idle_pct")), pct(c.get("loop_idle_pct")), "ran"])
    return table


def find_row(registry, model, variant="safe", staff="weekend", chatty="none"):
    """The registry row of one configuration, or None."""
    match = [r for r in registry if (r["model"], r["variant"], r["staff"], r["chatty"])
             == (model, variant, staff, chatty)]
    return match[0] if match else None


def restaurant_summary(registry, sweeps):
    """Sentences computed from the rows: collisions, idle time, the chatty guest, the sweeps."""
    out = []
    unsafe = [r for r in registry if r["variant"] == "unsafe"]
    if unsafe:
        out.append("**Collisions** (bots handing a table on before they are done): "
                   + "; ".join(f"unsafe {r['model']} ({r['staff']} staff): "
                               f"{collisions_text(r['counters'])}" for r in unsafe) + ".")
    safe = [r for r in registry if r["variant"] == "safe"]
    bad = [r for r in safe if r["counters"]["collisions"] > 0]
    if bad:
        out.append("**Unexpected:** safe configurations with collisions: " + "; ".join(
            f"{r['model']} {r['staff']} chatty:{r['chatty']}: {collisions_text(r['counters'])}"
            for r in bad) + ".")
    elif safe:
        out.append(f"Every safe configuration ({len(safe)} of them) counted 0 collisions.")
    idle = [f"{r['model']} {pct(r['counters']['busiest_bot_idle_pct'])}" for r in registry
            if (r["variant"], r["staff"], r["chatty"]) == ("safe", "book", "none")]
    loop = find_row(registry, "asyncloop")
    if idle:
        out.append("**Idle time** (safe, book staff), the busiest bot's share of the run spent "
                   "idle: " + ", ".join(idle) + f" (the book: its busiest ThreadBot about "
                   f"{BOOK_THREADBOT_IDLE_PCT}%)."
                   + (f" With weekend staff, the asyncloop's one thread doing every bot's work was "
                      f"idle {pct(loop['counters']['loop_idle_pct'])} (the book's LoopBot: about "
                      f"{BOOK_LOOPBOT_IDLE_PCT}%)." if loop and "loop_idle_pct" in loop["counters"]
                      else ""))
    chatty = [(m, ch, find_row(registry, m, chatty=ch)) for m in ("asyncloop", "threads")
              for ch in ("none", "block", "offload")]
    parts = [f"{m} {ch}: overhead p99 {dur(r['counters']['overhead_p99_us'])}, timer lateness p99 "
             f"{dur(r['counters']['lateness_p99_us'])}" for m, ch, r in chatty if r]
    if any(ch != "none" for _, ch, r in chatty if r):
        out.append("**The chatty guest** (weekend staff): " + "; ".join(parts) + ". Timer "
                   "lateness is how late every diner's waits ended: the guest can delay them "
                   "only where it holds the thread that runs the timers.")
    for model, points in sweeps.items():
        ran = [p for p in points if not p.get("failure")]
        failed = [p for p in points if p.get("failure")]
        text = f"**Sweep, {model}:** "
        if ran:
            top = ran[-1]
            text += (f"ran up to {top['tables']:,} concurrent tables "
                     f"({top['counters']['kib_per_table']:.2f} KiB per table, overhead p99 "
                     f"{dur(top['counters']['overhead_p99_us'])}, "
                     f"{num(top['counters'].get('os_threads'), 0)} OS thread"
                     + ("" if top["counters"].get("os_threads") == 1 else "s") + ")")
        text += (("; " if ran else "") + "did not run at "
                 + ", ".join(f"{p['tables']:,} tables: {short_failure(p['failure'])}"
                             for p in failed) if failed else "")
        out.append(text + ".")
    return [("p", s) for s in out]


def render_restaurant(plt, rows, context, command):
    """Restaurant section: idle, chatty, memory and overhead figures, tables and a summary."""
    registry, sweeps = restaurant_rows(rows)
    figures = {}
    blocks = [("p", "Diners arrive at tables on a seeded, open-loop schedule; each meal is a "
                    "script of short bot steps (CPU) and waits (menu, cooking, eating: timers). "
                    "Overhead is a diner's latency (arrival to paid) minus the ideal meal with no "
                    "queueing; timer lateness is how late each wait ended. "
                    "Each configuration's values: "
                    + "; ".join(sorted({r["aggregate"] for r in rows})) + ".")]
    blocks += restaurant_summary(registry, sweeps)
    reg_context = registry[0]["context"] if registry else context
    idle = [r for r in registry if r["variant"] == "safe" and r["chatty"] == "none"]
    if idle:
        figures["restaurant_idle"] = restaurant_idle_figure(plt, idle, reg_context, command)
        blocks.append(("figure", "restaurant_idle",
                       "Idle time per role (the mean of its bots), of the busiest bot, and of the "
                       "asyncloop's one thread (CPU time of the loop thread against wall-clock "
                       "time), beside the book's figures, drawn as lines."))
    chatty = [r for m in ("threads", "asyncloop") for ch in ("none", "block", "offload")
              if (r := find_row(registry, m, chatty=ch))]
    if any(r["chatty"] != "none" for r in chatty):
        figures["restaurant_chatty"] = restaurant_chatty_figure(plt, chatty, reg_context, command)
        blocks.append(("figure", "restaurant_chatty",
                       "The chatty guest holds the GreetBot at the bill. `block`: inside the "
                       "bot's step; `offload`: the asyncloop hands the talk to a thread pool "
                       "(the book's `run_in_executor`)."))
    if registry:
        blocks.append(("table", restaurant_registry_table(registry)))
    if sweeps:
        sweep_context = next(iter(sweeps.values()))[0]["context"]
        figures["restaurant_memory"] = restaurant_memory_figure(plt, sweeps, sweep_context,
                                                                command)
        blocks.append(("figure", "restaurant_memory",
                       "Growth of the peak RSS during a run, divided by its tables, one child "
                       "process per point (`tvl sweep restaurant`). An ✕ marks a point that did "
                       "not run; its reason follows."))
        for p in (p for pts in sweeps.values() for p in pts if p.get("failure")):
            blocks.append(("p", f"**Did not run:** `{rest_name(p)}` — {p['failure']}"))
            blocks += thread_limit_check(p["failure"])
        figures["restaurant_overhead"] = restaurant_overhead_figure(plt, sweeps, sweep_context,
                                                                    command)
        blocks.append(("figure", "restaurant_overhead",
                       "Diner latency over the ideal meal, p50 (solid) and p99 (dashed), against "
                       "concurrent tables."))
        blocks.append(("table", restaurant_sweep_table(sweeps)))
    return blocks, figures


# ---------------------------------------------------------------------------- fan-out

FAN_ORDER = ["threads/naive", "threads/improved", "asyncloop/naive", "asyncloop/improved",
             "redis", "python", "python-uvloop"]
FAN_STYLES = {"threads/naive": dict(color="#8fb5ea", marker="o", linestyle="--"),
              "threads/improved": dict(color="#1f4e9c", marker="o", linestyle="-"),
              "asyncloop/naive": dict(color="#f0a030", marker="D", linestyle="--"),
              "asyncloop/improved": dict(color="#c05a00", marker="D", linestyle="-"),
              "redis": dict(color="#444444", marker="s", linestyle=":"),
              "python": dict(color="#1b7a3a", marker="^", linestyle=":"),
              "python-uvloop": dict(color="#7a2f9c", marker="v", linestyle=":")}
FAN_REFERENCE = "redis"  # the reference broker every ratio is taken against (SPEC §6)
FAN_COMPARED = ("asyncloop/improved", "threads/improved", "python", "python-uvloop")
FAN_NEEDS = ("items_per_second", "published_per_second", "delivered", "lost", "gaps",
             "duplicates_or_reordered", "p50_us", "p99_us", "p999_us", "sent_p50_us",
             "sent_p99_us", "sent_p999_us", "rss_kib")
FAN_PERCENTILES = (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9"))
FAN_CHECK = dict(marker="o", markersize=14, markerfacecolor="none", markeredgecolor="#d62728",
                 markeredgewidth=1.8, linestyle="none", zorder=6)


def fan_name(r):
    """The row's benchmark name."""
    return "/".join(["fanout", r["model"], r["variant"]]
                    + [f"{k}:{v}" for k, v in r["params"].items()])


def fan_key(r):
    """Series of a row: model/design for tvl's brokers, 'model (peer)' for a reference broker."""
    return f"{r['model']} (peer)" if r["variant"] == "peer" else f"{r['model']}/{r['variant']}"


def fan_base(key):
    """A series' key without ' (peer)': what FAN_ORDER and FAN_STYLES know it by."""
    return key.split(" ")[0]


def fan_style(key):
    """A series' colour, marker and line style: improved solid, naive dashed, peers dotted."""
    return dict(FAN_STYLES.get(fan_base(key), dict(color="#888888", marker="x", linestyle="-.")))


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


def fan_latency_tick(v, _=None):
    """A latency tick in µs written plainly: 500 µs, 2 ms, 1.5 s."""
    for scale, unit in ((1e6, "s"), (1e3, "ms"), (1, "µs")):
        if v >= scale or scale == 1:
            return f"{v / scale:g} {unit}"


def fan_rate_tick(v, _=None):
    """A rate tick written plainly: 500 /s, 20 k/s, 1 M/s."""
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")):
        if v >= scale or scale == 1:
            return f"{v / scale:g} {prefix}/s"


def fan_axes(ax, ylabel=None, tick=None):
    """Common dressing of a fan-out chart: plain subscriber counts on x, a tick format on y."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    ax.grid(True, which="major", alpha=0.3)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    if tick:
        ax.yaxis.set_major_formatter(FuncFormatter(tick))
        ax.yaxis.set_minor_formatter(NullFormatter())
    if ylabel:
        ax.set_ylabel(ylabel)


def decade_limits(ax, values):
    """Widen a log y axis to whole decades around the values, so every decade is labelled."""
    import math
    values = [v for v in values if v and v > 0]
    if values:
        lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
        ax.set_ylim(10 ** lo, 10 ** max(hi, lo + 1))


def sweep_values(sweeps, key):
    """Every value of one counter in a group of sweeps (points that ran)."""
    return [p["counters"][key] for pts in sweeps.values() for p in pts
            if not p.get("failure") and key in p["counters"]]


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


def fan_legend(fig, ax, right, top):
    """One legend for the figure, beside the plots (their right and top edges), from one axes'
    lines."""
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))  # one entry per label
    fig.legend(list(seen.values()), list(seen.keys()), fontsize=7.5, loc="upper left",
               bbox_to_anchor=(right + 0.01, top), frameon=False)


def fan_rate(c):
    """The publishers' target rate of a point (messages per second, all publishers)."""
    return c.get("rate", c["published_per_second"])


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
        label = (f"offered: {fan_rate_tick(curve[0][1])} deliveries" if len(totals) == 1
                 else f"offered: {fan_rate_tick(curve[0][2])} × subscribers" if len(rates) == 1
                 else "offered: rate × subscribers")
        out.append(([(n, d) for n, d, _ in curve], label))
    return out


def fanout_throughput_figure(plt, normal, context, command):
    """Deliveries per second against subscribers, with the offered load as a reference."""
    fig, ax = plt.subplots(figsize=(10.5, 6.2))
    offered = fan_offered(normal)
    for curve, label in offered:  # what an ideal broker delivers: every message to everyone
        if len(curve) == 1:
            ax.plot([curve[0][0]], [curve[0][1]], marker="_", markersize=30, color="#bbbbbb",
                    markeredgewidth=5, linestyle="none", zorder=1, label=label)
        else:
            ax.plot([n for n, _ in curve], [d for _, d in curve], color="#bbbbbb", linewidth=5,
                    alpha=0.6, zorder=1, solid_capstyle="round", label=label)
    draw_sweep(ax, normal, [("items_per_second", None, "")], x="subscribers",
               unit="subscribers", style=fan_style, mark="did not run")
    ring_checks(ax, normal, "items_per_second")
    ax.set(yscale="log", xlabel="subscribers (log scale)",
           title="Fan-out: messages delivered per second, all subscribers together")
    decade_limits(ax, sweep_values(normal, "items_per_second")
                  + [d for curve, _ in offered for _, d in curve])
    fan_axes(ax, "deliveries per second (log scale)", fan_rate_tick)
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
            fan_axes(ax, f"latency {what}\n(log scale)" if j == 0 else None, fan_latency_tick)
            ax.set_title(f"{name}, {what.split(chr(10))[0]}", fontsize=9)
            if i == 1:
                ax.set_xlabel("subscribers (log scale)")
    decade_limits(axes[0][0], [v for pre in ("", "sent_") for key, _ in FAN_PERCENTILES
                               for v in sweep_values(normal, pre + key)])
    fig.suptitle("Fan-out: delivery latency against subscribers — top: from when each message "
                 "was due (open loop); bottom: from when it was really sent", fontsize=11)
    fan_legend(fig, axes[0][0], 0.77, 0.9)
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
    fan_axes(left, "KiB per connection (log scale)", lambda v, _: f"{v:,.0f}" if v >= 1
             else f"{v:g}")
    slopes = {k: [p for p in pts if p.get("failure") or "kib_per_added_connection"
                  in p["counters"]] for k, pts in normal.items()}
    slopes = {k: v for k, v in slopes.items() if v}
    if slopes:
        draw_sweep(right, slopes, [("kib_per_added_connection", None, "")], x="subscribers",
                   unit="subscribers", style=fan_style, mark="did not run")
        ring_checks(right, slopes, "kib_per_added_connection", label=False)
        right.axhline(0, color="#888888", linewidth=0.8)
        right.set_ylim(min(0, *sweep_values(slopes, "kib_per_added_connection")) * 1.15,
                       max(1, *sweep_values(slopes, "kib_per_added_connection")) * 1.15)
        every = [p["subscribers"] for pts in normal.values() for p in pts]
        right.set_xlim(min(every) / 1.5, max(every) * 1.5)
    else:
        right.text(0.5, 0.5, "one point per broker: no slope to draw", ha="center",
                   transform=right.transAxes, color="#555555")
    right.set(xlabel="subscribers (log scale)")
    right.set_title("slope: RSS growth ÷ connections added\nsince the previous point (drawn at "
                    "the later one)", fontsize=10)
    fan_axes(right, "KiB per added connection (linear)")
    fig.suptitle("Fan-out: broker memory per connection (RSS read from /proc/<pid> "
                 "after the load)", fontsize=11)
    fan_legend(fig, left, 0.76, 0.84)
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
              ("p99_us", "p99 latency of the others (from intended send)", fan_latency_tick,
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
                        fontsize=7, color="#777777", transform=ax.get_xaxis_transform())
            for off, q, label, hatch in bars:
                if q.get("failure"):
                    ax.text(i + off, 0.05, "✕", transform=ax.get_xaxis_transform(),
                            ha="center", color="#d62728", fontsize=14)
                    continue
                v = q["counters"][key]
                values.append(v)
                ax.bar(i + off, v, width, color=color if not hatch else "white",
                       edgecolor="#d62728" if q.get("check") else color, hatch=hatch,
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
                ax.set_ylim(bottom=prim_floor(values), top=max(values) * 30)
        fan_axes(ax, tick=tick)
        ax.grid(False, axis="x")
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax = axes[2]
    counts = (("broker_dropped", "messages dropped (policy drop)", "#fdae6b"),
              ("broker_slow_disconnects", "slow subscribers disconnected", "#e6550d"),
              ("lost", "deliveries lost to the others", "#756bb1"))
    w, top, labelled = 0.26, 1, set()
    for i, p in enumerate(points):
        for j, (key, label, color) in enumerate(counts):
            if p.get("failure"):
                continue
            v = p["counters"].get(key)
            x = i + (j - 1) * w
            if v is None:  # a peer that does not report it
                ax.text(x, 0.6, "n/a", ha="center", fontsize=7, color="#555555")
                continue
            top = max(top, v)
            ax.bar(x, v, w, color=color, edgecolor="#333333", linewidth=0.5,
                   label=None if label in labelled else label)
            labelled.add(label)
            ax.text(x, max(v, 0.6) * 1.15, f"{v:,.0f}", ha="center", va="bottom", fontsize=7,
                    rotation=90)
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(0, top * 60)
    ax.set(title="what happened to the messages", xticks=range(len(points)))
    fan_axes(ax, tick=lambda v, _: f"{v:,.0f}")
    ax.grid(False, axis="x")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    for ax in axes:
        ax.set_xticklabels([fan_slow_label(p) for p in points], fontsize=7.5)
        for label, p in zip(ax.get_xticklabels(), points):
            if p.get("check") or p.get("failure"):
                label.set_color("#d62728")
        ax.set_xlim(-0.6, len(points) - 0.4)
    fig.suptitle("Fan-out: one subscriber that never reads — naive against improved", fontsize=11)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.88, bottom=0.26, wspace=0.22)
    sweep_stamp(fig, slow, context, command)
    return fig


def ratio(a, b):
    """a / b written as '0.98×', or a dash when it is not defined."""
    return "—" if a is None or b is None or b <= 0 or a != a else f"{a / b:.2f}×"


def cpu_per_million(c):
    """Broker CPU seconds per million deliveries, or None without broker_cpu_s."""
    if c.get("broker_cpu_s") is None or not c.get("delivered"):
        return None
    return c["broker_cpu_s"] / c["delivered"] * 1e6


def fanout_ratios(normal):
    """Ratios to the reference broker at every subscriber count that both reached:
    (table, sentences)."""
    ref_key = f"{FAN_REFERENCE} (peer)"
    ref = {p["subscribers"]: p for p in normal.get(ref_key, []) if not p.get("failure")}
    keys = [k for k in normal if fan_base(k) in FAN_COMPARED]
    keys.sort(key=lambda k: FAN_COMPARED.index(fan_base(k)))
    table = [["subscribers", "broker", "delivered/s", "× redis", "p99 from intended send",
              "× redis", "p99 from actual send", "× redis", "broker CPU s per M deliveries",
              "× redis", "check"]]
    sentences = []
    for n in sorted(ref):
        r = ref[n]["counters"]
        rc = cpu_per_million(r)
        mine = [(k, p) for k in keys for p in normal[k]
                if p["subscribers"] == n and not p.get("failure")]
        if not mine:
            continue
        table.append([f"{n:,}", "redis-server (reference)", si(r["items_per_second"]), "1",
                      dur(r["p99_us"]), "1", dur(r["sent_p99_us"]), "1",
                      "—" if rc is None else f"{rc:.2f}", "1",
                      f"CHECK FAILED: {ref[n]['check']}" if ref[n].get("check") else "ok"])
        parts = []
        for k, p in mine:
            c = p["counters"]
            mc = cpu_per_million(c)
            table.append([f"{n:,}", k, si(c["items_per_second"]),
                          ratio(c["items_per_second"], r["items_per_second"]),
                          dur(c["p99_us"]), ratio(c["p99_us"], r["p99_us"]),
                          dur(c["sent_p99_us"]), ratio(c["sent_p99_us"], r["sent_p99_us"]),
                          "—" if mc is None else f"{mc:.2f}", ratio(mc, rc),
                          f"CHECK FAILED: {p['check']}" if p.get("check") else "ok"])
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
            f"**Against redis-server at {n:,} subscribers** ({fan_rate_tick(offered)} offered, "
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
    """Every point, failed ones included, in series order."""
    table = [["model", "design", "subscribers", "slow", "published/s", "delivered/s", "lost",
              "gaps", "dup/reordered", "p50 / p99 / p99.9 from intended send",
              "p50 / p99 / p99.9 from actual send", "broker RSS", "KiB per connection",
              "broker CPU s", "vcsw", "ivcsw", "check"]]
    lat = lambda c, pre: " / ".join(dur(c[pre + k]) for k, _ in FAN_PERCENTILES)
    for group in (normal, slow):
        for points in group.values():
            for p in points:
                head = [p["model"], p["variant"], f"{p['subscribers']:,}", str(p["slow"])]
                if p.get("failure"):
                    table.append(head + ["—"] * 12 + [f"did not run: {p['failure']}"])
                    continue
                c = p["counters"]
                table.append(head + [
                    si(c["published_per_second"]), si(c["items_per_second"]), num(c["lost"], 0),
                    num(c["gaps"], 0), num(c["duplicates_or_reordered"], 0), lat(c, ""),
                    lat(c, "sent_"), f"{c['rss_kib'] / 1024:.1f} MiB",
                    f"{c['kib_per_connection']:.1f}", num(c.get("broker_cpu_s"), 2),
                    num(c.get("vcsw"), 0), num(c.get("ivcsw"), 0),
                    f"CHECK FAILED: {p['check']}" if p.get("check") else "ok"])
    return table


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
    return blocks, figures


# ---------------------------------------------------------------------------- fan-out capacity

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
    return f"{r['model']}/{r['variant']}"


def cap_label(key):
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
    fan_axes(ax, "sustained deliveries/s (capacity)", fan_rate_tick)
    ax.set_xticks(sorted({p["subscribers"] for pts in single.values() for p in pts}))
    ax.set_xlabel("subscribers")
    ax.set_title("Fan-out capacity: the most a broker carries with p99 within the SLO and "
                 "nothing lost", fontsize=9.5)
    fan_legend(fig, ax, 0.72, 0.9)
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
    fan_legend(fig, ax, 0.72, 0.88)
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


def render_capacity(plt, rows, context, command):
    """Fan-out capacity section: the capacity figure, overload goodput, table and findings."""
    single, other = capacity_rows(rows)
    first = rows[0]["context"]
    blocks = [("p", "Capacity is the highest offered load, in deliveries per second, that a "
                    "broker sustains for a whole probe with nothing lost or dropped, at least 99% "
                    "of the offered deliveries arrived, and p99 latency from the *intended* send "
                    "within the SLO (`tvl capacity`: ramp ×2 until a probe fails, then bisect to "
                    "within 5%). Each probe starts a fresh broker; "
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
    failed = [("p", f"**Did not run:** `{r['model']}/{r['variant']}` "
                    + " ".join(f"{k}:{v}" for k, v in r["params"].items()) + f" — {r['failure']}")
              for r in rows if r.get("failure")]
    return [("table", table)] + failed, {}


SECTIONS = {"cutlery": render_cutlery, "primitives": render_primitives,
            "restaurant": render_restaurant, "fanout": render_fanout,
            "fanout_capacity": render_capacity}
TITLES = {"cutlery": "Cutlery (book ch. 2, Robots and Cutlery)",
          "primitives": "Primitives (the costs under every scenario)",
          "restaurant": "Restaurant (book ch. 1, The Restaurant of ThreadBots)",
          "fanout": "Fan-out (book ch. 4, Streams: a message queue)",
          "fanout_capacity": "Fan-out capacity (book ch. 4): the most each broker carries"}

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
