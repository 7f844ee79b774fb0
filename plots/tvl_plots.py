#!/usr/bin/env python3
"""Render tvl's figures and report from Google Benchmark JSON (the tvlplots package beside this
script does the work).

    /usr/bin/python3 plots/tvl_plots.py --results results/quick --out reports/quick

Reads every *.json in --results (the files `tvl-bench --benchmark_out` and `tvl sweep`/`tvl
capacity --json` write) and writes OUT/figures/<name>.png and .svg, OUT/report.md and a
self-contained OUT/report.html. Run it with an interpreter that imports matplotlib (on Debian:
/usr/bin/python3).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True  # a report run leaves no __pycache__ in the source tree

from tvlplots.report import main  # noqa: E402  (the package is found through the line above)

if __name__ == "__main__":
    sys.exit(main())
