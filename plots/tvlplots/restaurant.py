"""Restaurant (book ch. 1, The Restaurant of ThreadBots): bots serving diners on a schedule.

Reads the registry's `restaurant/<model>/<variant>/staff:S/chatty:C` rows (idle time per role
beside the book's figures, the chatty guest, collisions) and the `tvl sweep restaurant` points
(`.../sweep:scale/tables:N`: memory and overhead per concurrent table, each point in its own
child process). A point that did not run is drawn and listed with its reason; one that ran out
of threads is compared with the limits it recorded (failures.py).
"""
from .charts import log_floor, plain_log_axis, stamp
from .failures import short_failure, thread_limit_check
from .fmt import dur, num, pct
from .load import PlotError
from . import palette
from .sweeps import draw_sweep, sweep_stamp

# The book's two idle figures (Using Asyncio in Python, ch. 1). They are quoted from the book,
# not measured, and drawn only as references beside what tvl measured.
BOOK_THREADBOT_IDLE_PCT = 98  # "the busiest ThreadBot is idle about 98% of the time"
BOOK_LOOPBOT_IDLE_PCT = 97    # "one LoopBot doing all seven bots' work is still about 97% idle"
REST_MODELS = ["threads", "threads-per-table", "tbb", "asyncloop"]
# The roles are told apart by marker, in greys: a model's hue would say "this is a model".
REST_ROLES = {"GreetBot": ("o", palette.INK), "WaitBot": ("s", palette.MUTED),
              "ChefBot": ("^", palette.SOFT), "WineBot": ("v", palette.RULE)}
REST_COLLISIONS = ("duplicate_order", "seated_while_clearing", "plate_grabbed", "other")
REST_NEEDS = ("items_per_second", "p50_us", "p99_us", "overhead_p50_us", "overhead_p99_us",
              "lateness_p99_us", "busiest_bot_idle_pct", "collisions", "os_threads")
REST_SWEEP_NEEDS = ("kib_per_table", "overhead_p50_us", "overhead_p99_us", "lateness_p99_us")


def rest_name(r):
    """The row's benchmark name without Google Benchmark's suffixes."""
    return "/".join(["restaurant", r["model"], r["variant"]]
                    + [f"{k}:{v}" for k, v in r["params"].items()])


def rest_rank(r):
    """Sort key: models in lesson order, safe before unsafe, book before weekend, chatty last."""
    model = REST_MODELS.index(r["model"]) if r["model"] in REST_MODELS else 99
    chatty = ["none", "block", "offload"]
    return (r["chatty"] in chatty[1:], model, r["model"], r["variant"] != "safe",
            r["staff"] != "book", chatty.index(r["chatty"]) if r["chatty"] in chatty else 9)


def restaurant_rows(rows):
    """Split rows into registry rows (sorted) and {model: sweep points sorted by tables}."""
    registry, sweeps = [], {}
    for r in rows:
        c = r["counters"]
        r["tables"] = r["params"].get("tables", c.get("tables"))
        r["staff"], r["chatty"] = r["params"].get("staff", ""), r["params"].get("chatty", "")
        sweep = "sweep" in r["params"]
        needs = () if r.get("failure") else REST_SWEEP_NEEDS if sweep else REST_NEEDS
        missing = [k for k in needs if k not in c] + (["tables"] if r["tables"] is None else [])
        if missing:
            raise PlotError(f"{rest_name(r)}: missing counter " + ", ".join(missing))
        if sweep:
            key = r["model"] if r["variant"] == "safe" else f"{r['model']}/{r['variant']}"
            sweeps.setdefault(key, []).append(r)
        else:
            registry.append(r)
    order = lambda m: (REST_MODELS.index(m.split("/")[0]) if m.split("/")[0] in REST_MODELS
                       else 99, m)
    return (sorted(registry, key=rest_rank),
            {m: sorted(sweeps[m], key=lambda r: r["tables"]) for m in sorted(sweeps, key=order)})


def collisions_text(c):
    """'68 (plate_grabbed 36, other 32)': the total, then each kind that occurred."""
    kinds = [f"{k} {num(c[f'collisions_{k}'], 0)}" for k in REST_COLLISIONS
             if c.get(f"collisions_{k}")]
    return num(c["collisions"], 0) + (f" ({', '.join(kinds)})" if kinds else "")


def rest_style(model):
    """A restaurant sweep series' colour and marker, by model."""
    return dict(color=palette.color(model), marker=palette.marker(model))


def sweep_figure(plt, sweeps, keys, ylabel, title, context, command):
    """Log-log chart of sweep points against tables; a point that did not run is an ✕."""
    from matplotlib.ticker import FuncFormatter
    fig, ax = plt.subplots(figsize=(10, 6))
    draw_sweep(ax, sweeps, keys, x="tables", unit="tables", style=rest_style,
               mark="stopped")
    ax.set(yscale="log", xlabel="concurrent tables (log scale)", ylabel=ylabel, title=title)
    ax.grid(True, which="major", alpha=0.3)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    plain_log_axis(ax.yaxis)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.subplots_adjust(left=0.09, right=0.7, top=0.9, bottom=0.2)
    return fig, ax


def restaurant_memory_figure(plt, sweeps, context, command):
    """KiB per table against tables, with the threads' reserved stack size as a reference."""
    fig, ax = sweep_figure(plt, sweeps, [("kib_per_table", "-", "")],
                           "peak RSS growth per table, KiB (log scale)",
                           "Restaurant: memory per concurrent table", context, command)
    stacks = {p["counters"]["stack_kib"] for pts in sweeps.values() for p in pts
              if p["counters"].get("stack_kib")}
    for s in sorted(stacks):
        ax.axhline(s, color=palette.RULE, linestyle="--", linewidth=1)
        ax.annotate(f"a thread's stack, reserved (virtual, not resident): {s:,.0f} KiB",
                    xy=(0.01, s), xycoords=ax.get_yaxis_transform(), xytext=(0, -4),
                    textcoords="offset points", va="top", fontsize=7.5, color=palette.MUTED)
    plain_log_axis(ax.yaxis)
    sweep_stamp(fig, sweeps, context, command)
    return fig


def restaurant_overhead_figure(plt, sweeps, context, command):
    """Latency over the ideal meal, p50 and p99, against tables."""
    fig, _ = sweep_figure(plt, sweeps, [("overhead_p50_us", "-", " p50"),
                                        ("overhead_p99_us", "--", " p99")],
                          "diner latency minus the ideal meal, µs (log scale)",
                          "Restaurant: latency overhead over the ideal meal "
                          "(solid p50, dashed p99)",
                          context, command)
    sweep_stamp(fig, sweeps, context, command)
    return fig


def restaurant_idle_figure(plt, picks, context, command):
    """Idle % per role, busiest bot and loop thread, per model and staff, beside the book's."""
    fig, ax = plt.subplots(figsize=(12, 6))
    seen = set()

    def point(x, y, label, **style):
        ax.plot([x], [y], linestyle="none", label=None if label in seen else label, **style)
        seen.add(label)

    for i, r in enumerate(picks):
        c = r["counters"]
        for j, (role, (role_marker, role_color)) in enumerate(REST_ROLES.items()):
            if f"idle_pct_{role}" in c:
                point(i + (j - 1.5) * 0.13, c[f"idle_pct_{role}"], f"{role} (mean of its bots)",
                      marker=role_marker, color=role_color, markersize=6)
        ax.plot([i - 0.3, i + 0.3], [c["busiest_bot_idle_pct"]] * 2, color="black",
                linewidth=2.2, label=None if i else "busiest bot")
        if "loop_idle_pct" in c:
            point(i, c["loop_idle_pct"], "asyncloop's one thread\n(doing every bot's work)",
                  marker="*", markersize=15, color=palette.color("asyncloop"),
                  markeredgecolor="black", markeredgewidth=0.5)
        if i and r["model"] != picks[i - 1]["model"]:
            ax.axvline(i - 0.5, color=palette.GRID, linewidth=0.8)
    # The book's figures, each over the models it speaks of: its ThreadBots, its LoopBot.
    loops = [i for i, r in enumerate(picks) if r["model"].startswith("asyncloop")]
    threads = [i for i in range(len(picks)) if i not in loops]
    for idx, value, style, label in (
            (threads, BOOK_THREADBOT_IDLE_PCT, "--", "the book: busiest ThreadBot"),
            (loops, BOOK_LOOPBOT_IDLE_PCT, ":", "the book: one LoopBot doing 7 bots' work")):
        if idx:
            line_color = palette.color("asyncloop" if idx is loops else "threads")
            ax.hlines(value, min(idx) - 0.45, max(idx) + 0.45, color=line_color,
                      linestyle=style, linewidth=1.6)
            ax.text(min(idx) - 0.42, value, f"{label}\n≈ {value}% idle", fontsize=7,
                    color=line_color, ha="left", va="bottom")
    values = [v for r in picks for k, v in r["counters"].items()
              if k.startswith("idle_pct_") or k in ("busiest_bot_idle_pct", "loop_idle_pct")]
    low = min(values + [BOOK_LOOPBOT_IDLE_PCT])
    ax.set_ylim(max(0, low - (100 - low) * 0.15), 100 + (100 - low) * 0.05)
    ax.set_xticks(range(len(picks)))
    ax.set_xticklabels([r["model"].replace("-per-", "-per-\n") + f"\n{r['staff']} staff"
                        for r in picks], fontsize=8)
    ax.set(ylabel="idle, % of the run's wall-clock time",
           title="Restaurant: how idle the bots are (safe, no chatty guest)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.subplots_adjust(left=0.07, right=0.76, top=0.92, bottom=0.2)
    stamp(fig, context, command)
    return fig


def restaurant_chatty_figure(plt, picks, context, command):
    """Overhead p50/p99 and timer lateness p99 with and without the chatty guest, as bars."""
    fig, ax = plt.subplots(figsize=(10, 6))
    bars = [("overhead_p50_us", "overhead p50", *palette.QUANTITIES[0]),
            ("overhead_p99_us", "overhead p99", *palette.QUANTITIES[2]),
            ("lateness_p99_us", "timer lateness p99", *palette.QUANTITIES[3])]
    width = 0.26
    for j, (key, label, bar_color, hatch) in enumerate(bars):
        for i, r in enumerate(picks):
            v = r["counters"][key]
            ax.bar(i + (j - 1) * width, v, width, color=bar_color, hatch=hatch, edgecolor=palette.INK,
                   linewidth=0.5, label=label if i == 0 else None)
            ax.text(i + (j - 1) * width, v * 1.1, dur(v), ha="center", va="bottom", fontsize=7,
                    rotation=90)
    ax.set(yscale="log", ylabel="µs (log scale)", xticks=range(len(picks)),
           title="Restaurant: the chatty guest (weekend staff, safe)")
    ax.set_xticklabels([f"{r['model']}\nchatty: {r['chatty']}" for r in picks], fontsize=8)
    ax.set_ylim(bottom=log_floor([r["counters"][k] for r in picks for k, *_ in bars]),
                top=ax.get_ylim()[1] * 6)
    plain_log_axis(ax.yaxis)
    for i in range(1, len(picks)):
        if picks[i]["model"] != picks[i - 1]["model"]:
            ax.axvline(i - 0.5, color=palette.GRID, linewidth=0.8)
    ax.grid(True, axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    fig.subplots_adjust(left=0.09, right=0.97, top=0.92, bottom=0.2)
    stamp(fig, context, command)
    return fig


def restaurant_registry_table(registry):
    """One row per registry configuration, with the counters the lesson discusses."""
    table = [["model", "variant", "staff", "chatty", "meals/s", "latency p50", "latency p99",
              "overhead p50", "overhead p99", "lateness p99", "busiest bot idle",
              "loop idle", "collisions", "OS threads", "vcsw", "ivcsw"]]
    for r in registry:
        c = r["counters"]
        table.append([r["model"], r["variant"], r["staff"], r["chatty"],
                      f"{c['items_per_second']:.1f}", dur(c["p50_us"]), dur(c["p99_us"]),
                      dur(c["overhead_p50_us"]), dur(c["overhead_p99_us"]),
                      dur(c["lateness_p99_us"]), pct(c["busiest_bot_idle_pct"]),
                      pct(c.get("loop_idle_pct")), collisions_text(c),
                      num(c["os_threads"], 0), num(c.get("vcsw"), 0), num(c.get("ivcsw"), 0)])
    return table


def restaurant_sweep_table(sweeps):
    """One row per sweep point, failed points included."""
    table = [["model", "tables", "KiB per table", "overhead p50", "overhead p99",
              "lateness p99", "OS threads", "busiest bot idle", "loop idle", "outcome"]]
    for model, points in sweeps.items():
        for p in points:
            c = p["counters"]
            if p.get("failure"):
                table.append([model, f"{p['tables']:,}"] + ["—"] * 7 + ["did not run (below)"])
                continue
            table.append([model, f"{p['tables']:,}", f"{c['kib_per_table']:.2f}",
                          dur(c["overhead_p50_us"]), dur(c["overhead_p99_us"]),
                          dur(c["lateness_p99_us"]), num(c.get("os_threads"), 0),
                          pct(c.get("busiest_bot_idle_pct")), pct(c.get("loop_idle_pct")), "ran"])
    return table


def find_row(registry, model, variant="safe", staff="weekend", chatty="none"):
    """The registry row of one configuration, or None."""
    match = [r for r in registry if (r["model"], r["variant"], r["staff"], r["chatty"])
             == (model, variant, staff, chatty)]
    return match[0] if match else None


def restaurant_summary(registry, sweeps):
    """Sentences computed from the rows: collisions, idle time, the chatty guest, the sweeps."""
    out = []
    unsafe = [r for r in registry if r["variant"] == "unsafe"]
    if unsafe:
        out.append("**Collisions** (bots handing a table on before they are done): "
                   + "; ".join(f"unsafe {r['model']} ({r['staff']} staff): "
                               f"{collisions_text(r['counters'])}" for r in unsafe) + ".")
    safe = [r for r in registry if r["variant"] == "safe"]
    bad = [r for r in safe if r["counters"]["collisions"] > 0]
    if bad:
        out.append("**Unexpected:** safe configurations with collisions: " + "; ".join(
            f"{r['model']} {r['staff']} chatty:{r['chatty']}: {collisions_text(r['counters'])}"
            for r in bad) + ".")
    elif safe:
        out.append(f"Every safe configuration ({len(safe)} of them) counted 0 collisions.")
    idle = [f"{r['model']} {pct(r['counters']['busiest_bot_idle_pct'])}" for r in registry
            if (r["variant"], r["staff"], r["chatty"]) == ("safe", "book", "none")]
    loop = find_row(registry, "asyncloop")
    if idle:
        out.append("**Idle time** (safe, book staff), the busiest bot's share of the run spent "
                   "idle: " + ", ".join(idle) + f" (the book: its busiest ThreadBot about "
                   f"{BOOK_THREADBOT_IDLE_PCT}%)."
                   + (f" With weekend staff, the asyncloop's one thread doing every bot's work was "
                      f"idle {pct(loop['counters']['loop_idle_pct'])} (the book's LoopBot: about "
                      f"{BOOK_LOOPBOT_IDLE_PCT}%)." if loop and "loop_idle_pct" in loop["counters"]
                      else ""))
    chatty = [(m, ch, find_row(registry, m, chatty=ch)) for m in ("asyncloop", "threads")
              for ch in ("none", "block", "offload")]
    parts = [f"{m} {ch}: overhead p99 {dur(r['counters']['overhead_p99_us'])}, timer lateness p99 "
             f"{dur(r['counters']['lateness_p99_us'])}" for m, ch, r in chatty if r]
    if any(ch != "none" for _, ch, r in chatty if r):
        out.append("**The chatty guest** (weekend staff): " + "; ".join(parts) + ". Timer "
                   "lateness is how late every diner's waits ended: the guest can delay them "
                   "only where it holds the thread that runs the timers.")
    for model, points in sweeps.items():
        ran = [p for p in points if not p.get("failure")]
        failed = [p for p in points if p.get("failure")]
        text = f"**Sweep, {model}:** "
        if ran:
            top = ran[-1]
            text += (f"ran up to {top['tables']:,} concurrent tables "
                     f"({top['counters']['kib_per_table']:.2f} KiB per table, overhead p99 "
                     f"{dur(top['counters']['overhead_p99_us'])}, "
                     f"{num(top['counters'].get('os_threads'), 0)} OS thread"
                     + ("" if top["counters"].get("os_threads") == 1 else "s") + ")")
        text += (("; " if ran else "") + "did not run at "
                 + ", ".join(f"{p['tables']:,} tables: {short_failure(p)}"
                             for p in failed) if failed else "")
        out.append(text + ".")
    return [("p", s) for s in out]


def render_restaurant(plt, rows, context, command):
    """Restaurant section: idle, chatty, memory and overhead figures, tables and a summary."""
    registry, sweeps = restaurant_rows(rows)
    figures = {}
    blocks = [("p", "Diners arrive at tables on a seeded, open-loop schedule; each meal is a "
                    "script of short bot steps (CPU) and waits (menu, cooking, eating: timers). "
                    "Overhead is a diner's latency (arrival to paid) minus the ideal meal with no "
                    "queueing; timer lateness is how late each wait ended. "
                    "Each configuration's values: "
                    + "; ".join(sorted({r["aggregate"] for r in rows})) + ".")]
    blocks += restaurant_summary(registry, sweeps)
    reg_context = registry[0]["context"] if registry else context
    idle = [r for r in registry if r["variant"] == "safe" and r["chatty"] == "none"]
    if idle:
        figures["restaurant_idle"] = restaurant_idle_figure(plt, idle, reg_context, command)
        blocks.append(("figure", "restaurant_idle",
                       "Idle time per role (the mean of its bots), of the busiest bot, and of the "
                       "asyncloop's one thread (CPU time of the loop thread against wall-clock "
                       "time), beside the book's figures, drawn as lines."))
    chatty = [r for m in ("threads", "asyncloop") for ch in ("none", "block", "offload")
              if (r := find_row(registry, m, chatty=ch))]
    if any(r["chatty"] != "none" for r in chatty):
        figures["restaurant_chatty"] = restaurant_chatty_figure(plt, chatty, reg_context, command)
        blocks.append(("figure", "restaurant_chatty",
                       "The chatty guest holds the GreetBot at the bill. `block`: inside the "
                       "bot's step; `offload`: the asyncloop hands the talk to a thread pool "
                       "(the book's `run_in_executor`)."))
    if registry:
        blocks.append(("table", restaurant_registry_table(registry)))
    if sweeps:
        sweep_context = next(iter(sweeps.values()))[0]["context"]
        figures["restaurant_memory"] = restaurant_memory_figure(plt, sweeps, sweep_context,
                                                                command)
        blocks.append(("figure", "restaurant_memory",
                       "Growth of the peak RSS during a run, divided by its tables, one child "
                       "process per point (`tvl sweep restaurant`). An ✕ marks a point that did "
                       "not run; its reason follows."))
        for p in (p for pts in sweeps.values() for p in pts if p.get("failure")):
            blocks.append(("p", f"**Did not run:** `{rest_name(p)}` — {p['failure']}"))
            blocks += thread_limit_check(p)
        figures["restaurant_overhead"] = restaurant_overhead_figure(plt, sweeps, sweep_context,
                                                                    command)
        blocks.append(("figure", "restaurant_overhead",
                       "Diner latency over the ideal meal, p50 (solid) and p99 (dashed), against "
                       "concurrent tables."))
        blocks.append(("table", restaurant_sweep_table(sweeps)))
    return blocks, figures
