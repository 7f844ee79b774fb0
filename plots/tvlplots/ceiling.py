"""The thread ceiling (von Behren et al., HotOS 2003; Capriccio, SOSP 2003): memory per task and
creation cost against N for threads with the default stack, threads with a small stack and
coroutines, each kind's line ending where a limit of the machine stopped it, named with its
value.

Reads `ceiling/<model>/<variant>/tasks:<N>` rows (`tvl ceiling --json`, results/<profile>/
ceiling.json): counters `tasks`, `created`, `reached`, `kib_per_task` (RSS growth / tasks
created, in the child that held them), `kib_per_task_slope` (the kind's least-squares slope
over its reached N), `us_per_create`, `ms_release`, `stack_kib`, `rss_kib`, `limit_value`; and
the text fields `limit` (the row's "stopped at N: ..." sentence, empty when reached) and
`limit_name`. Every number in the caption and the table is read from them.
"""
from .charts import plain_log_axis, stamp
from .fmt import num
from .load import PlotError
from . import palette

KIND_ORDER = ["threads/default-stack", "threads/small-stack", "asyncloop/awaitable"]
CLAIMS = ("von Behren, Condit and Brewer (\"Why Events Are A Bad Idea\", HotOS 2003) argued that "
          "threads can scale as well as events given a good implementation; Capriccio (SOSP "
          "2003) ran 100,000 threads with small stacks, through linked stacks and a user-level "
          "scheduler.")


def tenths(value):
    """One decimal; a value that rounds to zero prints as 0.0, whatever its sign (a system-wide
    reading can dip below its baseline by a few bytes per task)."""
    if value is None or value != value:
        return "—"
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def kind_of(r):
    return f"{r['model']}/{r['variant']}"


TASK_KEYS = ("tasks", "created", "reached", "kib_per_task", "us_per_create")
ECHO_KEYS = ("connections", "opened", "reached", "kib_per_connection")


def ceiling_kinds(rows, needs=TASK_KEYS, scenario="ceiling"):
    """{kind: its rows by N (needs[0])}, in KIND_ORDER (others after, by name); each row
    checked for the counters it needs."""
    kinds = {}
    for r in rows:
        missing = [k for k in needs if k not in r["counters"]]
        if missing:
            raise PlotError(f"{scenario}/{kind_of(r)}: no {', '.join(missing)} counter")
        kinds.setdefault(kind_of(r), []).append(r)
    order = lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else 99, k)
    return {k: sorted(kinds[k], key=lambda r: r["counters"][needs[0]])
            for k in sorted(kinds, key=order)}


def series_style(kind, index_in_model):
    """The model's colour and marker; a second kind of the same model takes the light shade
    and a dashed line, so that it shows where it lies on the first."""
    return dict(color=palette.color(kind, index_in_model), marker=palette.marker(kind),
                linestyle="--" if index_in_model else "-")


def stopped_row(krows):
    """The row where a kind stopped (not reached), or None if it reached every N."""
    return next((r for r in krows if not r["counters"]["reached"]), None)


def limit_label(r):
    """'pid_max = 32,768' from a stopped row's fields, or its failure when no limit was named."""
    name = r["labels"].get("limit_name", "")
    value = r["counters"].get("limit_value")
    if name and value is not None:
        return f"{name} = {value:,.0f}"
    return name or "no limit named"


def draw_panel(ax, kinds, key, ylabel, title, keys=TASK_KEYS):
    """One line per kind over its reached N; the stopped point as a red X with its limit.
    keys: the counters of N and of what was made (tasks and created, or connections and
    opened)."""
    n_key, got_key = keys[0], keys[1]
    from matplotlib.ticker import NullLocator
    seen, stops = {}, 0
    for kind, krows in kinds.items():
        model = kind.split("/")[0]
        seen[model] = seen.get(model, -1) + 1
        style = series_style(kind, seen[model])
        reached = [r for r in krows if r["counters"]["reached"]]
        xs = [r["counters"][n_key] for r in reached]
        ax.plot(xs, [r["counters"][key] for r in reached], label=kind, **style)
        stop = stopped_row(krows)
        if stop and stop["counters"][got_key] > 0:
            x, y = stop["counters"][got_key], stop["counters"][key]
            ax.plot([xs[-1], x] if xs else [x], [reached[-1]["counters"][key], y] if xs else [y],
                    linestyle=":", color=style["color"])
            ax.plot([x], [y], "X", color=palette.FLAG, markersize=10, zorder=5)
            # Labels stacked down the right side, each pointing at its X, so two kinds
            # stopped by the same limit do not print over each other.
            ax.annotate(f"{kind} stopped at {stop['counters'][n_key]:,.0f}:\n"
                        f"{limit_label(stop)} ({x:,.0f} {got_key})", (x, y),
                        xytext=(0.98, 0.62 - 0.14 * stops), textcoords="axes fraction",
                        ha="right", va="top", fontsize=7, color=palette.INK,
                        arrowprops=dict(arrowstyle="-", color=palette.RULE, linewidth=0.7))
            stops += 1
    ax.set(xscale="log", yscale="log", ylabel=ylabel, title=title,
           xlabel=f"{'waiting tasks' if n_key == 'tasks' else 'idle connections'} N (log scale)")
    ax.set_ylim(top=ax.get_ylim()[1] * 3)
    ladder = []
    for n in sorted({r["counters"][n_key] for krows in kinds.values() for r in krows}):
        if not ladder or n >= ladder[-1] * 1.25:  # 19,000 and 20,000 would print over each other
            ladder.append(n)
    ax.set_xticks(ladder, [f"{n:,.0f}" for n in ladder], fontsize=8)
    ax.xaxis.set_minor_locator(NullLocator())
    plain_log_axis(ax.yaxis)
    ax.grid(True, which="major", alpha=0.3)


def ceiling_figure(plt, kinds, context, command):
    """Left: KiB per waiting task against N. Right: µs per created task against N."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.8))
    draw_panel(left, kinds, "kib_per_task", "KiB of RSS per waiting task (log scale)",
               "Memory per waiting task")
    draw_panel(right, kinds, "us_per_create", "µs per task created (log scale)",
               "Creation cost: wall time to create N / N")
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, frameon=False, loc="lower center", ncol=len(labels),
               bbox_to_anchor=(0.5, 0.06))
    fig.subplots_adjust(left=0.07, right=0.98, top=0.92, bottom=0.24, wspace=0.22)
    stamp(fig, context, command)
    return fig


def kind_sentence(kind, krows):
    """What one kind did on this machine, from its rows."""
    last_reached = [r for r in krows if r["counters"]["reached"]]
    stop = stopped_row(krows)
    c = krows[0]["counters"]
    stack = f", {c['stack_kib']:,.0f} KiB stack" if c.get("stack_kib") else ""
    slope = c.get("kib_per_task_slope")
    cost = (f"{slope:.2f} KiB of RSS per task (slope over N)" if slope is not None else "")
    top = last_reached[-1]["counters"] if last_reached else None
    extra = "".join(f", {top[k]:,.1f} KiB {what} per task" for k, what in
                    (("vm_kib_per_task", "of address space"), ("kernel_kib_per_task",
                                                               "of kernel memory"))
                    if top and k in top)
    got = (f"held {top['tasks']:,.0f} waiting tasks ({cost}{extra}, "
           f"{top['us_per_create']:.1f} µs per creation at that N, all released in "
           f"{top.get('ms_release', float('nan')):.0f} ms)" if top else "reached no N")
    if stop:
        end = (f"; stopped at {stop['counters']['tasks']:,.0f} after "
               f"{stop['counters']['created']:,.0f} created: {limit_label(stop)}")
    else:
        end = "; it reached every N asked for"
    return f"**{kind}**{stack}: {got}{end}."


def render_ceiling(plt, rows, context, command):
    """The ceiling section: the figure, a caption with the claims and this machine's answer,
    and one table row per (kind, N)."""
    kinds = ceiling_kinds(rows)
    measured = " ".join(kind_sentence(k, v) for k, v in kinds.items())
    figures = {"ceiling": ceiling_figure(plt, kinds, context, command)}
    blocks = [("p", "How many waiting tasks each kind holds on this machine, and what each "
                    "costs: every N runs in a fresh child process that creates N tasks all "
                    "blocked on one thing a single release wakes (a latch, a timer), reads its "
                    "RSS while they wait, releases them and checks that every one finished. A "
                    "kind stops at the first N it cannot reach; the row names the limit that "
                    "stopped it, read from the failed creation's errno and from /proc."),
              ("p", "RSS counts only the pages a task touched: a thread's stack is reserved "
                    "whole (the virtual column) but resident only where used, and the kernel's "
                    "own memory per thread (its kernel stack and page tables, the kernel column, "
                    "read system-wide from /proc/meminfo and so approximate) is not in RSS at "
                    "all. Threads spare the machine's last pids (`tvl ceiling --spare-pids`), "
                    "since other processes run beside them: a kind stopped that way says so."),
              ("figure", "ceiling",
               f"Memory per waiting task (left) and creation cost (right) against N, log "
               f"scales; a red X marks where a kind stopped, with the limit that stopped it. "
               f"The claims: {CLAIMS} This machine: {measured}")]
    table = [["kind", "stack KiB", "N", "created", "reached", "KiB/task (RSS)",
              "KiB/task (virtual)", "KiB/task (kernel)", "µs/create", "release ms", "RSS MiB",
              "limit"]]
    for kind, krows in kinds.items():
        for r in krows:
            c = r["counters"]
            table.append([kind, num(c.get("stack_kib"), 0) if c.get("stack_kib") else "none",
                          f"{c['tasks']:,.0f}",
                          f"{c['created']:,.0f}", "yes" if c["reached"] else "no",
                          f"{c['kib_per_task']:.2f}", num(c.get("vm_kib_per_task"), 1),
                          tenths(c.get("kernel_kib_per_task")), f"{c['us_per_create']:.2f}",
                          num(c.get("ms_release"), 1), num(c.get("rss_kib", 0) / 1024, 1),
                          r["labels"].get("limit", "")])
    blocks.append(("table", table))
    return blocks, figures


def render_ceiling_echo(plt, rows, context, command):
    """Idle connections against each echo server: the server's RSS per connection against N,
    each server's stop marked with its limit, and a table."""
    kinds = ceiling_kinds(rows, ECHO_KEYS, "ceiling_echo")
    fig, ax = plt.subplots(figsize=(8, 5.6))
    draw_panel(ax, kinds, "kib_per_connection", "server RSS per idle connection, KiB (log scale)",
               "Echo server: memory per idle connection", ECHO_KEYS)
    ax.legend(fontsize=8, frameon=False, loc="lower left")
    fig.subplots_adjust(left=0.11, right=0.97, top=0.92, bottom=0.2)
    stamp(fig, context, command)
    words = []
    for kind, krows in kinds.items():
        held = [r["counters"] for r in krows if r["counters"]["reached"]]
        stop = stopped_row(krows)
        text = (f"**{kind}** held {held[-1]['connections']:,.0f} idle connections at "
                f"{held[-1]['kib_per_connection']:.1f} KiB of server RSS each" if held
                else f"**{kind}** held none")
        words.append(text + (f", then stopped: {limit_label(stop)}" if stop else "") + ".")
    table = [["server", "stack KiB", "N", "opened", "reached", "KiB/connection", "RSS MiB",
              "limit"]]
    for kind, krows in kinds.items():
        for r in krows:
            c = r["counters"]
            table.append([kind, num(c.get("stack_kib"), 0) if c.get("stack_kib") else "none",
                          f"{c['connections']:,.0f}", f"{c['opened']:,.0f}",
                          "yes" if c["reached"] else "no", f"{c['kib_per_connection']:.2f}",
                          num(c.get("rss_kib", 0) / 1024, 1), r["labels"].get("limit", "")])
    blocks = [("p", "Connections held open and idle against `tvl serve echo` (each says one line "
                    "and reads its answer, so the server has served it), the server's RSS read "
                    "at each N; the load process's open-files limit bounds the climb. A thread-"
                    "per-connection server is not led past the machine's last pids "
                    "(`--spare-pids`, read again every 256 connections); one that closes a "
                    "connection unserved had no thread for it, and that is read against the "
                    "thread limits as they stood then (other processes take pids too)."),
              ("figure", "ceiling_echo", "Server RSS per idle connection against N (log "
                                         "scales). " + " ".join(words)),
              ("table", table)]
    return blocks, {"ceiling_echo": fig}
