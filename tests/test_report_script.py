#!/usr/bin/env python3
"""Tests for scripts/report.sh (what `make report` runs), with stand-in tvl and tvl-bench.

Usage:
    /usr/bin/python3 tests/test_report_script.py --source-dir . [unittest options]

The script runs in a scratch copy of scripts/ and plots/ with a fake build folder: tvl-bench
writes the cutlery fixture as its results and prints a wide table, tvl prints chatter (and fails
when its arguments contain $TVL_FAKE_FAIL). Checked: one progress line per step with the time so
far and an estimate of what is left, everything else in results/<profile>/report.log, the step
times saved and used by the next run, a failing step's exit status and output, bad input.
"""
import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

SOURCE = None  # the repository root, set from the command line

FAKE_BENCH = """#!/bin/bash
echo "cutlery/threads/racy/tables:10/iterations:20/repeats:3 $(printf '%0.s-' {1..250})"
for a in "$@"; do
  case $a in --benchmark_out=*) cp "$FIXTURE" "${a#--benchmark_out=}" ;; esac
done
"""
FAKE_TVL = """#!/bin/bash
echo "tvl chatter: $*"
if [ -n "${TVL_FAKE_RECORD:-}" ] && [[ "$*" == *"$TVL_FAKE_RECORD"* ]]; then
  prev=""
  for a in "$@"; do [ "$prev" = --json ] && cp "$CAPACITY_FIXTURE" "$a"; prev=$a; done
  echo "  10000 subscribers  FAILED: only 9860 of 10000 subscriptions confirmed"
  exit 1
fi
if [ -n "${TVL_FAKE_FAIL:-}" ] && [[ "$*" == *"$TVL_FAKE_FAIL"* ]]; then
  echo "fake tvl: the broker would not start" >&2
  exit 7
fi
"""
PROGRESS = re.compile(r"^tvl \[(\d+)/(\d+) (\d+):(\d\d) elapsed, ~(\d+):(\d\d) left\] (.+)$")


class ReportScriptTest(unittest.TestCase):

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="tvl_report_sh_"))
        for folder in ("scripts", "plots"):
            shutil.copytree(SOURCE / folder, self.tmp / folder,
                            ignore=shutil.ignore_patterns("__pycache__"))
        fake = self.tmp / "fake"
        fake.mkdir()
        for name, text in (("tvl-bench", FAKE_BENCH), ("tvl", FAKE_TVL)):
            (fake / name).write_text(text, encoding="utf-8")
            (fake / name).chmod(0o755)
        self.log = self.tmp / "results" / "quick" / "report.log"
        self.times = self.tmp / "results" / "quick" / "report_times.tsv"

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_script(self, *args, fail=None, record=None):
        env = {"PATH": "/usr/bin:/bin", "FIXTURE": str(SOURCE / "tests/data/cutlery_bench.json"),
               "CAPACITY_FIXTURE": str(SOURCE / "tests/data/capacity_fixture.json")}
        if fail:
            env["TVL_FAKE_FAIL"] = fail
        if record:
            env["TVL_FAKE_RECORD"] = record
        return subprocess.run(["bash", "scripts/report.sh", *args], cwd=self.tmp, env=env,
                              capture_output=True, text=True, timeout=600)

    def progress(self, stdout):
        """The progress lines' (step, steps, elapsed s, left s, label)."""
        out = []
        for line in stdout.splitlines():
            m = PROGRESS.match(line)
            if m:
                i, n, em, es, lm, ls, label = m.groups()
                out.append((int(i), int(n), int(em) * 60 + int(es), int(lm) * 60 + int(ls), label))
        return out

    def test_one_line_per_step_and_the_rest_in_the_log(self):
        proc = self.run_script("quick", "fake")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        lines = proc.stdout.splitlines()
        steps = self.progress(proc.stdout)
        n = steps[0][1]
        self.assertGreater(n, 10)
        self.assertEqual([s[0] for s in steps], list(range(1, n + 1)))
        self.assertEqual(len(lines), n + 2, "a header, a line per step, a closing line")
        self.assertIn(f"{n} steps", lines[0])
        self.assertIn("results/quick/report.log", lines[0])
        self.assertTrue(lines[-1].startswith("tvl: wrote reports/quick/report.md"), lines[-1])
        self.assertIn("tvl-bench", steps[0][4])
        self.assertIn("capacity", " ".join(s[4] for s in steps))
        for elapsed, later in zip(steps, steps[1:]):
            self.assertLessEqual(elapsed[2], later[2])
        self.assertNotIn("chatter", proc.stdout + proc.stderr)
        self.assertNotIn("-----", proc.stdout + proc.stderr)
        log = self.log.read_text(encoding="utf-8")
        self.assertIn("tvl chatter: sweep restaurant", log)
        self.assertIn("cutlery/threads/racy/tables:10/iterations:20", log)
        self.assertTrue((self.tmp / "reports/quick/report.md").is_file())
        ids = [line.split("\t")[0] for line in self.times.read_text().splitlines()]
        self.assertEqual(len(ids), n)
        self.assertEqual(ids[0], "bench")

    def test_estimate_from_the_previous_run(self):
        self.times.parent.mkdir(parents=True)
        self.times.write_text("bench\t1200\ncapacity/threads\t300\n", encoding="utf-8")
        proc = self.run_script("quick", "fake")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        steps = self.progress(proc.stdout)
        self.assertGreaterEqual(steps[0][3], 1500, "the first estimate ignores the saved times")
        self.assertNotIn("1200", self.times.read_text(), "this run's times were not saved")

    def test_failing_step_stops_with_its_output(self):
        proc = self.run_script("quick", "fake", fail="sweep fanout --model redis")
        self.assertEqual(proc.returncode, 7, proc.stdout + proc.stderr)
        steps = self.progress(proc.stdout)
        self.assertIn("redis", steps[-1][4])
        self.assertIn(f"step {steps[-1][0]}/{steps[-1][1]} failed (exit status 7", proc.stderr)
        self.assertIn("fake tvl: the broker would not start", proc.stderr)
        self.assertIn("report.log", proc.stderr)
        self.assertNotIn("sweep restaurant", proc.stderr, "output of earlier steps shown")
        self.assertFalse((self.tmp / "reports/quick/report.md").exists())

    def test_failed_points_recorded_in_the_json_do_not_stop_the_run(self):
        proc = self.run_script("quick", "fake", record="capacity --model threads")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertRegex(proc.stderr, r"some points failed; each is recorded with its reason in "
                                      r"results/quick/capacity_threads\.json")
        self.assertTrue((self.tmp / "reports/quick/report.md").exists())
        self.assertIn("capacity: asyncloop", proc.stdout, "the run stopped at the failed points")

    def test_bad_input(self):
        proc = self.run_script("medium", "fake")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("unknown profile 'medium'", proc.stderr)
        proc = self.run_script("quick", "no-such-build")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("no no-such-build/tvl", proc.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--source-dir", required=True, type=Path)
    options, rest = parser.parse_known_args()
    SOURCE = options.source_dir.resolve()
    unittest.main(argv=[sys.argv[0]] + rest)
