#!/usr/bin/env python3
"""The plot scripts on bad input, and their output written whole or not at all (issue 10).

Usage:
    /usr/bin/python3 tests/test_interrupt_plots.py --source-dir . [unittest options]

Given a truncated tvl result, a file that is not JSON, or valid JSON that is not tvl's or Google
Benchmark's shape, plots/tvl_plots.py and plots/tvl_compare.py print one line naming the file
and what is wrong and exit 2: never a traceback. Their files (report.md, report.html, figures, a
comparison) appear whole or not at all: a write that fails or is stopped by SIGTERM leaves
neither a temporary nor a half-written file. A report from an interrupted run says so.
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

SOURCE = None  # the repository root, set from the command line
PYTHON = "/usr/bin/python3"


def corrupt_files(data):
    """(label, content) of files the scripts must refuse, built from tvl's own fixtures."""
    cases = []
    for fixture in sorted(data.glob("*.json")):
        text = fixture.read_text(encoding="utf-8")
        cases.append((f"truncated {fixture.name}", text[: len(text) // 2]))
    cutlery = json.loads((data / "cutlery_bench.json").read_text(encoding="utf-8"))
    listed = json.loads(json.dumps(cutlery))
    for row in listed["benchmarks"]:
        for key in row:
            if key != "name":
                row[key] = [1]
    bare = json.loads(json.dumps(cutlery))
    bare["benchmarks"] = [{"name": row["name"]} for row in bare["benchmarks"]]
    cases += [
        ("not JSON", "time,value\n1,2\n"),
        ("not text", b"\xff\xfe\x00\x01"),
        ("empty", ""),
        ("a JSON list", "[1, 2, 3]"),
        ("an object without benchmarks", '{"foo": 1}'),
        ("benchmarks not a list", '{"benchmarks": "many"}'),
        ("names not tvl's", '{"context": {}, "benchmarks": [{"name": "x"}]}'),
        ("context not an object", json.dumps({**cutlery, "context": "a string"})),
        ("fields of the wrong type", json.dumps(listed)),
        ("rows without counters", json.dumps(bare)),
    ]
    return cases


class BadInputTest(unittest.TestCase):

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="tvl_interrupt_plots_"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, folder, content):
        folder.mkdir(parents=True)
        path = folder / "result.json"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def assert_one_line_naming(self, proc, path, what):
        err = proc.stderr
        self.assertEqual(proc.returncode, 2, f"{what}: {err}")
        self.assertNotIn("Traceback", err, what)
        self.assertEqual(len(err.strip().splitlines()), 1, f"{what}: not one line: {err}")
        self.assertIn(str(path), err, f"{what}: the file is not named: {err}")

    def test_plot_script_names_the_file_and_exits_2(self):
        for i, (what, content) in enumerate(corrupt_files(SOURCE / "tests/data")):
            with self.subTest(what):
                results = self.tmp / f"results{i}"
                path = self.write(results, content)
                proc = subprocess.run([PYTHON, str(SOURCE / "plots/tvl_plots.py"), "--results",
                                       str(results), "--out", str(self.tmp / f"out{i}")],
                                      capture_output=True, text=True, timeout=300)
                self.assert_one_line_naming(proc, path, what)
                self.assertFalse((self.tmp / f"out{i}" / "report.md").exists(), what)

    def test_compare_script_names_the_file_and_exits_2(self):
        good = SOURCE / "tests/data/cutlery_bench.json"
        for i, (what, content) in enumerate(corrupt_files(SOURCE / "tests/data")):
            if what == "rows without counters":
                continue  # valid: nothing to compare, which it says without naming one file
            with self.subTest(what):
                path = self.write(self.tmp / f"a{i}", content)
                proc = subprocess.run([PYTHON, str(SOURCE / "plots/tvl_compare.py"), str(path),
                                       str(good)], capture_output=True, text=True, timeout=300)
                self.assert_one_line_naming(proc, path, what)


class WholeOrNothingTest(unittest.TestCase):

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="tvl_interrupt_plots_"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_python(self, code):
        return subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120,
                              env={"PYTHONPATH": str(SOURCE / "plots"), "PATH": "/usr/bin:/bin"})

    def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(self):
        target = self.tmp / "report.md"
        target.write_text("old\n", encoding="utf-8")
        proc = self.run_python(
            "import sys\n"
            "from tvlplots.files import _replace_with\n"
            "def half(tmp):\n"
            "    tmp.write_text('half')\n"
            "    raise OSError('disk full')\n"
            f"try:\n    _replace_with({str(target)!r}, half)\n"
            "except OSError:\n    sys.exit(3)\n")
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertEqual(target.read_text(encoding="utf-8"), "old\n")
        self.assertEqual([p.name for p in self.tmp.iterdir()], ["report.md"])

    def test_sigterm_while_writing_leaves_nothing_behind(self):
        target = self.tmp / "report.html"
        proc = self.run_python(
            "import os, signal, sys\n"
            "from tvlplots.files import _replace_with, stop_on_sigterm\n"
            "stop_on_sigterm()\n"
            "def stopped(tmp):\n"
            "    tmp.write_text('half')\n"
            "    os.kill(os.getpid(), signal.SIGTERM)\n"
            f"try:\n    _replace_with({str(target)!r}, stopped)\n"
            "except KeyboardInterrupt:\n    sys.exit(130)\n")
        self.assertEqual(proc.returncode, 130, proc.stderr)
        self.assertEqual(list(self.tmp.iterdir()), [])

    def test_report_of_an_interrupted_run_says_so_and_leaves_no_temporary(self):
        results = self.tmp / "results"
        results.mkdir()
        doc = json.loads((SOURCE / "tests/data/sweep_restaurant_fixture.json").read_text())
        doc["context"].update(interrupted=True, points_not_run=2)
        (results / "sweep_restaurant.json").write_text(json.dumps(doc), encoding="utf-8")
        out = self.tmp / "report"
        proc = subprocess.run([PYTHON, str(SOURCE / "plots/tvl_plots.py"), "--results",
                               str(results), "--out", str(out)],
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        report = (out / "report.md").read_text(encoding="utf-8")
        self.assertIn("**Interrupted:** `sweep_restaurant.json`", report)
        self.assertIn("2 point(s) did not run", report)
        left = [p.name for p in out.rglob(".*")]
        self.assertEqual(left, [], "temporary files left in the report folder")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--source-dir", required=True, type=Path)
    options, rest = parser.parse_known_args()
    SOURCE = options.source_dir.resolve()
    unittest.main(argv=[sys.argv[0]] + rest)
