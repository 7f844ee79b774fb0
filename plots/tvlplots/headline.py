"""Headline findings: the report's first section, a few sentences computed from the rows.

Each finding compares the two models on one question — what a switch costs, what a waiting task
keeps in memory, how often racy code lost updates, what a connection costs a broker and how much
a broker carries — and links to the section that shows it in full. Every number in a finding is
a Num: its text, its value and the JSON rows and fields it was computed from, so the report can
print where it came from (a "from:" note in Markdown, a title attribute in HTML). A finding
whose rows are not in the results is left out, never estimated.

A finding is a dict: segments (text and Num, in reading order), anchor and section (the section
it links to), sources (every (file, row, field) it read).
"""
from .capacity_terms import (RATIO_BROKERS, broker_ratio, lowest_tried, positive,
                             ratio_number, ratio_value)
from .crossover_terms import TIE, Grid, b_text, c_text, label, outcome, w_text
from .fmt import dur, si

# Which rows answer each question, in order of preference.
THREAD_SWITCH = ("semaphore", "pipe")      # primitives/threads/<variant>
LOOP_SWITCH = ("post", "handle")           # primitives/asyncloop/<variant>: what scenarios write first
LOOP_WAITER = ("timer-each", "timer-shared", "sleep-queue")  # one timer each: the like-for-like
RACE_TABLES = 1000                         # the book's table count where threads begin to lose
BROKERS = (("threads", "improved", "threads"), ("asyncloop", "improved", "asyncloop"),
           ("redis", "peer", "redis-server"))  # the sweep finding's; capacity: RATIO_BROKERS


class Num:
    """A number as the report prints it, with its value and the fields it was computed from."""

    def __init__(self, text, value, sources, how=""):
        self.text, self.value, self.sources, self.how = text, value, list(sources), how

    def title(self):
        """Where the number comes from, in one line (HTML title attribute)."""
        rows = "; ".join(f"{f}: {name}, {field}" for f, name, field in self.sources)
        return (f"{self.how} of " if self.how else "") + rows


def row_name(r):
    """The row's name without Google Benchmark's suffixes: scenario/model/variant/param:value."""
    return "/".join([r["scenario"], r["model"], r["variant"]]
                    + [f"{k}:{v}" for k, v in r["params"].items()])


def src(r, *fields):
    """The (file, row, field) triples of fields of one row."""
    return [(r["source"], row_name(r), f) for f in fields]


def sig(value):
    """Three significant digits, thousands separated from 100 up: 8.00, 1.16, 27.9, 1,535."""
    return f"{value:,.0f}" if abs(value) >= 99.95 else f"{value:#.3g}".rstrip(".")


def times(a, b, sources):
    """a / b as a Num: '9.5×'."""
    return Num(f"{sig(a / b)}×", a / b, sources, "ratio")


def ok(r):
    """A row that ran and passed its checks."""
    return not r.get("failure") and not r.get("check")


def pick(rows, scenario, model, variants, key, **params):
    """The first row (by variant preference) of scenario/model carrying counter key and these
    params."""
    for v in variants:
        for r in rows:
            if (r["scenario"], r["model"], r["variant"]) == (scenario, model, v) and ok(r) \
                    and key in r["counters"] \
                    and all(r["params"].get(k) == want for k, want in params.items()):
                return r
    return None


def switch_finding(rows):
    """A thread hand-over against a coroutine switch, both pinned to one CPU when measured so."""
    for pinned in (1, 0):
        t = pick(rows, "primitives", "threads", THREAD_SWITCH, "ns_per_switch", pinned=pinned)
        a = pick(rows, "primitives", "asyncloop", LOOP_SWITCH, "ns_per_switch", pinned=pinned)
        if t and a:
            break
    else:
        return None
    tv, av = t["counters"]["ns_per_switch"], a["counters"]["ns_per_switch"]
    ts, as_ = src(t, "ns_per_switch"), src(a, "ns_per_switch")
    where = "both pinned to one CPU" if pinned else "unpinned"
    return dict(anchor="primitives", section="Primitives", segments=[
        "**Switching:** handing the CPU from one thread to another costs ",
        Num(f"{sig(tv)} ns", tv, ts), f" (`threads/{t['variant']}`), from one coroutine to "
        f"another on the event loop ", Num(f"{sig(av)} ns", av, as_),
        f" (`asyncloop/{a['variant']}`): the thread switch costs ", times(tv, av, ts + as_),
        f" as much ({where})."])


def waiting_finding(rows):
    """Resident memory a waiting thread keeps against a waiting coroutine (fitted slopes)."""
    t = pick(rows, "primitives", "threads", ("waiting",), "kib_per_task")
    a = pick(rows, "primitives", "asyncloop", LOOP_WAITER, "kib_per_task")
    if not (t and a):
        return None
    tv, av = t["counters"]["kib_per_task"], a["counters"]["kib_per_task"]
    ts, as_ = src(t, "kib_per_task"), src(a, "kib_per_task")
    segments = ["**Waiting:** each waiting thread adds ", Num(f"{sig(tv)} KiB", tv, ts),
                " of resident memory, each waiting coroutine ", Num(f"{sig(av)} KiB", av, as_),
                f" (`asyncloop/{a['variant']}`): ", times(tv, av, ts + as_), " as much"]
    stack = t["counters"].get("stack_kib")
    if stack:
        segments += [", and each thread reserves ",
                     Num(f"{sig(stack)} KiB", stack, src(t, "stack_kib")),
                     " of stack besides (virtual until touched)"]
    return dict(anchor="primitives", section="Primitives", segments=segments + ["."])


def race_finding(rows):
    """How often racy threads lost updates against the same racy code on one event loop, at the
    book's 1,000 tables (or the nearest table count both have)."""
    cut = [r for r in rows if r["scenario"] == "cutlery" and ok(r)
           and "fail_rate" in r["counters"] and "tables" in r["params"]]
    by = {(r["model"], r["variant"], r["params"]["tables"]): r for r in cut}
    common = sorted({n for m, v, n in by if m == "threads" and v == "racy"}
                    & {n for m, v, n in by if m == "asyncloop" and v == "racy"},
                    key=lambda n: (abs(n - RACE_TABLES), -n))
    if not common:
        return None
    n = common[0]
    segments = [f"**Races:** at {n:,} tables per bot, "]
    for i, (model, what) in enumerate((("threads", "racy threads"),
                                       ("asyncloop", "the same racy `change()` on one event loop"))):
        r = by[(model, "racy", n)]
        c = r["counters"]
        segments += [("; " if i else "") + f"{what} lost updates in ",
                     Num(f"{100 * c['fail_rate']:.0f}%", c["fail_rate"], src(r, "fail_rate")),
                     " of trials"]
        if "fail_lo" in c and "fail_hi" in c:
            segments += [" (95% interval ",
                         Num(f"{100 * c['fail_lo']:.0f}", c["fail_lo"], src(r, "fail_lo")), "–",
                         Num(f"{100 * c['fail_hi']:.0f}%", c["fail_hi"], src(r, "fail_hi")), ")"]
    return dict(anchor="cutlery", section="Cutlery", segments=segments + ["."])


def connections(r):
    """Connections a fan-out broker held: subscribers, publishers and slow subscribers."""
    c = r["counters"]
    return c["subscribers"] + c.get("publishers", 1) + c.get("slow_subscribers", 0)


def broker_finding(rows):
    """Memory per connection and CPU per delivery of both tvl brokers against redis-server, at
    the largest subscriber count where each of them ran and passed its checks."""
    fan = [r for r in rows if r["scenario"] == "fanout" and "slow" not in r["params"]
           and "subscribers" in r["counters"]]
    series = {}
    for model, design, label in BROKERS:
        series[label] = {int(r["counters"]["subscribers"]): r for r in fan
                         if (r["model"], r["variant"]) == (model, design)}
    passed = {label: {n for n, r in pts.items() if ok(r) and "rss_kib" in r["counters"]}
              for label, pts in series.items()}
    counts = sorted(set().union(*passed.values()), reverse=True)
    for n in counts:  # the largest count reached by a tvl broker and one other broker
        here = [label for label in passed if n in passed[label]]
        if len(here) >= 2 and set(here) & {"threads", "asyncloop"}:
            break
    else:
        return None
    lower = [m for m in counts if m < n and all(m in passed[label] for label in here)]
    segments = [f"**Brokers, at {n:,} subscribers:** "]
    if lower:
        segments.append(f"each connection added between {lower[0]:,} and {n:,} subscribers cost ")
    else:
        segments.append("broker RSS per connection was ")
    for i, label in enumerate(here):
        r = series[label][n]
        if lower:
            p = series[label][lower[0]]
            kib = ((r["counters"]["rss_kib"] - p["counters"]["rss_kib"])
                   / (connections(r) - connections(p)))
            how, fields = "RSS difference over connection difference", (p, r)
        else:
            kib, how, fields = r["counters"]["rss_kib"] / connections(r), "RSS over connections", (r,)
        sources = [s for q in fields for s in src(q, "rss_kib", "subscribers", "publishers")]
        segments += [", " if i else "", Num(f"{sig(kib)} KiB", kib, sources, how), f" ({label})"]
    segments.append(" of broker RSS; broker CPU per million deliveries: ")
    for i, label in enumerate(here):
        c = series[label][n]["counters"]
        if c.get("broker_cpu_s") is None or not c.get("delivered"):
            segments += [", " if i else "", f"not measured ({label})"]
            continue
        cpu = c["broker_cpu_s"] / c["delivered"] * 1e6
        segments += [", " if i else "",
                     Num(f"{cpu:.2f} s", cpu, src(series[label][n], "broker_cpu_s", "delivered"),
                         "broker_cpu_s / delivered × 10⁶"), f" ({label})"]
    left = [label for label in series if label not in here and n in series[label]]
    if left:
        segments.append(" (" + ", ".join(left) + " left out: its point there did not run or "
                        "failed its checks)")
    return dict(anchor="fanout", section="Fan-out", segments=segments + ["."])


def capacity_finding(rows):
    """Capacity on one core of asyncloop, threads and redis-server (python where it ran) at each
    subscriber count where a tvl broker and another broker were searched: each a measured
    capacity, "at least" one with its projected ceiling, or the lowest rate tried when none
    passed; then their ratio, marked measured or projected (capacity_terms.py)."""
    cap = [r for r in rows if r["scenario"] == "fanout_capacity" and not r.get("failure")
           and "capacity" in r["counters"] and r["params"].get("cpus", 1) == 1]
    series = {label: {int(r["params"]["subscribers"]): r for r in cap
                      if (r["model"], r["variant"]) == (model, design)}
              for model, design, label in RATIO_BROKERS}
    counts = sorted({n for pts in series.values() for n in pts
                     if (n in series["threads"] or n in series["asyncloop"])
                     and sum(n in pts for pts in series.values()) >= 2})
    if not counts:
        return None
    segments = ["**Capacity on one core**, in deliveries/s with nothing lost and p99 within "
                "the SLO for the fan-out degree: "]
    for i, n in enumerate(counts):
        found = {label: pts[n] for label, pts in series.items() if n in pts}
        slos = sorted({r["counters"]["slo_ms"] for r in found.values()
                       if positive(r["counters"].get("slo_ms"))})
        segments.append(("; " if i else "") + f"at {n:,} subscribers"
                        + (f" (SLO {' or '.join(f'{s:g} ms' for s in slos)}) " if slos else " "))
        for j, (label, r) in enumerate(found.items()):
            segments += [", " if j else "", f"{label} "] + capacity_words(r)
        ratio = broker_ratio(found)
        if ratio:
            segments += [" — " + " : ".join(label for label, _, _ in ratio["terms"]) + " = "]
            for j, (label, value, r) in enumerate(ratio["terms"]):
                segments.append(" : " if j else "")
                segments.append(ratio_num(ratio, label, value, r))
            segments.append(f", **{ratio['kind']}**")
    return dict(anchor="fanout_capacity", section="Fan-out capacity", segments=segments + ["."])


def capacity_words(r):
    """A capacity row as finding segments: '9.92 M/s', 'at least 16.0 M/s (projected 24.1
    M/s)', or 'no rate passed (lowest tried 13.0 k/s, p99 50.3 ms; floor 37.3 ms)'."""
    c = r["counters"]
    if positive(c.get("capacity")):
        words = ["at least "] if c.get("load_bound") else []
        words.append(Num(si(c["capacity"]), c["capacity"], src(r, "capacity", "load_bound")))
        if c.get("load_bound") and positive(c.get("projected_ceiling")):
            words += [" (projected ", Num(si(c["projected_ceiling"]), c["projected_ceiling"],
                                          src(r, "projected_ceiling")), ")"]
        return words
    words = ["no rate passed"]
    notes = []
    low = lowest_tried(r)
    if low and low[3] != ("probe_log",):
        words += [" (lowest tried ", Num(si(low[0]), low[0], src(r, "lowest_offered"))]
        if low[1]:
            notes += [", p99 ", Num(dur(low[1]), low[1], src(r, "lowest_p99_us"))]
    elif low:
        words.append(f" (lowest tried {si(low[0])}")
        if low[1]:
            notes.append(f", p99 {dur(low[1])}")
    floor = positive(c.get("floor_p99_us"))
    if floor:
        notes += ["; floor " if low else " (floor ", Num(dur(floor), floor,
                                                          src(r, "floor_p99_us"))]
    return words + notes + ([")"] if low or floor else [])


def ratio_num(ratio, label, value, r):
    """One term of a ratio as a Num: its value over the reference's, from the fields it was
    computed from ('1' for the reference itself)."""
    if label == ratio["reference"]:
        return "1"
    x = ratio_value(ratio, value)
    ref = next(q for lab, _, q in ratio["terms"] if lab == ratio["reference"])
    field = ratio["field"]
    how = "inverse ratio" if field == "cpu_s_per_million" else "ratio"
    return Num(ratio_number(x), x, src(r, field) + src(ref, field), how)


def ceiling_finding(rows):
    """How many waiting tasks each kind of the thread ceiling held, and what stopped it."""
    kinds = {}
    for r in rows:
        if r["scenario"] == "ceiling" and ok(r) and "reached" in r["counters"]:
            kinds.setdefault(f"{r['model']}/{r['variant']}", []).append(r)
    if not kinds:
        return None
    segments = ["**Ceiling:** "]
    threads_first = sorted(kinds, key=lambda k: (not k.startswith("threads"), k))
    for i, kind in enumerate(threads_first):
        krows = sorted(kinds[kind], key=lambda r: r["counters"]["tasks"])
        held = [r for r in krows if r["counters"]["reached"]]
        stop = next((r for r in krows if not r["counters"]["reached"]), None)
        segments.append(("; " if i else "") + f"`{kind}` reached ")
        if held:
            top = held[-1]["counters"]["tasks"]
            segments.append(Num(f"{top:,.0f}", top, src(held[-1], "tasks", "reached")))
        else:
            segments.append("no N")
        if stop:
            c = stop["counters"]
            segments += [f" and stopped at {c['tasks']:,.0f} after ",
                         Num(f"{c['created']:,.0f}", c["created"], src(stop, "created")),
                         f" created: {stop['labels'].get('limit_name') or 'no limit named'}"]
            if "limit_value" in c:
                segments += [" = ", Num(f"{c['limit_value']:,.0f}", c["limit_value"],
                                        src(stop, "limit_name", "limit_value"))]
        else:
            segments.append(", every N asked for")
    return dict(anchor="ceiling", section="The thread ceiling", segments=segments + ["."])


def crossover_finding(rows):
    """The crossover map on one core (echo_capacity rows): how many cells each contender won
    by more than the search's precision, how many were ties, and the widest margin of each
    winner (crossover_terms.py decides every cell)."""
    echo = [r for r in rows if r["scenario"] == "echo_capacity"]
    if not echo:
        return None
    grid = Grid(echo)
    decided = {cell: v for cell, v in grid.verdicts.items() if outcome(v) and v["cpus"] == 1}
    if not decided:
        return None

    def cell_rows(cell):
        return [r for r in grid.cells[cell].values() if r["counters"].get("capacity")]

    wins = {}
    for cell, v in decided.items():
        wins.setdefault(outcome(v), []).append(cell)
    every = [s for cell in decided for r in cell_rows(cell) for s in src(r, "capacity")]
    segments = ["**Threads or a loop** (the echo server on one core, p99 within the bound): of ",
                Num(f"{len(decided)}", len(decided), every, "cells counted"),
                " cells of the crossover map where some model passed, "]
    winners = sorted((k for k in wins if k != TIE), key=lambda k: -len(wins[k]))
    for i, key in enumerate(winners):
        cells = wins[key]
        widest = max(cells, key=lambda cell: decided[cell]["margin"] or 0)
        v = decided[widest]
        segments += [", " if i else "", f"`{label(key)}` won ",
                     Num(f"{len(cells)}", len(cells), [s for c in cells for r in cell_rows(c)
                                                       for s in src(r, "capacity")], "cells counted")]
        if v["margin"]:
            c, w, b = widest
            wrow, rrow = grid.row(v["winner"], c, w, b), grid.row(v["rival"], c, w, b)
            segments += [" (widest ", Num(f"{'≥ ' if v['kind'] == 'at-least' else ''}"
                                          f"{sig(v['margin'])}×", v["margin"],
                                          src(wrow, "capacity") + src(rrow, "capacity"), "ratio"),
                         f" over `{label(v['rival'])}`"
                         + (" (projected ceilings)" if v["kind"] == "projected" else "")
                         + f" at C {c_text(c)}, W {w_text(w)}, {b_text(b)})"]
    ties = wins.get(TIE, [])
    segments += [("; " if winners else ""), Num(f"{len(ties)}", len(ties),
                                                [s for c in ties for r in cell_rows(c)
                                                 for s in src(r, "capacity")], "cells counted"),
                 f" were ties within the search's precision ({grid.precision:.0%})"]
    return dict(anchor="echo_capacity", section="Crossover", segments=segments + ["."])


FINDINGS = (switch_finding, waiting_finding, race_finding, broker_finding, capacity_finding,
            crossover_finding, ceiling_finding)


def findings(rows):
    """Every finding the rows support, in reading order; each with its sources."""
    out = []
    for make in FINDINGS:
        f = make(rows)
        if f:
            f["sources"] = list(dict.fromkeys(s for seg in f["segments"] if isinstance(seg, Num)
                                              for s in seg.sources))
            out.append(f)
    return out


def from_note(sources):
    """'from: `file`: `row` field, field; …' — the rows a finding read, grouped by file."""
    by_file = {}
    for file, name, field in sources:
        by_file.setdefault(file, {}).setdefault(name, []).append(field)
    return "from: " + "; ".join(
        f"`{file}`: " + ", ".join(f"`{name}` ({', '.join(fields)})"
                                  for name, fields in names.items())
        for file, names in by_file.items())


def headline_blocks(rows):
    """The headline section's blocks: an introduction and the findings list."""
    found = findings(rows)
    if not found:
        return [("p", "No headline finding: these results hold no row that a finding is "
                      "computed from (primitives switches and waiting tasks, cutlery racy "
                      "variants, fan-out sweeps of both tvl brokers or redis-server, capacity "
                      "on one core, the thread ceiling). The sections below show what they do "
                      "hold.")]
    return [("p", "Computed from the result files on this machine, each linked to the section "
                  "that shows it in full; under each, the rows and fields it was read from."),
            ("findings", found)]
