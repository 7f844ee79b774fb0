#!/usr/bin/env python3
"""Tests for `tvl compare` (plots/tvlplots/compare.py and its U test, plots/tvlplots/utest.py).

Usage:
    /usr/bin/python3 tests/test_compare.py --plots plots [--tvl build/.../tvl] [unittest options]

UTestTest checks the Mann–Whitney U test against answers worked out by hand (the arithmetic is
in each test's comment) and against brute-force enumeration. The command-line tests run the
comparison as a subprocess — plots/tvl_compare.py, or `tvl compare` when --tvl is given, which
checks that tvl passes the script's output and exit status through — on two real tvl-bench runs
kept in tests/data/compare/ (recorded by its record.sh) and on altered copies of the cutlery
fixture.
"""
import argparse
import itertools
import json
import math
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

PLOTS = TVL = None  # set from the command line before unittest.main
DATA = Path(__file__).resolve().parent / "data"
COMPARE = DATA / "compare"  # a/: runs; b/: runs as in A (unchanged*) and runs slowed (slowed*)


def utest():
    from tvlplots import utest as module
    return module


def compare_cmd(*args):
    """Run the comparison the way this test was told to; return the CompletedProcess."""
    head = [str(TVL), "compare"] if TVL else [sys.executable, str(PLOTS / "tvl_compare.py")]
    return subprocess.run(head + [str(a) for a in args], capture_output=True, text=True,
                          timeout=120)


def repetitions(folder, prefix=""):
    """The per-repetition rows of every {prefix}*.json in a folder."""
    return [b for path in sorted(folder.glob(f"{prefix}*.json"))
            for b in json.loads(path.read_text(encoding="utf-8"))["benchmarks"]
            if b.get("run_type") == "iteration"]


def table_rows(markdown):
    """{(benchmark, metric): [cells]} of the comparison table."""
    rows = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 9 and cells[0] != "benchmark":
            rows[(cells[0], cells[1].split(" (")[0])] = cells
    return rows


class UTestTest(unittest.TestCase):

    def test_exact_fully_separated(self):
        # 3 vs 3: C(6,3) = 20 orderings, one with every x below every y (U = 0) and one with every
        # x above (U = 9): two-sided p = 2/20.
        r = utest().mann_whitney([1, 2, 3], [4, 5, 6])
        self.assertEqual((r.u, r.method), (0, "exact"))
        self.assertAlmostEqual(r.p, 0.1, places=12)

    def test_exact_one_pair_swapped(self):
        # x = 1, 2, 4 against y = 3, 5, 6: only 4 > 3, U = 1. Orderings with U <= 1: U = 0 (one)
        # and U = 1 (one: the largest x swapped with the smallest y): p = 2 * 2/20 = 0.2.
        r = utest().mann_whitney([1, 2, 4], [3, 5, 6])
        self.assertEqual(r.u, 1)
        self.assertAlmostEqual(r.p, 0.2, places=12)

    def test_exact_textbook(self):
        # scipy's mannwhitneyu example (ages of 5 men, 4 women): U = 17 of 20. P(U >= 17) =
        # P(U <= 3) = (1 + 1 + 2 + 3)/C(9,4) = 7/126 (U = u counts the ways to write u as at most
        # 4 parts of at most 5: 0; 1; 2, 1+1; 3, 2+1, 1+1+1): p = 14/126 = 0.1111…
        r = utest().mann_whitney([19, 22, 16, 29, 24], [20, 11, 17, 12])
        self.assertEqual((r.u, r.method), (17, "exact"))
        self.assertAlmostEqual(r.p, 14 / 126, places=12)

    def test_normal_textbook(self):
        # The same samples under the normal approximation: mean 5*4/2 = 10, variance
        # 5*4*(9+1)/12 = 16.667, z = (17 - 10 - 0.5)/4.0825 = 1.5922, p = 2*(1 - Phi(z)); scipy's
        # documentation prints 0.11134688653314041 for method="asymptotic".
        r = utest().mann_whitney([19, 22, 16, 29, 24], [20, 11, 17, 12], method="normal")
        self.assertEqual(r.method, "normal")
        self.assertAlmostEqual(r.p, 0.11134688653314041, places=12)

    def test_normal_with_ties(self):
        # x = 1 2 2 3, y = 2 3 3 4. U(x) = 0 (x=1) + 0.5 + 0.5 (each 2 ties one y) + 1 + 0.5 + 0.5
        # (x=3: beats 2, ties two 3s) = 3, so the far tail is 16 - 3 = 13; mean 8. Ties: three
        # 2s and three 3s, sum(t^3 - t) = 24 + 24 = 48, n(n-1) = 56; variance =
        # 16/12 * (9 - 48/56) = 10.857; z = (13 - 8 - 0.5)/3.2950 = 1.36570;
        # p = 2*(1 - Phi(1.36570)) = 0.17203.
        r = utest().mann_whitney([1, 2, 2, 3], [2, 3, 3, 4])
        self.assertEqual((r.u, r.method), (3, "normal"))
        self.assertAlmostEqual(r.p, 0.17203, places=5)

    def test_exact_counts_match_enumeration(self):
        # Every way to choose which 4 of 9 ranks belong to x, counted by U directly.
        u = utest()
        brute = [0] * 21
        for ranks in itertools.combinations(range(9), 4):
            brute[sum(r - i for i, r in enumerate(ranks))] += 1  # r - i: the y values below this x
        self.assertEqual(list(u.exact_counts(4, 5)), brute)
        self.assertEqual(sum(u.exact_counts(9, 9)), math.comb(18, 9))

    def test_symmetric_and_identical(self):
        u = utest()
        x, y = [3.1, 2.7, 4.4, 3.9], [2.2, 3.0, 2.5, 2.9, 2.6]
        self.assertAlmostEqual(u.mann_whitney(x, y).p, u.mann_whitney(y, x).p, places=12)
        self.assertEqual(u.mann_whitney(x, y).u + u.mann_whitney(y, x).u, len(x) * len(y))
        self.assertEqual(u.mann_whitney([5, 5, 5], [5, 5, 5]).p, 1.0)
        self.assertEqual(u.mann_whitney(x, x).p, 1.0)

    def test_smallest_p(self):
        # compare.py's minimum of 2 repetitions can never reach 0.05: 2/C(4,2) = 1/3; at its
        # recommended 9 a side, 2/C(18,9) = 2/48620.
        u = utest()
        self.assertAlmostEqual(u.smallest_p(2, 2), 1 / 3, places=12)
        self.assertAlmostEqual(u.smallest_p(3, 3), 0.1, places=12)
        self.assertAlmostEqual(u.smallest_p(9, 9), 2 / 48620, places=15)
        self.assertAlmostEqual(u.mann_whitney(range(9), range(9, 18)).p, 2 / 48620, places=15)


class CliTest(unittest.TestCase):

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="tvl_compare_"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, doc):
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
        return path

    def cutlery(self):
        return json.loads((DATA / "cutlery_bench.json").read_text(encoding="utf-8"))

    def assertFails(self, proc, *fragments):
        """Exit 2 with one 'tvl compare: error:' line on stderr naming the fragments."""
        self.assertEqual(proc.returncode, 2, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertTrue(lines[0].startswith("tvl compare: error: "), lines[0])
        for fragment in fragments:
            self.assertIn(str(fragment), lines[0])
        self.assertEqual(proc.stdout, "")

    def test_real_runs_unchanged_and_slowed(self):
        """Two real tvl-bench runs: every benchmark B ran unchanged is not significant, every one
        B ran slowed is significantly slower in real_time."""
        figure = self.tmp / "ratios.png"
        proc = compare_cmd(COMPARE / "a", COMPARE / "b", "--figure", figure)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = table_rows(proc.stdout)
        for part, mark in (("unchanged", "no"), ("slowed", "✱")):
            names = {b["run_name"] for b in repetitions(COMPARE / "b", part)}
            self.assertTrue(names, part)
            for name in names:
                cells = rows[(name, "real_time")]
                n_a, n_b = (sum(b["run_name"] == name for b in repetitions(COMPARE / side))
                            for side in "ab")
                self.assertGreaterEqual(min(n_a, n_b), 9)  # compare.py's recommended minimum
                self.assertEqual(cells[6], f"{n_a} vs {n_b}", cells)
                self.assertEqual(cells[7], mark, cells)
                if mark == "✱":
                    self.assertIn("B slower", cells[8])
                    self.assertGreater(float(cells[4]), 1)
        self.assertTrue(figure.read_bytes().startswith(b"\x89PNG"))
        self.assertIn("](", proc.stdout)  # the figure is linked from the table

    def test_out_file_and_svg(self):
        out, figure = self.tmp / "report" / "compare.md", self.tmp / "report" / "compare.svg"
        proc = compare_cmd(COMPARE / "a", COMPARE / "b" / "slowed1.json", "--out", out,
                           "--figure", figure, "--alpha", "0.01")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "")
        text = out.read_text(encoding="utf-8")
        self.assertIn("alpha = 0.01", text)
        self.assertIn("](compare.svg)", text)  # relative to the Markdown file
        self.assertIn("--alpha 0.01", figure.read_text(encoding="utf-8"))  # the stamp
        self.assertIn("only in A", text)

    def test_too_few_repetitions(self):
        doc = self.cutlery()  # 3 repetitions a side: p can never go below 2/20
        a = self.write("a.json", doc)
        self.write("b/b.json", doc)
        proc = compare_cmd(a, self.tmp / "b")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = table_rows(proc.stdout)
        self.assertTrue(rows)
        for cells in rows.values():
            self.assertEqual((cells[6], cells[7]), ("3 vs 3", "?"), cells)
            self.assertIn("too few repetitions to tell: p cannot go below 0.1", cells[8])
        doc["benchmarks"] = [dict(r, repetitions=1) for r in doc["benchmarks"]
                             if r.get("repetition_index") == 0]
        self.write("b/b.json", doc)
        proc = compare_cmd(a, self.tmp / "b")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for cells in table_rows(proc.stdout).values():
            self.assertEqual((cells[5], cells[6], cells[7]), ("—", "3 vs 1", "?"), cells)
            self.assertIn("too few to tell", cells[8])

    def test_runs_in_several_files_are_pooled(self):
        """Three runs of 3 repetitions in one folder test like one run of 9."""
        doc = self.cutlery()
        for i in range(3):
            self.write(f"a/run{i}.json", doc)
        proc = compare_cmd(self.tmp / "a", DATA / "cutlery_bench.json")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = table_rows(proc.stdout)
        self.assertTrue(rows)
        for cells in rows.values():
            self.assertEqual(cells[6], "9 vs 3", cells)
            self.assertEqual(cells[7], "no", cells)  # the same values: p = 1
            self.assertIn("unreliable, 9+ repetitions recommended", cells[8])

    def test_units_and_aggregates_only(self):
        doc = self.cutlery()
        slow = json.loads(json.dumps(doc))
        self.assertEqual({r["time_unit"] for r in doc["benchmarks"]}, {"ns"})
        for r in slow["benchmarks"]:  # the same times written in µs, then twice as slow
            r.update(real_time=2 * r["real_time"] / 1000, time_unit="us")
        a, b = self.write("a.json", doc), self.write("b.json", slow)
        rows = table_rows(compare_cmd(a, b, "--metrics", "real_time").stdout)
        self.assertTrue(rows)
        self.assertEqual({c[4] for c in rows.values()}, {"2.000"})
        self.assertEqual({k[1] for k in rows}, {"real_time"})
        slow["benchmarks"] = [r for r in slow["benchmarks"] if r.get("run_type") == "aggregate"]
        self.write("b.json", slow)
        for cells in table_rows(compare_cmd(a, b).stdout).values():
            self.assertEqual(cells[7], "?", cells)
            self.assertIn("aggregates only", cells[8])

    def test_bad_input(self):
        good = DATA / "cutlery_bench.json"
        self.assertFails(compare_cmd(self.tmp / "missing", good), "A:", self.tmp / "missing")
        self.assertFails(compare_cmd(good, self.tmp / "missing.json"), "B:", "does not exist")
        other = self.write("other.json", {"hello": 1})
        self.assertFails(compare_cmd(good, other), "other.json", "not Google Benchmark")
        self.write("folder/notes.json", {"benchmarks": []})  # no context: not Google Benchmark
        self.assertFails(compare_cmd(self.tmp / "folder", good), "no Google Benchmark JSON")
        broken = self.write("broken.json", '{"context": {}, "benchmarks": [')
        self.assertFails(compare_cmd(broken, good), "broken.json", "not JSON")
        elsewhere = self.cutlery()
        for r in elsewhere["benchmarks"]:
            r["name"] = r["run_name"] = "renamed/" + r["run_name"]
        self.assertFails(compare_cmd(good, self.write("renamed.json", elsewhere)),
                         "no benchmark names in common")
        self.assertFails(compare_cmd(good, good, "--alpha", "1.5"), "--alpha")
        self.assertFails(compare_cmd(good, good, "--metrics", "nonsense"), "nonsense")
        self.assertFails(compare_cmd(good, good, "--figure", self.tmp / "f.txt"), ".png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--plots", required=True, type=Path, help="the plots/ folder")
    parser.add_argument("--tvl", type=Path, help="run `tvl compare` instead of the script")
    options, rest = parser.parse_known_args()
    PLOTS, TVL = options.plots.resolve(), options.tvl
    sys.path.insert(0, str(PLOTS))
    sys.dont_write_bytecode = True
    unittest.main(argv=[sys.argv[0]] + rest)
