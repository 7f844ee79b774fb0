"""Sweeps: points of `tvl sweep`, one child process each, drawn against the swept parameter.

A sweep's points that did not run are part of its result: each is drawn as an ✕ where it
would have been, with its reason, and every sweep's own command is stamped on the figure.
"""
from . import palette
from .charts import stamp
from .failures import short_failure


def sweep_stamp(fig, points, context, command):
    """Stamp a sweep figure: the machine, the report command and every sweep's own command."""
    import textwrap
    stamp(fig, context, command)
    cmds = list(dict.fromkeys(r["context"].get("tvl_command", "unknown")
                              for pts in points.values() for r in pts))
    lines = textwrap.wrap("points from: " + "; ".join(cmds), 190, break_on_hyphens=False)
    fig.text(0.01, 0.052, "\n".join(lines), fontsize=6.5, color=palette.MUTED, ha="left",
             va="bottom")


def draw_sweep(ax, sweeps, keys, x, unit, style, mark):
    """Draw sweep points on one log-x axes against the parameter x (`unit` names it): a line per
    series and key, styled by style(series) (a key's line style, when given, overrides it); a
    point that did not run is an ✕ on the floor of the chart, its reason in the legend and
    `mark` (unless None) written beside it."""
    import textwrap
    ax.set_xscale("log")
    fails = []
    for model, points in sweeps.items():
        st = style(model)
        ok = [p for p in points if not p.get("failure")]
        for key, line, what in keys:
            ax.plot([p[x] for p in ok], [p["counters"][key] for p in ok], linewidth=1.6,
                    markersize=5, label=f"{model}{what}",
                    **{**st, **({"linestyle": line} if line else {})})
        fails += [(p, st["color"], model) for p in points if p.get("failure")]
    where = ax.get_xaxis_transform()  # x in data, y as a fraction of the axes
    for p, color, model in fails:
        ax.axvline(p[x], color=color, linestyle=":", linewidth=1.2)
        reason = textwrap.fill(f"{model}: ✕ did not run at {p[x]:,} {unit} — "
                               f"{short_failure(p)}", 44,
                               break_on_hyphens=False)
        ax.plot([p[x]], [0.04], marker="X", markersize=12, color=color, transform=where,
                clip_on=False, zorder=5, linestyle="none", label=reason)
        if mark is not None:
            ax.text(p[x] * 1.04, 0.5, f"{model} {mark}", rotation=90, transform=where,
                    ha="left", va="center", fontsize=7.5, color=color,
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))
    every = [p[x] for points in sweeps.values() for p in points]
    ax.set_xlim(min(every) / 1.5, max(every) * 1.5)


def sweep_values(sweeps, key):
    """Every value of one counter in a group of sweeps (points that ran)."""
    return [p["counters"][key] for pts in sweeps.values() for p in pts
            if not p.get("failure") and key in p["counters"]]
