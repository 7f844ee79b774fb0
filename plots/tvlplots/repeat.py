"""Repeatability: every capacity of this run beside the same row of the previous run of the
same profile (`scripts/report.sh` keeps it in results/<profile>.previous/).

A capacity that cannot be told apart from the next run's is only as good as its agreement with
it. Rows are matched by name (scenario, model, variant and every parameter); two capacities
agree when they are within REPEAT_WITHIN of each other (|a − b| ÷ max(a, b)), or within the
search's precision where that is coarser. A row that was
load-bound in either run is a lower bound, not the broker's number: it is listed, never
counted. Beside each pair, the broker's (or echo server's) CPU per delivery in each run: where
it moved as much as the capacity did, the broker itself ran slower or faster, not the search;
and how far the load generator's CPU per delivery moved, the same work in both runs: where it
moved as well, the whole machine did.
"""
from .capacity_terms import positive
from .fmt import si

REPEAT_WITHIN = 0.15  # two runs of the same capacity agree within this (issue 16's bar)
EXPLAINED_POINTS = 0.05  # a CPU per delivery this close to the capacity's spread explains it
SCENARIOS = ("fanout_capacity", "echo_capacity")
CPU_FIELDS = {"fanout_capacity": ("cpu_s_per_million", "s/M"),
              "echo_capacity": ("cpu_us_per_request", "µs")}
# The load generator's CPU per delivery: the same work in both runs, whatever the broker did.
LOAD_CPU_FIELDS = {"fanout_capacity": "load_cpu_s_per_million",
                   "echo_capacity": "load_cpu_us_per_request"}


def row_key(r):
    """What names a row across runs: scenario/model/variant and its parameters."""
    return "/".join([r["scenario"], r["model"], r["variant"]]
                    + [f"{k}:{v}" for k, v in r["params"].items()])


def apart(a, b):
    """|a − b| ÷ max(a, b)."""
    return abs(a - b) / max(a, b)


def cpu_text(r):
    """The broker's CPU per delivery (or the server's per request) at capacity, or '—'."""
    field, unit = CPU_FIELDS[r["scenario"]]
    value = positive(r["counters"].get(field))
    return f"{value:.3g} {unit}" if value else "—"


def cpu_apart(old, new, field=None):
    """How far apart the two runs' CPU per delivery came out (the broker's, or `field`), or None."""
    field = field or CPU_FIELDS[new["scenario"]][0]
    a, b = (positive(r["counters"].get(field)) for r in (old, new))
    return apart(a, b) if a and b else None


def explained(spread, cpu):
    """Whether the broker's own CPU per delivery moved as much as its capacity (within
    EXPLAINED_POINTS): a broker that ran slower, not a search that settled elsewhere."""
    return cpu is not None and cpu >= spread - EXPLAINED_POINTS


def cap_text(r):
    c = r["counters"]
    if r.get("failure") or not positive(c.get("capacity")):
        return "none"
    return ("≥ " if c.get("load_bound") else "") + si(c["capacity"])


def pairs(rows, previous):
    """[(key, previous row, this row)] of the capacity rows both runs have, in this run's order."""
    before = {row_key(r): r for r in previous if r["scenario"] in SCENARIOS}
    return [(row_key(r), before[row_key(r)], r) for r in rows
            if r["scenario"] in SCENARIOS and row_key(r) in before]


def bar(old, new):
    """How close two runs must come to agree: REPEAT_WITHIN, or the search's own precision
    where that is coarser (a search that bisects to 30% cannot repeat itself to 15%)."""
    return max([REPEAT_WITHIN] + [r["counters"]["precision"] for r in (old, new)
                                  if positive(r["counters"].get("precision"))])


def judge(old, new):
    """('agree'|'apart'|'load-bound'|'none', spread or None) of one pair."""
    a, b = (positive(r["counters"].get("capacity")) if not r.get("failure") else None
            for r in (old, new))
    if not a or not b:
        return "none", None
    if old["counters"].get("load_bound") or new["counters"].get("load_bound"):
        return "load-bound", apart(a, b)
    s = apart(a, b)
    return ("agree" if s <= bar(old, new) else "apart"), s


def repeat_blocks(rows, previous, previous_context):
    """The section's blocks: a sentence with the count, then the table; [] without pairs."""
    found = pairs(rows, previous)
    if not found:
        return []
    judged = [(key, old, new, *judge(old, new)) for key, old, new in found]
    compared = [j for j in judged if j[3] in ("agree", "apart")]
    agree = [j for j in compared if j[3] == "agree"]
    far = [j for j in compared if j[3] == "apart"]
    when = previous_context.get("date", "an earlier run")
    rev = previous_context.get("git_revision")
    text = (f"Each capacity of this run beside the same row of the previous run of this profile "
            f"({when}" + (f", revision `{rev}`" if rev else "") + "). "
            f"**{len(agree)} of the {len(compared)}** capacities that were the broker's own in "
            f"both runs (not load-bound) agree within {REPEAT_WITHIN:.0%}, or within their "
            "search's precision where that is coarser")
    if far:
        text += ("; apart by more: " + ", ".join(f"`{k}` ({s:.0%})" for k, _, _, _, s in far))
        moved = [j for j in far if explained(j[4], cpu_apart(j[1], j[2]))]
        text += (f". Of those {len(far)}, **{len(moved)}** moved with the broker's own CPU per "
                 "delivery (within "
                 f"{EXPLAINED_POINTS * 100:.0f} points of it): the broker ran slower or faster "
                 "between the runs, not the search")
        load = [cpu_apart(j[1], j[2], LOAD_CPU_FIELDS[j[2]["scenario"]]) for j in far]
        if all(x is not None for x in load):
            text += ("; the load generator's CPU per delivery, the same work in both runs, "
                     "moved by " + ", ".join(f"{x:.0%}" for x in load) + " there (where it moved "
                     "as much as the capacity, the whole machine ran at another speed)")
    bounded = [j for j in judged if j[3] == "load-bound"]
    if bounded:
        text += (f". {len(bounded)} more were load-bound in one run or both: lower bounds, "
                 "not compared")
    text += "."
    table = [["row", "previous", "this run", "apart", "CPU per delivery (previous → this)",
              "CPU apart", "generator CPU apart", "verdict"]]
    pct = lambda x: f"{x:.0%}" if x is not None else "—"
    for key, old, new, verdict, s in judged:
        table.append([key, cap_text(old), cap_text(new), pct(s),
                      f"{cpu_text(old)} → {cpu_text(new)}", pct(cpu_apart(old, new)),
                      pct(cpu_apart(old, new, LOAD_CPU_FIELDS[new["scenario"]])),
                      {"agree": f"within {bar(old, new):.0%}", "apart": "**apart**",
                       "load-bound": "load-bound: not compared",
                       "none": "no capacity in one run"}[verdict]])
    return [("p", text), ("table", table)]
