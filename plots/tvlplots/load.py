"""Loading: Google Benchmark JSON files into one row per benchmark.

Every *.json in the results folder is read; each benchmark keeps one row (its median aggregate,
or its only run), its parameters parsed from the name, its numeric counters, and what the
harness said about it in structured fields: a sweep point that did not run (`sweep_failed`,
with `failure_kind` and `failure_detail` when tvl knew which limit stopped it), a point whose
checks failed (`check_failed`), and the few text labels a section reads. Nothing here parses
error text.
"""
import json
import re
import statistics
import sys

GB_KEYS = {"iterations", "repeats", "min_time", "min_warmup_time", "real_time",
           "manual_time", "process_time", "threads"}
# Structured text a section reads (never error text): what limited a capacity search, where its
# SLO and saturation rate came from, which clock stamped the receipts, which kind of task a
# ceiling row holds and the name of the limit that stopped it.
TEXT_FIELDS = {"limit", "overload_verdict", "lowest_verdict", "slo_source", "saturation_source",
               "receive_clock", "limit_detail", "kind", "limit_name"}
LOG_FIELDS = {"probe_log"}  # structured lists: one object per probe of a capacity search
AGG_SUFFIX = re.compile(r"_(mean|median|stddev|cv)$")
SKIP_FIELDS = {"family_index", "per_family_instance_index", "repetitions", "repetition_index",
               "threads", "iterations"}  # GB bookkeeping, not measurements


class PlotError(Exception):
    """A problem with the input that must stop the run with one clear line."""


def parse_name(name):
    """Split 'scenario/model/variant/k:v/...' into its parts, dropping GB's own segments.

    tvl builds every such name with one function, benchmark_name in scenarios/naming.hpp.
    """
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
    if not isinstance(doc.get("context", {}), dict):
        raise PlotError(f"{path}: malformed JSON: 'context' is not an object "
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


# The numbers each kind of failure must carry in failure_detail: a row that names a kind but
# lacks them is malformed (the C++ side and this package disagree), not a generic failure.
FAILURE_NEEDS = {"thread_limit": ("threads",), "fd_limit": ("needed", "hard_limit")}


def failure_fields(run_name, entry):
    """A failed point's (failure_kind, failure_detail); kind None when tvl named no limit."""
    kind, detail = entry.get("failure_kind"), entry.get("failure_detail") or {}
    if kind is None:
        return None, {}
    if not isinstance(kind, str) or not isinstance(detail, dict):
        raise PlotError(f"{run_name}: failure_kind must be text and failure_detail an object")
    missing = [k for k in FAILURE_NEEDS.get(kind, ()) if not is_count(detail.get(k))]
    if missing:
        raise PlotError(f"{run_name}: failure_kind {kind} without a number in failure_detail."
                        + ", failure_detail.".join(missing))
    return kind, detail


def is_count(value):
    """Whether a JSON value is a whole number (JSON's true and false are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


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
        try:
            read_rows(path, doc, rows, contexts, failed)
        except PlotError as err:
            raise PlotError(f"{path}: {err}") from None
        except (TypeError, ValueError, AttributeError, KeyError) as err:
            raise PlotError(f"{path}: {not_our_shape(err)}") from None
    if failed:
        raise PlotError(f"{len(failed)} benchmark(s) reported an error: " + "; ".join(failed))
    if not rows:
        raise PlotError(f"no benchmarks in {', '.join(p.name for p in files)}")
    return list(rows.values()), contexts


def not_our_shape(err):
    """One line for data that parsed but is not what tvl or Google Benchmark writes."""
    return (f"not in the shape tvl and Google Benchmark write ({type(err).__name__}: "
            f"{one_line(err)})")


def read_rows(path, doc, rows, contexts, failed):
    """Add one file's rows to rows (by run name), its context and its failed benchmarks."""
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
        kind, detail = failure_fields(run_name, entry) if failure else (None, {})
        # A point that ran but whose checks failed keeps its numbers and its reason.
        check = one_line(entry["check_failed"]) if entry.get("check_failed") else None
        labels = {k: one_line(v) for k, v in entry.items()
                  if k in TEXT_FIELDS and isinstance(v, str)}
        logs = {k: log_entries(run_name, k, entry[k]) for k in LOG_FIELDS if k in entry}
        rows[run_name] = dict(scenario=scenario, model=model, variant=variant, params=params,
                              counters=counters, aggregate=how, source=path.name,
                              failure=failure, failure_kind=kind, failure_detail=detail,
                              check=check, context=contexts[path.name], labels=labels, **logs)


def log_entries(run_name, field, value):
    """A structured list (a capacity search's probe_log): a list of objects, kept as they are."""
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise PlotError(f"{run_name}: {field} must be a list of objects")
    return value
