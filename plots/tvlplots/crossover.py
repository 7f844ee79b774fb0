"""The crossover part of the report (book ch. 3 Example 3-30, ch. 4's asyncpg case study): the
echo server's capacity per cell of connections C × CPU work W × blocking call B, read from
`tvl capacity echo` rows (`echo_capacity/<model>/<variant>/connections:C/work_us:W/block_ms:B`).

It opens with "Which to choose on this machine", then the map of winners and the capacity
lines with the crossover statements, every cell in a table, SEDA's figures and Ousterhout's
claims, each with its verdict. Every sentence is computed (crossover_statements.py,
crossover_claims.py) from the verdicts of crossover_terms.py; the figures are
crossover_figures.py's. The section exists only when such rows do.
"""
from .capacity_terms import positive
from .crossover_claims import (SEDA_CITE, WELL_CONDITIONED, conditioned_statement,
                               ousterhout_claims, seda_statement)
from .crossover_figures import conditioned_figure, lines_figure, map_figure, seda_figure
from .crossover_statements import (cap_words, executor_statement, from_c, more_cpus_note,
                                   row_sentence, thread_corner, which_to_choose)
from .crossover_terms import (LOOP, THREADS, Grid, b_text, c_text, capacity, cpus_of, label,
                              margin_text, outcome_label, outcome, projected, w_text)
from .fmt import si


def sig(value):
    """Three significant digits, thousands separated from 100 up: 8.00, 27.9, 1,010."""
    return f"{value:,.0f}" if abs(value) >= 99.95 else f"{value:#.3g}".rstrip(".")


def fig_name(kind, b):
    """'crossover_map_b0', 'crossover_lines_b1'."""
    return f"crossover_{kind}_b{b:g}".replace(".", "_")


def slo_words(rows):
    """'p99 ≤ 10 ms' (every bound the rows record), or 'p99 within the bound'."""
    slos = sorted({r["counters"]["slo_ms"] for r in rows if positive(r["counters"].get("slo_ms"))})
    return "p99 ≤ " + " or ".join(f"{s:g} ms" for s in slos) if slos else "p99 within the bound"


def cpu_words(rows):
    """Which contenders ran on more than one CPU: ' (asyncloop-mt: 2 CPUs)', or ''."""
    multi = sorted({(f"{r['model']}/{r['variant']}", cpus_of(r)) for r in rows if cpus_of(r) > 1})
    return (" (" + "; ".join(f"{label(k)}: {n} CPUs" for k, n in multi) + ")") if multi else ""


def contender_cell(grid, key, c, w, b):
    """One contender in the table: capacity (or why none), CPU µs per request, RSS per
    connection (the slope from the next smaller C)."""
    r = grid.row(key, c, w, b)
    if r is None:
        return "—"
    n = r["counters"]
    if r.get("failure") or r["labels"].get("limit") == "not-run" or not capacity(r):
        return cap_words(r) + (f" ({r['labels']['limit']})" if not r.get("failure") and
                               r["labels"].get("limit") not in (None, "", "not-run") else "")
    cap = (f"≥ {si(n['capacity'])}, projected {si(projected(r))}"
           if n.get("load_bound") and projected(r) else cap_words(r))
    parts = [cap]
    if positive(n.get("cpu_us_per_request")):
        parts.append(sig(n["cpu_us_per_request"]) + " µs CPU")
    per_connection = grid.rss_per_connection(key, c, w, b)
    if per_connection is not None:
        parts.append(sig(per_connection) + " KiB/conn")
    return " · ".join(parts) + (f" ({cpus_of(r)} CPUs)" if cpus_of(r) > 1 else "")


def cell_table(grid, b):
    """Every cell at blocking call b: each contender's capacity, CPU and RSS; winner, margin."""
    table = [["C", "W"] + [label(k) for k in grid.keys] + ["winner", "margin"]]
    for c in grid.cs:
        for w in grid.ws:
            if (c, w, b) not in grid.cells:
                continue
            v = grid.verdicts[(c, w, b)]
            table.append([c_text(c), w_text(w)]
                         + [contender_cell(grid, k, c, w, b) for k in grid.keys]
                         + [outcome_label(outcome(v)) if outcome(v) else "none passed",
                            margin_text(v) or "—"])
    return table


def map_blocks(grid, rows, context, command, plt, figures):
    """Per B: the map, the capacity lines and the statements."""
    blocks = []
    for b in grid.bs:
        name, lines = fig_name("map", b), fig_name("lines", b)
        figures[name] = map_figure(plt, grid, b, context, command)
        blocks.append(("figure", name,
                       f"The crossover map, {b_text(b)}: in each cell (C connections, W µs of CPU "
                       f"work per request) the model with the highest capacity — requests/s "
                       f"sustained with {slo_words(rows)} — and its margin, its capacity ÷ the "
                       "best other model's. Servers on one core unless the row says otherwise"
                       f"{cpu_words(rows)}; only servers on the same CPUs are ranked. Hatched: "
                       "the winner's capacity is only a lower bound (≥, the load generator was "
                       "the limit) or the margin compares CPU-projected ceilings (projected); "
                       f"grey: a tie within the search's precision ({grid.precision:.0%}); "
                       "alone: no other model passed a rate there."))
        drawn = lines_figure(plt, grid, b, context, command)
        if drawn:
            figures[lines] = drawn
            blocks.append(("figure", lines,
                           f"Capacity (requests/s with {slo_words(rows)}) against connections, "
                           f"{b_text(b)}, one line per model, one panel per W; ringed in red: a "
                           "lower bound (load-bound). A model with no point at some C did not "
                           "run there or passed no rate (see the table)."))
        blocks += [("p", s) for s in (row_sentence(grid, w, b) for w in grid.ws) if s]
        blocks += [("p", s) for s in (thread_corner(grid, b), from_c(grid, b)) if s]
        if b > 0:
            blocks.append(("p", executor_statement(grid, b)))
    return blocks


def seda_blocks(grid, context, command, plt, figures):
    """SEDA fig. 2 and the well-conditioned service, with what they show here."""
    lines, verdict, (w, b) = seda_statement(grid)
    keys = [k for k in (THREADS, LOOP) if k in grid.keys]
    blocks = [("h3", "SEDA (Welsh, Culler & Brewer, 2001) on this machine", "crossover-seda")]
    if not lines:
        blocks.append(("p", SEDA_CITE + " Not redrawn here: neither a thread per connection nor "
                            f"the one loop delivered a rate at W = {w_text(w)}, {b_text(b)}."))
    if lines:
        figures["seda_fig2"] = seda_figure(plt, grid, keys, context, command)
        blocks.append(("figure", "seda_fig2",
                       SEDA_CITE + f" This machine, W = {w_text(w)}, {b_text(b)}, throughput "
                       "(saturation) at the most connections against the peak: "
                       + "; ".join(lines) + f". The claim is **{verdict}**."))
    cond = conditioned_figure(plt, grid, context, command)
    if cond:
        figures["seda_conditioned"] = cond
        blocks.append(("figure", "seda_conditioned",
                       WELL_CONDITIONED + " Here: delivered requests/s against the offered load "
                       "of every probe; a model whose goodput under overload fell below 0.8× "
                       "its saturation is ringed in red, collapsed."))
        blocks += [("p", s) for s in conditioned_statement(grid)]
    return blocks


def ousterhout_blocks(grid):
    """Ousterhout's 1996 claims, each with its verdict and the rule that gave it."""
    return [("h3", "Ousterhout, \"Why Threads Are A Bad Idea (for most purposes)\" (USENIX "
                   "1996)", "crossover-ousterhout"),
            ("p", "A talk, with no measurements of its own: its claims, each checked against "
                  "the map by the rule beside it."),
            ("table", [["claim", "here", "rule and result"]]
             + [[claim, verdict, reason] for claim, verdict, reason in ousterhout_claims(grid)])]


def render_crossover(plt, rows, context, command):
    """The crossover section: what to choose, the map and statements, the table, the classics."""
    grid = Grid(rows)
    figures = {}
    bullets, note = which_to_choose(grid)
    blocks = [("h3", "Which to choose on this machine", "crossover-choose"),
              ("list", bullets or ["No cell of the grid has a model with a passing rate."])]
    blocks += [("p", s) for s in ([note] if note else []) + more_cpus_note(grid)]
    blocks += [("h3", "The crossover map", "crossover-map"),
               ("p", "Each cell is one echo workload: C connections, each request W µs of CPU "
                     "work and, with a blocking call, a wait of B ms (the database call of the "
                     "book's ch. 4). Its capacity is the highest offered load, in requests/s, a "
                     f"server sustains with {slo_words(rows)} and nothing lost, found by "
                     "`tvl capacity echo`; the winner of a cell carried more than every other "
                     "model, its margin is by how much.")]
    blocks += map_blocks(grid, rows, context, command, plt, figures)
    blocks.append(("h3", "Every cell", "crossover-cells"))
    for b in grid.bs:
        blocks += [("p", f"**{b_text(b)[0].upper() + b_text(b)[1:]}.** Per model: capacity "
                         "(≥ a lower bound, with the CPU-projected ceiling; or why none), "
                         "server CPU µs per request, KiB of RSS per connection (what the server's RSS "
                         "grew by from the next smaller C, per connection added)."),
                   ("table", cell_table(grid, b))]
    blocks += seda_blocks(grid, context, command, plt, figures)
    blocks += ousterhout_blocks(grid)
    return blocks, figures
