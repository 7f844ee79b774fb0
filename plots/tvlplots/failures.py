"""Failures: what a sweep point that did not run is shown as, read from its structured fields.

`tvl sweep` records a point that could not run with `sweep_failed`, a human `failure_reason`,
and, when it knows which limit stopped it, `failure_kind` and `failure_detail` (checked in
load.py). Only those fields are interpreted here; the reason text is shown, never parsed.
"""

# What each process-wide limit counts, for the threads a thread_limit failure had created:
# (key in failure_detail.limits, how many of it n threads take, what that is).
THREAD_LIMITS = (("pid_max", 1, "threads (a thread takes a pid, system-wide)"),
                 ("threads-max", 1, "threads (system-wide)"),
                 ("RLIMIT_NPROC", 1, "threads (per user)"),
                 ("max_map_count", 2, "memory mappings (a stack and its guard page each)"))


def short_failure(p):
    """The head of a point's failure, short enough to annotate a chart."""
    d = p["failure_detail"]
    if p["failure_kind"] == "thread_limit":
        cause = f" ({d['cause']})" if d.get("cause") else ""
        return f"thread creation failed after {d['threads']} threads{cause}"
    if p["failure_kind"] == "fd_limit":
        return f"open-files hard limit {d['hard_limit']}, {d['needed']} descriptors needed"
    reason = p["failure"]
    return reason if len(reason) <= 70 else reason[:67] + "..."


def limit_values(detail):
    """The limits a thread_limit failure lists that the kernel gave as numbers ('unlimited',
    'max' and '?' are not)."""
    limits = detail.get("limits") or {}
    return {k: v for k, v in limits.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def thread_limit_check(p):
    """Blocks comparing a point that ran out of threads with the limits it recorded; none for
    any other failure."""
    if p["failure_kind"] != "thread_limit":
        return []
    n, limits = p["failure_detail"]["threads"], limit_values(p["failure_detail"])
    table, shares = [["limit", "value", "this process had", "share"]], {}
    for key, per_thread, what in THREAD_LIMITS:
        if limits.get(key):
            shares[key] = n * per_thread / limits[key]
            table.append([key, f"{limits[key]:,}", f"{n * per_thread:,} {what}",
                          f"{shares[key]:.1%}"])
    stack, avail = limits.get("default_stack_kib"), limits.get("MemAvailable_kib")
    reserved = n * stack if stack else None
    if reserved and avail:  # shown, not judged: reserved stack is not memory in use
        table.append(["MemAvailable", f"{avail:,} KiB", f"{reserved:,} KiB of stacks reserved "
                      "(virtual; only touched pages are resident)", f"{reserved / avail:.1%}"])
    if not shares:
        return []
    closest = max(shares, key=shares.get)
    near = sorted((k for k in shares if shares[k] >= 0.8), key=shares.get, reverse=True)
    if near:
        verdict = ("The limit it ran into: " + " or ".join(f"**{k}** ({shares[k]:.1%} used)"
                                                         for k in near) + ".")
    else:
        verdict = (f"None of the limits the reason lists was near (the closest, {closest}, was "
                   f"{shares[closest]:.1%} used), so the limit is one it does not list: a cap on "
                   "the process's address space (RLIMIT_AS, which `tvl sweep --max-address-space` "
                   "sets" + (f"; {n:,} threads reserve {reserved / 1024:,.0f} MiB of stack"
                             if reserved else "")
                   + "), a strict commit limit (`vm.overcommit_memory=2`) or a container's task "
                   "limit (cgroup `pids.max`).")
    cause = p["failure_detail"].get("cause") or "an error"
    return [("p", f"Thread creation failed with `{cause}` after {n:,} threads. " + verdict),
            ("table", table)]
