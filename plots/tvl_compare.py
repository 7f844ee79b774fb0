#!/usr/bin/env python3
"""Compare two runs of tvl (two machines, two commits) benchmark by benchmark; `tvl compare A B`
runs this script. See tvlplots/compare.py and docs/compare.md.

    /usr/bin/python3 plots/tvl_compare.py results/a results/b [--out F.md] [--figure F.png]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True  # leaves no __pycache__ in the source tree

from tvlplots.compare import main  # noqa: E402  (the package is found through the line above)

if __name__ == "__main__":
    sys.exit(main())
