"""The debate's classic claims, checked against the echo grid by rules written down here.

SEDA (Welsh, Culler & Brewer, SOSP 2001), fig. 2: a thread-per-task server's throughput
"degrades substantially" as threads grow (4-way 500 MHz Pentium III, Linux 2.2.14, 1 to 1,024
threads) and its response time grows without bound; and a *well-conditioned* service keeps its
throughput past saturation. Ousterhout's 1996 USENIX talk, "Why Threads Are A Bad Idea (for most
purposes)", made claims without measurements of its own. Each claim gets a verdict — supported
here, not supported, not measured — by a rule over the rows, stated beside it; the papers'
figures are quoted, this machine's are computed.
"""
import statistics

from .capacity_terms import positive, ratio_number
from .crossover_terms import (LOOP, THREADS, b_text, c_text, capacity, cpus_of, label,
                              long_name, model_of, outcome, w_text)
from .fmt import dur, si

DEGRADED = 0.8   # throughput at the most connections below this share of the peak: degraded
COLLAPSE = 0.8   # goodput under overload below this share of the saturation rate: collapsed
SEDA_W = 10      # µs of work in the cell SEDA's figure is drawn for, when the grid has it
CONCURRENCY_W = 1000  # µs of work where a second CPU should show (Ousterhout's CPU claim)
MORE_CPU = 1.2   # a multi-CPU server carrying this much more than the one loop: the claim holds
SEDA_CITE = ("Welsh, Culler & Brewer (SOSP 2001), fig. 2: on a 4-way 500 MHz Pentium III under "
             "Linux 2.2.14, a server with a thread per task saw its throughput \"degrade "
             "substantially\" as threads grew from 1 to 1,024, and response time grow without "
             "bound.")
WELL_CONDITIONED = ("SEDA calls a service *well-conditioned* when it behaves like a simple "
                    "pipeline: as the offered load grows, throughput rises until the service "
                    "saturates and then stays there, the excess waiting in queues, instead of "
                    "falling as the load grows further.")


def seda_cell(grid):
    """(W, B) of the cell SEDA's fig. 2 is drawn for: W = 10 µs if the grid has it, else the
    smallest W above 0, else 0; B = 0 when present."""
    b = 0 if 0 in grid.bs else grid.bs[0]
    ws = sorted({w for (_, w, bb) in grid.cells if bb == b})
    w = SEDA_W if SEDA_W in ws else next((w for w in ws if w > 0), ws[0])
    return w, b


def throughput(r):
    """The most requests/s a row delivered in any probe (saturation), else its capacity."""
    return positive(r["counters"].get("saturation")) or capacity(r) if r else None


def series(grid, key, w, b):
    """[(C, row)] of a contender at (W, B) with a throughput, by C."""
    return [(c, grid.row(key, c, w, b)) for c in grid.cs if throughput(grid.row(key, c, w, b))]


def degradation(grid, key, w, b):
    """A sentence on how a contender's throughput at the most connections it ran compares with
    its peak, and whether that falls beyond DEGRADED; None without rows."""
    pts = series(grid, key, w, b)
    if not pts:
        return None, None
    peak_c, peak = max(((c, throughput(r)) for c, r in pts), key=lambda cv: cv[1])
    last_c, last = pts[-1][0], throughput(pts[-1][1])
    share = last / peak
    missing = [c for c in grid.cs if c > last_c and grid.row(key, c, w, b)]
    why = ""
    if missing:
        r = grid.row(key, missing[0], w, b)
        why = (f" (C = {c_text(missing[0])} did not run: "
               f"{r['labels'].get('limit_detail') or r.get('failure') or 'no rate passed'})")
    degraded = share < DEGRADED
    p99 = [(c, positive(r["counters"].get("p99_us"))) for c, r in pts]
    p99 = [(c, v) for c, v in p99 if v]
    latency = (f" (p99 at capacity {dur(p99[0][1])} at C = {c_text(p99[0][0])} → "
               f"{dur(p99[-1][1])} at C = {c_text(p99[-1][0])})" if len(p99) > 1 else "")
    return (f"{long_name(key)}: {si(last)} at C = {c_text(last_c)}, {ratio_number(share)}× its "
            f"peak of {si(peak)} (at C = {c_text(peak_c)}) — "
            + (f"a degradation beyond {1 - DEGRADED:.0%}" if degraded
               else f"within {1 - DEGRADED:.0%} of the peak") + why + latency), degraded


def seda_statement(grid):
    """(sentences, verdict) on SEDA fig. 2's claim for the SEDA cell: thread per connection
    and the one loop; the claim is supported when threads degrade beyond DEGRADED."""
    w, b = seda_cell(grid)
    lines, verdict = [], "not measured"
    for key in (THREADS, LOOP):
        text, degraded = degradation(grid, key, w, b)
        if text:
            lines.append(text)
            if key == THREADS:
                verdict = "supported here" if degraded else "not supported"
    return lines, verdict, (w, b)


def conditioned_cells(grid):
    """One or two (C, W, B) for the well-conditioned figure: the SEDA cell's (W, B) at the
    fewest connections and at the most where thread per connection logged its probes."""
    w, b = seda_cell(grid)
    logged = [c for c in grid.cs if any((grid.row(k, c, w, b) or {}).get("probe_log")
                                        for k in grid.keys)]
    if not logged:
        return []
    threads = [c for c in logged if (grid.row(THREADS, c, w, b) or {}).get("probe_log")]
    ends = sorted({logged[0], (threads or logged)[-1]})
    return [(c, w, b) for c in ends]


def overload_share(r):
    """goodput ÷ saturation of a row, or None (also where no overload probe ran: a goodput of 0
    there is nothing measured, not a collapse)."""
    c = r["counters"] if r else {}
    if not (positive(c.get("overload_offered")) or positive(c.get("overload_factor"))):
        return None
    sat, good = positive(c.get("saturation")), c.get("goodput")
    return good / sat if sat and good is not None else positive(c.get("goodput_ratio"))


def is_collapsed(r):
    share = overload_share(r)
    return bool(r and (r["counters"].get("collapsed") or (share is not None and share < COLLAPSE)))


def conditioned_statement(grid):
    """One sentence per cell of the well-conditioned figure: each model's goodput under
    overload as a share of its saturation, collapses named."""
    out = []
    for c, w, b in conditioned_cells(grid):
        parts = []
        for key in grid.keys:
            r = grid.row(key, c, w, b)
            share = overload_share(r)
            if share is None:
                continue
            factor = r["counters"].get("overload_factor")
            parts.append(f"{label(key)} {ratio_number(share)}×"
                         + (f" at {factor:g}× its saturation" if factor else "")
                         + (" — **collapsed**" if is_collapsed(r) else ""))
        if parts:
            out.append(f"At C = {c_text(c)}, W = {w_text(w)}, {b_text(b)}, goodput under "
                       "overload ÷ saturation: " + "; ".join(parts) + ".")
    if not out and conditioned_cells(grid):
        out.append("No server was offered more than its saturation rate in this profile (no overload "
                   "probe; the full profile runs one), so no collapse is judged here: the figure shows "
                   "the search's own probes.")
    return out


def loop_share(grid):
    """(cells the one loop won, ties, cells with any outcome) over the one-core cells."""
    decided = [v for v in grid.verdicts.values() if outcome(v) and v["cpus"] == 1]
    loop = sum(1 for v in decided if not v["tie"] and model_of(v["winner"]) == "asyncloop")
    return loop, sum(1 for v in decided if v["tie"]), len(decided)


def lighter(grid):
    """(cells where the loop's RSS per connection (the slope from the next smaller C) is below
    threads', cells with both, the median threads ÷ loop)."""
    pairs = []
    for (c, w, b), found in grid.cells.items():
        t, l = found.get(THREADS), found.get(LOOP)
        if not (capacity(t) and capacity(l)):  # RSS under a load both carried
            continue
        tk = positive(grid.rss_per_connection(THREADS, c, w, b))
        lk = positive(grid.rss_per_connection(LOOP, c, w, b))
        if tk and lk:
            pairs.append(tk / lk)
    if not pairs:
        return 0, 0, None
    return sum(1 for p in pairs if p > 1), len(pairs), statistics.median(pairs)


def concurrency(grid):
    """[(C, best multi-CPU key, its capacity, the one loop's)] at W = CONCURRENCY_W (or the
    largest W), B = 0: where a server on more than one CPU ran beside the one loop."""
    w = CONCURRENCY_W if CONCURRENCY_W in grid.ws else grid.ws[-1]
    b = 0 if 0 in grid.bs else grid.bs[0]
    out = []
    for c in grid.cs:
        multi = [(k, capacity(r)) for k, r in grid.cells.get((c, w, b), {}).items()
                 if cpus_of(r) > 1 and capacity(r)]
        one = capacity(grid.row(LOOP, c, w, b))
        if multi and one:
            key, cap = max(multi, key=lambda kc: kc[1])
            out.append((c, key, cap, one))
    return w, b, out


def ousterhout_claims(grid):
    """[(claim, verdict, reason)] for the talk's claims, each by the rule its reason states."""
    claims = [("Threads are hard to program: synchronisation, deadlocks, hard to debug.",
               "not measured", "the map measures capacity, not programming; the cutlery "
               "section counts the updates racy code loses.")]
    loop, ties, n = loop_share(grid)
    decided = n - ties
    claims.append(("Events are faster for most purposes.",
                   "not measured" if not decided else
                   "supported here" if loop > decided / 2 else "not supported",
                   f"the one loop won {loop} of the {decided} one-core cells that some model won "
                   f"by more than the search's precision ({ties} more were ties); the rule: "
                   "more than half."))
    light, both, median = lighter(grid)
    claims.append(("Events are lighter: a waiting task costs less than a thread.",
                   "not measured" if not both else
                   "supported here" if light > both / 2 else "not supported",
                   f"the one loop's RSS per connection was below a thread per connection's in "
                   f"{light} of {both} cells (median threads ÷ loop {ratio_number(median)}×)"
                   if both else "no cell has both RSS per connection (it needs two connection counts)."))
    w, b, pts = concurrency(grid)
    if not pts:
        claims.append(("Threads are needed for true CPU concurrency.", "not measured",
                       f"no server on more than one CPU passed a rate beside the one loop at "
                       f"W = {w_text(w)}, {b_text(b)}."))
    else:
        more = [p for p in pts if p[2] > MORE_CPU * p[3]]
        c, key, cap, one = max(pts, key=lambda p: p[0])
        cpus = max(cpus_of(grid.row(k, cc, w, b)) for cc, k, _, _ in pts)
        claims.append(("Threads are needed for true CPU concurrency.",
                       "supported here" if len(more) > len(pts) / 2 else "not supported",
                       f"at W = {w_text(w)}, {b_text(b)}, a server on {cpus} CPUs carried more "
                       f"than {MORE_CPU:g}× the one loop at {len(more)} of {len(pts)} C; at "
                       f"C = {c_text(c)}, {label(key)} {si(cap)} against {si(one)} "
                       f"({ratio_number(cap / one)}×)."))
    return claims
