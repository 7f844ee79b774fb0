"""Capacity terms: what one `tvl capacity` row says about its broker, in the words every part of
the report uses, and the ratio between brokers at one subscriber count.

A capacity is *measured* (the broker was the limit), *at least* X (a probe above it failed because
the load generator, not the broker, ran out of CPU), or absent (no probe passed: then the lowest
rate tried, its p99 and the broker's floor say how far off it was). Beside a capacity stands its
*projected* ceiling: 10⁶ ÷ the broker's CPU seconds per million deliveries at its highest passing
probe, what one core would carry were the broker the only limit. A ratio between brokers is
measured when every capacity in it was; otherwise every term in it is a projected ceiling, so no
ratio mixes a latency-bound capacity with a CPU bound. The capacity section and the headline
both read capacities through this module, so a number reads the same in both.
"""

# The brokers a ratio compares, in the order it names them: (model, design, label).
RATIO_BROKERS = (("asyncloop", "improved", "asyncloop"), ("threads", "improved", "threads"),
                 ("redis", "peer", "redis-server"), ("python", "peer", "python"))
RATIO_REFERENCE = "redis-server"  # the term set to 1 when it is in the ratio
SEARCH_KINDS = ("search", "confirm")  # probe_log kinds that tried a rate for the capacity


def positive(value):
    """value when it is a number above zero, else None (absent, NaN, 0: nothing measured)."""
    return value if isinstance(value, (int, float)) and value == value and value > 0 else None


def is_measured(c):
    """Whether a capacity was measured: some probe passed and the broker, not the load
    generator, was the limit."""
    return bool(positive(c.get("capacity"))) and not c.get("load_bound")


def broker_cpu(c):
    """Broker CPU seconds per million deliveries at capacity (older rows: cpu_s_per_million)."""
    return positive(c.get("broker_cpu_s_per_million")) or positive(c.get("cpu_s_per_million"))


def lowest_tried(row):
    """When no probe passed: (offered/s, p99 µs or None, verdict or None, fields it came from)
    of the lowest rate tried, from the row's lowest_* fields or, in older rows, its probe_log;
    None when neither records it."""
    c = row["counters"]
    if positive(c.get("lowest_offered")):
        return (c["lowest_offered"], positive(c.get("lowest_p99_us")),
                row["labels"].get("lowest_verdict"), ("lowest_offered", "lowest_p99_us"))
    tried = [e for e in row.get("probe_log", []) if positive(e.get("offered"))
             and e.get("kind", "search") in SEARCH_KINDS and e.get("verdict") != "flood"]
    if not tried:
        return None
    e = min(tried, key=lambda e: e["offered"])
    p99_ms = positive(e.get("p99_ms"))
    return e["offered"], p99_ms * 1e3 if p99_ms else None, e.get("verdict"), ("probe_log",)


def ceiling(row, from_cpu=False):
    """(projected ceiling, the field it was read from) of a row, or (None, field). from_cpu:
    computed as 10⁶ ÷ cpu_s_per_million, for results written before projected_ceiling was."""
    c = row["counters"]
    if not from_cpu:
        return positive(c.get("projected_ceiling")), "projected_ceiling"
    cpu = positive(c.get("cpu_s_per_million")) if positive(c.get("capacity")) else None
    return (1e6 / cpu if cpu else None), "cpu_s_per_million"


def broker_ratio(found):
    """The ratio between the brokers of found ({label: row} at one subscriber count and one
    placement, RATIO_BROKERS labels). Returns None with fewer than two terms, else a dict:
    kind ('measured' or 'projected'), terms [(label, value, row)] in RATIO_BROKERS order,
    reference (the label set to 1), field (what each value is: capacity, projected_ceiling or
    cpu_s_per_million, whose reciprocal it then is) and left_out [(label, row)]: brokers with
    no value of that kind (no probe passed)."""
    rows = [(label, found[label]) for _, _, label in RATIO_BROKERS
            if label in found and not found[label].get("failure")]
    passed = [(label, r) for label, r in rows if positive(r["counters"].get("capacity"))]
    if all(is_measured(r["counters"]) for _, r in passed):
        kind, field = "measured", "capacity"
        terms = [(label, r["counters"]["capacity"], r) for label, r in passed]
    else:
        kind = "projected"
        from_cpu = not any("projected_ceiling" in r["counters"] for _, r in rows)
        valued = [(label, *ceiling(r, from_cpu), r) for label, r in rows]
        field = valued[0][2] if valued else "projected_ceiling"
        terms = [(label, value, r) for label, value, _, r in valued if value]
    if len(terms) < 2:
        return None
    named = [label for label, _, _ in terms]
    left_out = [(label, r) for label, r in rows if label not in named]
    reference = RATIO_REFERENCE if RATIO_REFERENCE in named else named[-1]
    return dict(kind=kind, terms=terms, reference=reference, field=field, left_out=left_out)


def ratio_value(ratio, value):
    """A term over the reference's value."""
    ref = next(v for label, v, _ in ratio["terms"] if label == ratio["reference"])
    return value / ref


def ratio_number(x):
    """A ratio term written with three significant digits: 7.23, 0.205, 1."""
    return "1" if x == 1 else f"{x:,.0f}" if x >= 99.95 else f"{x:#.3g}".rstrip(".")


def ratio_line(ratio):
    """'asyncloop : threads : redis-server = 5.37 : 3.41 : 1' (no kind)."""
    names = " : ".join(label for label, _, _ in ratio["terms"])
    values = " : ".join(ratio_number(ratio_value(ratio, v)) for _, v, _ in ratio["terms"])
    return f"{names} = {values}"
