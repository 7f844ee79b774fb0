"""Output files written whole or not at all, and a run stopped cleanly.

A report, a figure or a comparison is first written to a hidden temporary file in the folder
it belongs in and then renamed over its name in one step (os.replace), as tvl does with its
--json files (measure/atomic_file.hpp): an interrupted or failed run never leaves a truncated
report.html, or a half-drawn figure, where a complete one was expected, and never leaves the
temporary behind either. SIGTERM (what scripts/report.sh sends a step it stops) is turned into
KeyboardInterrupt, as Ctrl-C is, so that the temporaries are removed on the way out.
"""
import os
import signal
from pathlib import Path


def _temporary(path):
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _replace_with(path, write):
    """Call write(temporary), then rename it over path; remove the temporary on any failure."""
    tmp = _temporary(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path, text):
    """Write text (UTF-8) to path atomically."""
    _replace_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_figure(fig, path, **options):
    """fig.savefig to path atomically, in the format its suffix names."""
    fmt = Path(path).suffix.lstrip(".").lower()
    _replace_with(path, lambda tmp: fig.savefig(tmp, format=fmt, **options))


def stop_on_sigterm():
    """Make SIGTERM raise KeyboardInterrupt, so a stopped run cleans up like a Ctrl-C'd one."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)
