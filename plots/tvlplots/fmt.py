"""Formatting: numbers, durations, rates and the machine context as the report writes them.

Every section prints through these, so one value reads the same in every table and sentence.
"""


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


def ratio(a, b):
    """a / b written as '0.98×', or a dash when it is not defined."""
    return "—" if a is None or b is None or b <= 0 or a != a else f"{a / b:.2f}×"


def latency_tick(v, _=None):
    """A latency tick in µs written plainly: 500 µs, 2 ms, 1.5 s."""
    for scale, unit in ((1e6, "s"), (1e3, "ms"), (1, "µs")):
        if v >= scale or scale == 1:
            return f"{v / scale:g} {unit}"


def rate_tick(v, _=None):
    """A rate tick written plainly: 500 /s, 20 k/s, 1 M/s."""
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")):
        if v >= scale or scale == 1:
            return f"{v / scale:g} {prefix}/s"
