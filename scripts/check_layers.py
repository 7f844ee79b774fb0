#!/usr/bin/env python3
"""Fails when a source file includes from a layer above its own (docs/architecture.md).

Each top-level folder is a layer with a rank; a file may include from its own folder and from
folders of a lower rank, never from a higher one nor from a sibling of the same rank (the two
models, for instance, must not know each other). Prints every offending include as
file:line: folder (rank) -> folder (rank) and exits 1; exits 0 when there is none.
"""
import pathlib
import re
import sys

RANKS = {
    "measure": 0,    # histogram, metrics, statistics, context, child processes
    "scenarios": 1,  # each scenario's domain: parameters, results, checks
    "threads": 2,    # the models, and the fan-out's client side, side by side
    "asyncloop": 2,
    "load": 2,
    "catalog": 3,    # every scenario x model x variant and what runs it
    "harness": 4,    # capacity search; bench/ (tvl-bench) beside it
    "bench": 4,
    "app": 5,        # the tvl command line
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)/[^"]+"')


def violations(root):
    for folder, rank in RANKS.items():
        for path in sorted((root / folder).rglob("*.[ch]pp")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                m = INCLUDE.match(line)
                if not m or m.group(1) == folder or m.group(1) not in RANKS:
                    continue
                target = m.group(1)
                if RANKS[target] >= rank:
                    yield (f"{path.relative_to(root)}:{number}: {folder} (layer {rank}) includes "
                           f"{target} (layer {RANKS[target]}): {line.strip()}")


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent)
    missing = [f for f in RANKS if not (root / f).is_dir()]
    if missing:
        print(f"check_layers: no folder {', '.join(missing)} under {root}", file=sys.stderr)
        return 2
    found = list(violations(root))
    for v in found:
        print(v)
    print(f"check_layers: {len(found)} include(s) against the layers" if found
          else "check_layers: every include points down")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
