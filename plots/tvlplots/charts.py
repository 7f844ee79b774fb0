"""Charts: what every figure shares — the machine stamp, axis dressing, log-scale limits.

matplotlib is imported inside the functions, so the package imports (and explains a missing
matplotlib, see report.load_pyplot) under any interpreter.
"""
from . import palette
from .fmt import ctx


def stamp(fig, context, command):
    """Write the machine context and the producing command in small print under a figure."""
    keys = ("cpu_model", "cores", "kernel", "compiler")
    line1 = " · ".join([ctx(context, "cpu_model"), ctx(context, "cores") + " cores"]
                       + [ctx(context, k) for k in keys[2:]]
                       + [f"Boost {ctx(context, 'boost_version')}",
                          f"oneTBB {ctx(context, 'tbb_version')}",
                          f"benchmark {ctx(context, 'benchmark_version')}",
                          f"rev {ctx(context, 'git_revision')}", ctx(context, "date")])
    fig.text(0.01, 0.01, f"{line1}\ncommand: {command}", fontsize=6.5, color=palette.MUTED,
             ha="left", va="bottom")


def plain_log_axis(axis):
    """Log-axis ticks written plainly (0.5, 20, 1,000), at 1, 2, 5 x 10^k over a short range."""
    import math
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    lo, hi = sorted(axis.get_view_interval())
    decades = math.log10(hi / lo) if lo > 0 else 99
    axis.set_major_locator(LogLocator(subs=range(1, 10) if decades < 1.2 else (1, 2, 5)
                                      if decades < 2.5 else (1,)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def log_floor(values):
    """The power of ten just below the smallest value: where log-scale bars start."""
    import math
    return 10 ** math.floor(math.log10(min(v for v in values if v > 0)))


def decade_limits(ax, values):
    """Widen a log y axis to whole decades around the values, so every decade is labelled."""
    import math
    values = [v for v in values if v and v > 0]
    if values:
        lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
        ax.set_ylim(10 ** lo, 10 ** max(hi, lo + 1))


def plain_axes(ax, ylabel=None, tick=None):
    """Common dressing of a chart against a count (subscribers): plain counts on x, a tick
    format on y."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    ax.grid(True, which="major", alpha=0.3)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    if tick:
        ax.yaxis.set_major_formatter(FuncFormatter(tick))
        ax.yaxis.set_minor_formatter(NullFormatter())
    if ylabel:
        ax.set_ylabel(ylabel)


def side_legend(fig, ax, right, top):
    """One legend for the figure, beside the plots (their right and top edges), from one axes'
    lines."""
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))  # one entry per label
    fig.legend(list(seen.values()), list(seen.keys()), fontsize=7.5, loc="upper left",
               bbox_to_anchor=(right + 0.01, top), frameon=False)
