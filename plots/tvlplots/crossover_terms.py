"""Crossover terms: the echo capacity grid (`tvl capacity echo`) as cells, and who wins each.

A row is one cell of the grid — connections C × CPU work per request W (µs) × a blocking call
B (ms) — for one contender (model/variant). A cell's winner is the contender with the highest
capacity; its margin is that capacity over the best capacity of another *model* (the runner-up),
so the loop's two variants never make a margin between themselves. Only servers on the same
number of CPUs compete: the cell's fewest (one core, unless every row says otherwise); a loop
per core on two CPUs is drawn and tabled beside them, not ranked against them. A margin within
the search's precision (5% unless the rows record theirs) is a *tie*. Like capacity_terms.py, no
margin mixes a latency-bound capacity with a CPU bound: when the runner-up was load-bound (its
capacity only a lower bound), every term is the CPU-projected ceiling instead and the cell is
marked *projected*; when only the winner was load-bound, its margin is *at least* (≥) the ratio.
Every statement in crossover.py and crossover_claims.py is computed from these verdicts.
"""
from .capacity_terms import positive, ratio_number

# The contenders in the order every table, legend and sentence names them: (key, long name).
CONTENDERS = (("threads/per-connection", "a thread per connection"),
              ("pool/fixed", "a fixed pool of threads"),
              ("asyncloop/inline", "the one loop"),
              ("asyncloop/executor", "the one loop with its executor"),
              ("asyncloop-mt/inline", "a loop per core"))
MAIN_VARIANT = {"threads": "per-connection", "pool": "fixed", "asyncloop": "inline",
                "asyncloop-mt": "inline"}
PRECISION = 0.05  # how close the capacity search bisects, when the rows do not say
THREADS, LOOP, EXECUTOR = "threads/per-connection", "asyncloop/inline", "asyncloop/executor"


def key_of(r):
    """A row's contender: model/variant."""
    return f"{r['model']}/{r['variant']}"


def label(key):
    """A contender as figures and tables name it: the model, or 'model (variant)' for a variant
    other than the model's usual one."""
    model, variant = key.split("/")
    return model if MAIN_VARIANT.get(model) == variant else f"{model} ({variant})"


def long_name(key):
    """A contender in a sentence: 'a thread per connection'."""
    return dict(CONTENDERS).get(key, label(key))


def ordered(keys):
    """Contender keys in CONTENDERS order, unknown ones last by name."""
    known = [k for k, _ in CONTENDERS]
    return sorted(keys, key=lambda k: (known.index(k) if k in known else 99, k))


def model_of(key):
    return key.split("/")[0]


def cpus_of(r):
    """How many CPUs the server had: the row's cpus parameter or server_cpus counter, else 1."""
    return int(r["params"].get("cpus") or r["counters"].get("server_cpus") or 1)


class Grid:
    """The cells of the echo capacity rows: cells[(C, W, B)] = {contender key: row}."""

    def __init__(self, rows):
        self.cells = {}
        for r in rows:
            p = r["params"]
            cell = (p["connections"], p.get("work_us", 0), p.get("block_ms", 0))
            self.cells.setdefault(cell, {})[key_of(r)] = r
        self.cs = sorted({c for c, _, _ in self.cells})
        self.ws = sorted({w for _, w, _ in self.cells})
        self.bs = sorted({b for _, _, b in self.cells})
        self.keys = ordered({k for cell in self.cells.values() for k in cell})
        self.precision = max([r["counters"]["precision"] for r in rows
                              if positive(r["counters"].get("precision"))] or [PRECISION])
        self.verdicts = {cell: verdict(found, self.precision)
                         for cell, found in self.cells.items()}

    def row(self, key, c, w, b):
        return self.cells.get((c, w, b), {}).get(key)

    def rss_per_connection(self, key, c, w, b):
        """KiB of server RSS each connection added: the slope from the next smaller C with an RSS
        (same model, W and B) to c, so that the server's fixed memory is not shared out among
        a few connections (RSS ÷ C at C = 10 is mostly the process). None at the smallest C."""
        here = rss_kib(self.row(key, c, w, b))
        below = [cc for cc in self.cs if cc < c and rss_kib(self.row(key, cc, w, b))]
        if not here or not below:
            return None
        c0 = below[-1]
        return max(here - rss_kib(self.row(key, c0, w, b)), 0.0) / (c - c0)

    def at(self, b):
        """The verdicts of every cell with blocking call b, by (C, W)."""
        return {(c, w): v for (c, w, bb), v in self.verdicts.items() if bb == b}


def capacity(r):
    """A row's capacity when some probe passed and it ran, else None."""
    if r is None or r.get("failure"):
        return None
    return positive(r["counters"].get("capacity"))


def rss_kib(r):
    """The server's RSS at capacity, KiB, when some probe passed; else None."""
    return positive(r["counters"].get("server_rss_kib")) if capacity(r) else None


def nothing(grid, c, w, b):
    """Why a cell has no winner: 'not run' when no model ran there (each row says why), else
    'no rate passed'."""
    rows = grid.cells.get((c, w, b), {}).values()
    ran = [r for r in rows if not r.get("failure") and r["labels"].get("limit") != "not-run"]
    return "no rate passed" if ran else "not run"


def projected(r):
    """A row's CPU-projected ceiling (one core), or None."""
    return positive(r["counters"].get("projected_ceiling")) if capacity(r) else None


def best(ranked, value, model=None):
    """The first (key, row) of ranked whose model is not `model` and that has a value."""
    return next(((k, r) for k, r in ranked if model_of(k) != model and value(r)), (None, None))


def ranked_cpus(found):
    """The fewest CPUs any row of a cell ran its server on: the rows that compete there."""
    return min((cpus_of(r) for r in found.values()), default=1)


def verdict(found, precision=PRECISION):
    """The winner of one cell ({key: row}) as a dict: winner, rival (keys or None), values (the
    two numbers compared), margin (winner ÷ rival or None), tie (the margin is within the
    search's precision), cpus (the CPUs of the rows compared), kind: 'measured', 'at-least'
    (the winner was load-bound), 'projected' (the rival was: projected ceilings compared),
    'alone' (no other model passed) or 'none' (no contender passed)."""
    cpus = ranked_cpus(found)
    ranked = sorted(((k, r) for k, r in found.items() if capacity(r) and cpus_of(r) == cpus),
                    key=lambda kr: -capacity(kr[1]))
    if not ranked:
        return dict(winner=None, rival=None, margin=None, kind="none", values=(None, None),
                    tie=False, cpus=cpus)
    winner, wrow = ranked[0]
    rival, rrow = best(ranked, capacity, model_of(winner))
    value, kind = capacity, "measured"
    if rival and rrow["counters"].get("load_bound"):
        with_ceiling = sorted(((k, r) for k, r in ranked if projected(r)),
                              key=lambda kr: -projected(kr[1]))
        if with_ceiling:
            winner, wrow = with_ceiling[0]
            rival, rrow = best(with_ceiling, projected, model_of(winner))
            value, kind = projected, "projected"
    elif wrow["counters"].get("load_bound"):
        kind = "at-least"
    if not rival:
        return dict(winner=winner, rival=None, margin=None, kind="alone",
                    values=(value(wrow), None), tie=False, cpus=cpus)
    a, b = value(wrow), value(rrow)
    return dict(winner=winner, rival=rival, margin=a / b, kind=kind, values=(a, b),
                tie=kind != "at-least" and a / b < 1 + precision, cpus=cpus)


TIE = "tie"


def outcome(v):
    """What a cell's verdict says in a statement: the winner's key, TIE, or None."""
    return TIE if v["tie"] else v["winner"]


def outcome_label(key):
    """'threads', or 'a tie' for TIE."""
    return "a tie" if key == TIE else label(key)


def margin_text(v):
    """'1.80×', '≥ 1.80×', '1.80× projected', 'no other model passed' or ''."""
    if v["kind"] == "alone":
        return "no other model passed"
    if v["margin"] is None:
        return ""
    text = ratio_number(v["margin"]) + "×"
    return {"at-least": "≥ " + text, "projected": text + " projected"}.get(v["kind"], text)


def margin_range(verdicts):
    """'1.20–3.10×' or '1.40×' over the margins of verdicts; '' if none has one."""
    ms = sorted(v["margin"] for v in verdicts if v["margin"])
    if not ms:
        return ""
    lo, hi = ratio_number(ms[0]), ratio_number(ms[-1])
    return (lo if lo == hi else f"{lo}–{hi}") + "×"


def w_text(w):
    """CPU work per request as the grid names it: 0, 10 µs, 1 ms."""
    return "0" if not w else f"{w:g} µs" if w < 1000 else f"{w / 1000:g} ms"


def b_text(b):
    """The blocking call: 'no blocking call' or 'a 1 ms blocking call'."""
    return "no blocking call" if not b else f"a {b:g} ms blocking call"


def c_text(c):
    return f"{c:,}"


def cell_text(c, w, b=None):
    """'[C=10, W=100 µs]' (with ', B=1 ms' when b is given)."""
    return (f"[C={c_text(c)}, W={w_text(w)}"
            + ("" if b is None else ", B=0" if not b else f", B={b:g} ms") + "]")


def c_span(cs):
    """'C = 1–100' or 'C = 10' over a sorted list of connection counts."""
    return f"C = {c_text(cs[0])}" + (f"–{c_text(cs[-1])}" if cs[-1] != cs[0] else "")


def w_span(ws):
    """'W = 0–1 ms' or 'W = 10 µs'."""
    return f"W = {w_text(ws[0])}" + (f"–{w_text(ws[-1])}" if ws[-1] != ws[0] else "")
