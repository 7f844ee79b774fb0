"""`tvl compare A B`: two runs side by side — two machines of a class, or two commits.

A and B are result folders (every *.json in them that is Google Benchmark output, i.e. has
"context" and "benchmarks") or single such files. Benchmarks are joined by name (run_name);
for each metric both have, the table gives A's and B's median over the repetitions, the ratio
B/A and a significance mark from a two-sided Mann–Whitney U test over the per-repetition
values (tvlplots.utest), as Google Benchmark's tools/compare.py does: significant when
p < alpha (0.05), no test below 2 repetitions a side, a warning below 9.

Usage (through `tvl compare`, or directly with an interpreter that has matplotlib):
    /usr/bin/python3 plots/tvl_compare.py A B [--out F.md] [--figure F.png] [--alpha 0.05]
Bad input (a missing path, a JSON that is not Google Benchmark's, no names in common) prints
one 'tvl compare: error:' line on stderr and exits 2.
"""
import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .files import save_figure, stop_on_sigterm, write_text
from . import palette
from .fmt import ctx
from .load import AGG_SUFFIX, GB_KEYS, SKIP_FIELDS, one_line
from .utest import mann_whitney, smallest_p

MIN_REPETITIONS = 2      # compare.py's UTEST_MIN_REPETITIONS: below it, no test at all
OPTIMAL_REPETITIONS = 9  # compare.py's UTEST_OPTIMAL_REPETITIONS: below it, a warning
DEFAULT_METRICS = ("real_time", "cpu_time", "items_per_second")
TIME_FIELDS = ("real_time", "cpu_time")  # in the row's time_unit
NS_PER_UNIT = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
SIGNIFICANT = "✱"
RATIO_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.8, 0.9, 1, 1.1, 1.25, 2, 5, 10, 20, 50, 100)


class CompareError(Exception):
    """Bad input: one line on stderr, exit status 2."""


@dataclass
class Run:
    """One benchmark of one side: each metric's value per repetition."""
    values: dict          # metric -> [value per repetition]
    time_unit: str
    source: str           # the file(s) it came from
    aggregates_only: bool = False  # only aggregate rows (--benchmark_report_aggregates_only)


@dataclass
class Side:
    label: str            # "A" or "B"
    path: Path
    files: list = field(default_factory=list)
    context: dict = field(default_factory=dict)  # the first file's
    runs: dict = field(default_factory=dict)     # run_name -> Run
    failed: list = field(default_factory=list)   # names of rows that reported an error


def is_google_benchmark(doc):
    return isinstance(doc, dict) and isinstance(doc.get("context"), dict) \
        and isinstance(doc.get("benchmarks"), list)


def read_doc(path, label):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise CompareError(f"{label}: cannot read {path}: {one_line(err)}") from None
    except json.JSONDecodeError as err:
        raise CompareError(f"{label}: {path} is not JSON: {err}") from None


def numbers(row):
    """A row's measurements: numeric fields other than Google Benchmark's bookkeeping."""
    return {k: float(v) for k, v in row.items() if isinstance(v, (int, float))
            and not isinstance(v, bool) and k not in SKIP_FIELDS}


def runs_of(doc, source, side):
    """Group a document's rows by run name into Runs; rows that failed are only named."""
    groups = {}
    for row in doc["benchmarks"]:
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise CompareError(f"{side.label}: {source}: a benchmark entry has no 'name'")
        if row.get("error_occurred") or row.get("sweep_failed"):
            side.failed.append(row["name"])
            continue
        run_name = row.get("run_name") or AGG_SUFFIX.sub("", row["name"])
        groups.setdefault(run_name, []).append(row)
    for run_name, rows in groups.items():
        iterations = [r for r in rows if r.get("run_type", "iteration") == "iteration"]
        median = [r for r in rows if r.get("aggregate_name") == "median"]
        chosen = iterations or median  # aggregates count only when they are all there is
        if not chosen:
            continue
        metrics = set.intersection(*(set(numbers(r)) for r in chosen))
        run = Run({m: [numbers(r)[m] for r in chosen] for m in sorted(metrics)},
                  chosen[0].get("time_unit", "ns"), source, aggregates_only=not iterations)
        side.runs[run_name] = pool(side, run_name, side.runs.get(run_name), run)


def pool(side, run_name, old, new):
    """The same benchmark in two files of one side: two runs of it, whose repetitions together
    are the sample (three runs of 3 repetitions test like one of 9). Medians of aggregates
    cannot be pooled: the later file's replaces the earlier's, with a warning."""
    if old is None:
        return new
    if old.aggregates_only or new.aggregates_only:
        print(f"tvl compare: warning: {side.label}: {run_name} in {old.source} and {new.source}, "
              f"one without its repetitions; using {new.source}", file=sys.stderr)
        return new
    values = {m: old.values[m] + in_unit(new.values[m], m, new, old.time_unit)
              for m in old.values if m in new.values}
    return Run(values, old.time_unit, f"{old.source} + {new.source}")


def load_side(path, label):
    """Read A or B: a Google Benchmark JSON file, or every such *.json in a folder."""
    side = Side(label, path)
    if path.is_dir():
        candidates = sorted(path.glob("*.json"))
        docs = [(p, d) for p in candidates for d in [read_doc(p, label)] if is_google_benchmark(d)]
        if not docs:
            raise CompareError(f"{label}: no Google Benchmark JSON (a *.json with 'context' and "
                               f"'benchmarks') in {path}")
    elif path.is_file():
        doc = read_doc(path, label)
        if not is_google_benchmark(doc):
            raise CompareError(f"{label}: {path} is not Google Benchmark output "
                               "(no 'context' and 'benchmarks')")
        docs = [(path, doc)]
    else:
        raise CompareError(f"{label}: {path} does not exist")
    side.context = docs[0][1]["context"]
    for p, doc in docs:
        side.files.append(p.name)
        try:
            runs_of(doc, p.name, side)
        except (TypeError, ValueError, AttributeError, KeyError) as err:
            raise CompareError(f"{label}: {p}: not in the shape Google Benchmark writes "
                               f"({type(err).__name__}: {one_line(err)})") from None
    if not side.runs:
        raise CompareError(f"{label}: no benchmark results in {path}"
                           + (f" ({len(side.failed)} reported an error)" if side.failed else ""))
    return side


@dataclass
class Row:
    """One benchmark and metric: both sides' values and what the U test says."""
    name: str
    metric: str
    unit: str
    a: list
    b: list
    p: float = None       # None: no test (too few repetitions, or aggregates only)
    mark: str = ""        # SIGNIFICANT, "" (not significant) or "?" (cannot tell)
    note: str = ""

    @property
    def ratio(self):
        med_a, med_b = statistics.median(self.a), statistics.median(self.b)
        return med_b / med_a if med_a else None


def unit_of(metric, run):
    return run.time_unit if metric in TIME_FIELDS else ""


def in_unit(values, metric, run, unit):
    """Time values of `run` converted to `unit` (the two sides may use different ones)."""
    if metric not in TIME_FIELDS or run.time_unit == unit:
        return values
    scale = NS_PER_UNIT.get(run.time_unit, 1.0) / NS_PER_UNIT.get(unit, 1.0)
    return [v * scale for v in values]


def direction(metric, higher):
    """B's difference in words: slower/faster where the metric is a time or a rate."""
    if metric in TIME_FIELDS or metric.endswith(("_us", "_ns", "_ms")) \
            or metric.startswith(("ns_per_", "us_per_", "ms_per_")):
        return "B slower" if higher else "B faster"
    if metric.endswith("_per_second"):
        return "B faster" if higher else "B slower"
    return "B higher" if higher else "B lower"


def judge(row, alpha, aggregates_only):
    """Set the row's p-value, mark and note from its repetitions."""
    n_a, n_b = len(row.a), len(row.b)
    if aggregates_only:
        row.mark, row.note = "?", "aggregates only: no repetitions to test"
        return
    if min(n_a, n_b) < MIN_REPETITIONS:
        row.mark, row.note = "?", f"{n_a} vs {n_b} repetitions: too few to tell"
        return
    row.p = mann_whitney(row.b, row.a).p
    if row.p < alpha:
        higher = statistics.median(row.b) > statistics.median(row.a)
        row.mark, row.note = SIGNIFICANT, direction(row.metric, higher)
    elif smallest_p(n_a, n_b) >= alpha:  # no outcome of this many repetitions could pass
        row.mark = "?"
        row.note = (f"too few repetitions to tell: p cannot go below "
                    f"{smallest_p(n_a, n_b):.3g} with {n_a} vs {n_b}")
        return
    else:
        row.note = "no difference shown"
    if min(n_a, n_b) < OPTIMAL_REPETITIONS:
        row.note += f"; unreliable, {OPTIMAL_REPETITIONS}+ repetitions recommended"


def compare(side_a, side_b, metrics, alpha):
    """Rows for every benchmark in both sides and every chosen metric both have."""
    common = [name for name in side_a.runs if name in side_b.runs]
    if not common:
        raise CompareError(f"no benchmark names in common between A ({side_a.path}: "
                           f"{len(side_a.runs)}) and B ({side_b.path}: {len(side_b.runs)})")
    rows = []
    for name in common:
        run_a, run_b = side_a.runs[name], side_b.runs[name]
        both = [m for m in run_a.values if m in run_b.values]
        for metric in (both if metrics == "all" else [m for m in metrics if m in both]):
            unit = unit_of(metric, run_a)
            row = Row(name, metric, unit, run_a.values[metric],
                      in_unit(run_b.values[metric], metric, run_b, unit))
            judge(row, alpha, run_a.aggregates_only or run_b.aggregates_only)
            rows.append(row)
    if not rows:
        raise CompareError(f"the {len(common)} benchmark(s) in both have none of the metrics "
                           + ("(no metric in common)" if metrics == "all" else ", ".join(metrics)))
    return rows, common


def value(v):
    """A median: whole with thousands separators from 1,000 up, else four significant digits."""
    return "—" if v is None else f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def p_text(p):
    return "—" if p is None else f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def describe(side):
    c = side.context
    files = ", ".join(side.files[:6]) + (f" and {len(side.files) - 6} more"
                                         if len(side.files) > 6 else "")
    return (f"- **{side.label}**: `{side.path}` — {files}; rev {ctx(c, 'git_revision')}, "
            f"{ctx(c, 'cpu_model')}, {ctx(c, 'cores')} cores, {ctx(c, 'date')}")


def markdown(side_a, side_b, rows, common, alpha, figure):
    only_a = [n for n in side_a.runs if n not in side_b.runs]
    only_b = [n for n in side_b.runs if n not in side_a.runs]
    significant = sum(r.mark == SIGNIFICANT for r in rows)
    untestable = sum(r.mark == "?" for r in rows)
    lines = ["# tvl compare: B against A", "", describe(side_a), describe(side_b),
             f"- Joined by benchmark name: {len(common)} in both, {len(only_a)} only in A, "
             f"{len(only_b)} only in B. A benchmark in several files of one side (several runs) "
             "has their repetitions pooled.",
             f"- Significance: a two-sided Mann–Whitney U test over each side's repetitions, "
             f"alpha = {alpha:g}, as Google Benchmark's tools/compare.py; {SIGNIFICANT} marks a "
             f"significant difference, ? a comparison that cannot tell (fewer than "
             f"{MIN_REPETITIONS} repetitions a side, or too few for p to get below alpha); "
             f"{OPTIMAL_REPETITIONS}+ repetitions a side are recommended.",
             f"- **{significant} of {len(rows)}** comparisons significant; {untestable} "
             "cannot tell.", ""]
    if figure:
        lines += [f"![B/A per benchmark]({figure})", ""]
    lines += ["| benchmark | metric | A (median) | B (median) | B/A | p | repetitions | "
              "significant | note |",
              "|---|---|---:|---:|---:|---:|---:|:---:|---|"]
    for r in rows:
        metric = f"{r.metric} ({r.unit})" if r.unit else r.metric
        ratio = "—" if r.ratio is None else f"{r.ratio:.3f}"
        lines.append(f"| {r.name} | {metric} | {value(statistics.median(r.a))} | "
                     f"{value(statistics.median(r.b))} | {ratio} | {p_text(r.p)} | "
                     f"{len(r.a)} vs {len(r.b)} | {r.mark or 'no'} | {r.note} |")
    for label, names in (("Only in A", only_a), ("Only in B", only_b),
                         ("Reported an error in A", side_a.failed),
                         ("Reported an error in B", side_b.failed)):
        if names:
            lines += ["", f"{label}: " + ", ".join(f"`{n}`" for n in names)]
    return "\n".join(lines) + "\n"


def stamp_line(side):
    c = side.context
    return (f"{side.label}: {ctx(c, 'cpu_model')} · {ctx(c, 'cores')} cores · "
            f"rev {ctx(c, 'git_revision')} · {ctx(c, 'date')}")


def ratio_ticks(lo, hi, most=9):
    """Ticks from RATIO_TICKS between lo and hi, outward from 1, at least 1/most of the axis's
    log width apart so that their labels do not overlap."""
    gap = math.log(hi / lo) / most
    kept = [1]
    for side in ([t for t in RATIO_TICKS if 1 < t <= hi],
                 [t for t in reversed(RATIO_TICKS) if lo <= t < 1]):
        last = 1
        for t in side:
            if abs(math.log(t / last)) >= gap:
                kept.append(t)
                last = t
    return sorted(kept)


def short_name(name):
    """A run name without Google Benchmark's own segments (iterations:1, real_time), which
    every row of a figure shares; the table keeps the full name."""
    parts = name.split("/")
    return "/".join(parts[:3] + [p for p in parts[3:] if p.partition(":")[0] not in GB_KEYS])


def draw(rows, metric, alpha, side_a, side_b, command, path):
    """B/A of one metric per benchmark on a log axis, significant ones marked."""
    try:
        import matplotlib
    except ImportError:
        raise CompareError(f"--figure needs matplotlib, which does not import under "
                           f"{sys.executable}; use /usr/bin/python3 (python3-matplotlib)") from None
    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "tvl"})
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
    shown = [r for r in rows if r.metric == metric and r.ratio]
    fig, ax = plt.subplots(figsize=(9, 2.2 + 0.24 * len(shown)))
    styles = {SIGNIFICANT: dict(color=palette.SIGNAL, marker="o", label=f"{SIGNIFICANT} significant"),
              "": dict(color=palette.SOFT, marker="o", mfc="white", label="not significant"),
              "?": dict(color=palette.FAINT, marker="s", mfc="white", label="cannot tell")}
    for y, r in enumerate(shown):
        style = dict(styles[r.mark])
        ax.plot([1, r.ratio], [y, y], color=style["color"], lw=1.5)
        ax.plot([r.ratio], [y], ls="none", ms=6, **style)
        styles[r.mark].pop("label", None)  # one legend entry per kind
        if r.mark == SIGNIFICANT:
            ax.annotate(f" {SIGNIFICANT} p={p_text(r.p)}", (r.ratio, y), fontsize=7,
                        va="center", ha="left" if r.ratio >= 1 else "right",
                        xytext=(5 if r.ratio >= 1 else -5, 0), textcoords="offset points")
    ax.axvline(1, color="black", lw=0.8)
    ax.set_xscale("log")
    lo, hi = min(min(r.ratio for r in shown), 0.9), max(max(r.ratio for r in shown), 1.1)
    pad = (hi / lo) ** 0.25  # room for the p-values
    ax.set_xlim(lo / pad, hi * pad)
    ax.xaxis.set_major_locator(FixedLocator(ratio_ticks(lo / pad, hi * pad)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(range(len(shown)), [short_name(r.name) for r in shown], fontsize=7)
    ax.set_ylim(len(shown) - 0.5, -0.5)
    unit = f" ({shown[0].unit})" if shown[0].unit else ""
    ax.set_xlabel(f"B/A of the median {metric}{unit}: {direction(metric, True)} to the right")
    ax.set_title(f"B against A: {metric}, two-sided U test, alpha {alpha:g}", fontsize=10,
                 loc="left")
    ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1, 1), ncol=3, frameon=False)
    fig.text(0.01, 0.005, f"{stamp_line(side_a)}\n{stamp_line(side_b)}\ncommand: {command}",
             fontsize=6.5, color=palette.MUTED, ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.45 / fig.get_figheight(), 1, 1))
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def figure_metric(rows, metrics):
    wanted = list(DEFAULT_METRICS) if metrics == "all" else metrics
    present = {r.metric for r in rows if r.ratio}
    return next((m for m in wanted if m in present), next(iter(sorted(present)), None))


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="tvl compare", description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path, help="results folder or JSON file of run A")
    parser.add_argument("b", type=Path, help="results folder or JSON file of run B")
    parser.add_argument("--out", type=Path, help="write the Markdown table here, not to stdout")
    parser.add_argument("--figure", type=Path, help="draw B/A per benchmark (.png, .svg, .pdf)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level")
    parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS),
                        help="comma-separated metrics, or 'all' (default: %(default)s)")
    return parser.parse_args(argv)


def run(args, command):
    if not 0 < args.alpha < 1:
        raise CompareError(f"--alpha {args.alpha:g} is not between 0 and 1")
    if args.figure and args.figure.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise CompareError(f"--figure {args.figure}: name a .png, .svg or .pdf file")
    metrics = "all" if args.metrics == "all" else [m for m in args.metrics.split(",") if m]
    if not metrics:
        raise CompareError("--metrics names no metric")
    side_a, side_b = load_side(args.a, "A"), load_side(args.b, "B")
    rows, common = compare(side_a, side_b, metrics, args.alpha)
    figure = None
    if args.figure:
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        draw(rows, figure_metric(rows, metrics), args.alpha, side_a, side_b, command,
             args.figure)
        base = args.out.parent if args.out else Path.cwd()
        try:  # as the Markdown file will find it
            figure = args.figure.resolve().relative_to(base.resolve())
        except ValueError:
            figure = args.figure.resolve()
    text = markdown(side_a, side_b, rows, common, args.alpha, figure)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_text(args.out, text)
    else:
        sys.stdout.write(text)


def main(argv=None):
    """Command-line entry point; bad input exits 2 with one 'tvl compare: error:' line."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    stop_on_sigterm()
    try:
        run(args, "tvl compare " + " ".join(argv))
    except CompareError as err:
        print(f"tvl compare: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # an output that cannot be written
        print(f"tvl compare: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tvl compare: interrupted: nothing was written", file=sys.stderr)
        return 130
    return 0
