"""Crossover statements: where the winner changes across the echo grid, in sentences computed
from the verdicts of crossover_terms.py — never typed.

Per row of the map (one W, one B): the winners along C and where they change, or "no crossover
within the grid". Per B: the corner a thread per connection wins (C ≤ N and W ≥ X, when its
cells form one), the C from which one model wins at every W, and with a blocking call whether
the loop needed its executor. Then "Which to choose on this machine": one bullet per region of
the grid a contender wins, with the cells it comes from.
"""
import statistics

from .capacity_terms import ratio_number
from .crossover_terms import (nothing, EXECUTOR, LOOP, THREADS, TIE, b_text, c_span, c_text, capacity,
                              cell_text, cpus_of, label, long_name, margin_range, model_of,
                              outcome, outcome_label, w_span, w_text)
from .fmt import si

MAX_BULLETS = 5      # "Which to choose": at most this many regions, the largest ones
MAX_CELLS_NAMED = 8  # cells a bullet lists before "and N more"


def runs_along_c(at, cs, w):
    """[(outcome, [(C, verdict)])]: consecutive cells of row W with the same winner (or tie)."""
    runs = []
    for c in cs:
        v = at.get((c, w))
        if not v or not outcome(v):
            continue
        if runs and runs[-1][0] == outcome(v):
            runs[-1][1].append((c, v))
        else:
            runs.append((outcome(v), [(c, v)]))
    return runs


def row_sentence(grid, w, b):
    """The winners along C in row W of the map for B, and where the winner changes."""
    runs = runs_along_c(grid.at(b), grid.cs, w)
    if not runs:
        return None
    head = f"**W = {w_text(w)}, {b_text(b)}:** "
    if len(runs) == 1:
        key, pts = runs[0]
        if key == TIE:
            return head + f"a tie at every C tried ({c_span([c for c, _ in pts])}): no crossover."
        return (head + f"{label(key)} wins at every C tried ({c_span([c for c, _ in pts])}; "
                f"margin {margin_range(v for _, v in pts) or 'none'}): no crossover within "
                "the grid.")
    parts = [f"{outcome_label(key)} at {c_span([c for c, _ in pts])}"
             + ("" if key == TIE else f" ({margin_range(v for _, v in pts) or 'alone'})")
             for key, pts in runs]
    changes = [f"C = {c_text(a[1][-1][0])} and C = {c_text(z[1][0][0])}"
               for a, z in zip(runs, runs[1:])]
    return (head + ", then ".join(parts) + ": the winner changes between "
            + "; between ".join(changes) + ".")


def span_words(lo, hi, values, name, text, unit=""):
    """How a rectangle's side reads: 'at every C tried', 'C ≤ 100', 'W ≥ 10 µs', 'C = 10–100'."""
    if lo == values[0] and hi == values[-1]:
        return f"at every {name} tried"
    if lo == hi:
        return f"{name} = {text(lo)}{unit}"
    if lo == values[0]:
        return f"{name} ≤ {text(hi)}{unit}"
    if hi == values[-1]:
        return f"{name} ≥ {text(lo)}{unit}"
    return f"{name} = {text(lo)}–{text(hi)}{unit}"


def thread_corner(grid, b, key=THREADS):
    """Where a thread per connection carries more than every other model at B: the rectangle of
    the grid (C ≤ N, W ≥ X, ...) when its cells form one, else the cells. None without its rows."""
    at = grid.at(b)
    if not any(grid.row(key, c, w, b) for c, w in at):
        return None
    won = sorted((c, w) for (c, w), v in at.items() if outcome(v) == key)
    who = long_name(key)
    if not won:
        return f"With {b_text(b)}, {who} won no cell of the grid (ties within the precision aside)."
    cs, ws = [c for c, _ in won], [w for _, w in won]
    box = sorted((c, w) for (c, w), v in at.items()
                 if outcome(v) and min(cs) <= c <= max(cs) and min(ws) <= w <= max(ws))
    margin = margin_range(at[cell] for cell in won)
    n = f"{len(won)} cell{'s' if len(won) > 1 else ''}"
    if box != won:
        return (f"With {b_text(b)}, {who} carries more in {n} that do not form one rectangle "
                f"of the grid (margin {margin}): " + ", ".join(cell_text(c, w) for c, w in won)
                + ".")
    c_part = span_words(min(cs), max(cs), grid.cs, "C", c_text, " connections")
    w_part = span_words(min(ws), max(ws), sorted({w for _, w in at}), "W", w_text,
                        " of work per request")
    return (f"With {b_text(b)}, {'at ' if c_part[0] == 'C' else ''}{c_part} and "
            f"{'at ' if w_part[0] == 'W' else ''}{w_part}, {who} carries more than any other "
            f"model (margin {margin}, {n}).")


def from_c(grid, b):
    """The C from which one model wins at every W tried at B, or which models share the
    largest C when none does."""
    at = grid.at(b)
    top = grid.cs[-1]
    column = {w: outcome(v) for (c, w), v in at.items() if c == top}
    models = {model_of(k) for k in column.values() if k}
    if len(models) != 1 or None in column.values() or TIE in column.values():
        return (f"With {b_text(b)}, no one model wins at every W at C = {c_text(top)}: "
                + ", ".join(f"W = {w_text(w)}: "
                            + (outcome_label(k) if k else nothing(grid, top, w, b))
                            for w, k in sorted(column.items())) + ".")
    model = models.pop()
    start = top
    for c in reversed(grid.cs):
        cells = [v for (cc, _), v in at.items() if cc == c]
        if cells and all(outcome(v) not in (None, TIE) and model_of(v["winner"]) == model
                         for v in cells):
            start = c
        else:
            break
    won = [v for (c, _), v in at.items() if c >= start]
    key = won[0]["winner"]
    who = long_name(key) if all(v["winner"] == key for v in won) else model
    cpus = {cpus_of(grid.row(v["winner"], c, w, b)) for (c, w), v in at.items() if c >= start}
    on = f" (on {max(cpus)} CPUs)" if max(cpus) > 1 else ""
    if start == grid.cs[0]:
        return (f"With {b_text(b)}, {who}{on} wins every cell of the grid (margin "
                f"{margin_range(won)}): no crossover within the grid.")
    return (f"With {b_text(b)}, from C = {c_text(start)} connections {who}{on} wins at every W "
            f"tried (" + (f"margin {margin_range(won)}, " if margin_range(won) else "")
            + f"{len(won)} cells" + ("" if margin_range(won) else ", no other model passing")
            + ").")


def cap_words(r):
    """A capacity in a sentence: '12.3 k/s', '≥ 98.0 k/s', 'not run (…)', 'no rate passed'."""
    if r is None:
        return "not measured"
    if r.get("failure") or r["labels"].get("limit") == "not-run":
        return "not run (" + (r.get("failure") or r["labels"].get("limit_detail")
                              or "see its log") + ")"
    cap = capacity(r)
    if not cap:
        return "no rate passed"
    return ("≥ " if r["counters"].get("load_bound") else "") + si(cap)


def executor_statement(grid, b):
    """Whether the one loop needed its executor with blocking call b: inline against executor
    in every cell that has both, and one cell (most connections, least work) in numbers."""
    pairs = [(c, w) for c in grid.cs for w in grid.ws
             if grid.row(LOOP, c, w, b) and grid.row(EXECUTOR, c, w, b)]
    if not pairs:
        return (f"With {b_text(b)}: the one loop inline against its executor was not measured "
                "(the grid lacks one of the two).")
    better = [(c, w) for c, w in pairs
              if (capacity(grid.row(EXECUTOR, c, w, b)) or 0)
              > (capacity(grid.row(LOOP, c, w, b)) or 0)]
    c, w = max(pairs, key=lambda cw: (cw[0], -cw[1]))
    inline, execu = grid.row(LOOP, c, w, b), grid.row(EXECUTOR, c, w, b)
    x, y = capacity(inline), capacity(execu)
    example = (f"at {cell_text(c, w)}, inline {cap_words(inline)}, executor {cap_words(execu)}"
               + (f" ({ratio_number(y / x)}×)" if x and y else ""))
    n = len(pairs)
    if len(better) == n:
        return (f"With {b_text(b)} the loop needs its executor: {example}; the executor carried "
                f"more in all {n} cells that ran both.")
    if not better:
        return (f"With {b_text(b)} the loop did not need its executor: the call awaited on the "
                f"loop (inline) carried as much or more in all {n} cells that ran both; "
                f"{example}.")
    return (f"With {b_text(b)} the executor carried more than the loop alone in {len(better)} "
            f"of {n} cells (" + ", ".join(cell_text(c, w) for c, w in better) + f"); {example}.")


def regions(grid):
    """[(B, outcome, [(C, W)])]: the cells each contender wins (or ties), per B."""
    out = {}
    for (c, w, b), v in grid.verdicts.items():
        if outcome(v):
            out.setdefault((b, outcome(v)), []).append((c, w))
    return [(b, key, sorted(cells)) for (b, key), cells in out.items()]


def cell_list(cells):
    """'[C=1, W=0], [C=10, W=0]', at most MAX_CELLS_NAMED, then 'and N more'."""
    named = [cell_text(c, w) for c, w in cells]
    if len(named) > MAX_CELLS_NAMED:
        named = named[:MAX_CELLS_NAMED] + [f"and {len(cells) - MAX_CELLS_NAMED} more"]
    return ", ".join(named)


def lightest(grid, b, cells):
    """(key, mean RSS KiB per connection) of the contender lightest in memory over cells (each
    cell's slope from the next smaller C; a cell at the smallest C has none)."""
    rss = {}
    for c, w in cells:
        for key in grid.cells[(c, w, b)]:
            per_connection = grid.rss_per_connection(key, c, w, b)
            if per_connection is not None:
                rss.setdefault(key, []).append(per_connection)
    sloped = sum(1 for c, _ in cells if c > grid.cs[0])
    full = {k: statistics.mean(v) for k, v in rss.items() if sloped and len(v) == sloped}
    return min(full.items(), key=lambda kv: kv[1]) if full else (None, None)


def choose_bullet(grid, b, key, cells):
    """One "Which to choose" bullet: the region, the model, the measured reason, the cells."""
    at = grid.at(b)
    cs, ws = sorted({c for c, _ in cells}), sorted({w for _, w in cells})
    box = [v for (c, w), v in at.items() if outcome(v) and cs[0] <= c <= cs[-1]
           and ws[0] <= w <= ws[-1]]
    where = f"in {len(cells)} of the {len(box)} cells there: {cell_list(cells)}."
    shape = f"**{b_text(b)[0].upper() + b_text(b)[1:]}, {c_span(cs)}, {w_span(ws)}**"
    if key == TIE:
        light, rss = lightest(grid, b, cells)
        return (f"{shape}: no model carried more than {grid.precision:.0%} over the next "
                "(a tie within the search's precision)"
                + (f"; the lightest in memory was **{label(light)}**, {rss:.3g} KiB per "
                   "connection" if light else "") + f" — {where}")
    verdicts = [at[cell] for cell in cells]
    margins = [v["margin"] for v in verdicts if v["margin"]]
    cpus = max(cpus_of(grid.row(key, c, w, b)) for c, w in cells)
    reason = (f"it carried {margin_range(verdicts)} the requests/s of the best other model "
              f"(median {ratio_number(statistics.median(margins))}×)" if margins
              else "it was the only model with a passing rate")
    bounds = sum(v["kind"] in ("at-least", "projected") for v in verdicts)
    return (f"{shape}: choose **{label(key)}** ({long_name(key)}"
            + (f", on {cpus} CPUs" if cpus > 1 else "") + f") — {reason} " + where
            + (f" Of these, {bounds} rest{'s' if bounds == 1 else ''} on a lower bound or a "
               "projection (hatched in the map)." if bounds else ""))


def which_to_choose(grid):
    """3–5 bullets, one per region of the grid a contender wins (the largest regions when there
    are more), in the order of B then C; and a note on the cells left out, if any."""
    found = regions(grid)
    kept = sorted(found, key=lambda r: -len(r[2]))[:MAX_BULLETS]
    left = sum(len(r[2]) for r in found if r not in kept)
    kept.sort(key=lambda r: (r[0], r[2][0]))
    bullets = [choose_bullet(grid, b, key, cells) for b, key, cells in kept]
    note = (f"{left} other cell{'s' if left > 1 else ''} won by other models in smaller "
            "regions: see the table." if left else None)
    return bullets, note


def more_cpus_note(grid):
    """What the servers on more CPUs than the map ranks carried against each cell's best ranked
    server: one sentence per such contender, or []."""
    out = []
    for key in grid.keys:
        ratios, cpus = [], set()
        for cell, found in grid.cells.items():
            r, v = found.get(key), grid.verdicts[cell]
            if capacity(r) and cpus_of(r) > v["cpus"] and v["winner"]:
                ratios.append((capacity(r) / capacity(found[v["winner"]]), cell))
                cpus.add(cpus_of(r))
        if not ratios:
            continue
        more = sum(1 for x, _ in ratios if x > 1 + grid.precision)
        best, (c, w, b) = max(ratios)
        out.append(f"On {max(cpus)} CPUs (not ranked in the map), {long_name(key)} carried more "
                   f"than the best one-core server by over {grid.precision:.0%} in {more} of "
                   f"{len(ratios)} cells (median {ratio_number(statistics.median(x for x, _ in ratios))}×"
                   f"; most {ratio_number(best)}× at {cell_text(c, w, b)}).")
    return out
