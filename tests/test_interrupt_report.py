#!/usr/bin/env python3
"""scripts/report.sh interrupted (issue 10): Ctrl-C or SIGTERM stops the running step, says which
step it was and which result files are complete, leaves no step running and no temporary file,
and exits 130.

Usage:
    /usr/bin/python3 tests/test_interrupt_report.py --source-dir . [unittest options]

Stand-in binaries as in tests/test_report_script.py, with a step that hangs until stopped: the
stand-in tvl, given $TVL_FAKE_HANG in its arguments, writes its pid to $TVL_FAKE_STARTED and
waits; on SIGTERM it writes the --json file of an interrupted run and exits 130, as tvl does
(other steps write an empty --json file).
The stand-in tvl-bench, given $TVL_FAKE_BENCH_HANG, writes half a result and waits (and dies on
SIGTERM, as Google Benchmark does). The test waits for the pid, then signals report.sh alone
(`kill -INT`) or its whole process group (a terminal's Ctrl-C).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_report_script as base  # noqa: E402  (its stand-ins and scratch copy)

HANG = """
if [ -n "${TVL_FAKE_HANG:-}" ] && [[ "$*" == *"$TVL_FAKE_HANG"* ]]; then
  prev="" json=""
  for a in "$@"; do [ "$prev" = --json ] && json=$a; prev=$a; done
  interrupted='{"context": {"interrupted": true, "points_not_run": 1}, "benchmarks": []}'
  trap 'echo "$interrupted" >"$json"; exit 130' TERM
  echo $$ >"$TVL_FAKE_STARTED"
  for i in $(seq 600); do sleep 0.1; done
  exit 0
fi
prev=""
for a in "$@"; do  # the other steps write their --json file, as tvl does
  [ "$prev" = --json ] && printf '{"context": {}, "benchmarks": []}\n' >"$a"
  prev=$a
done
"""
BENCH_HANG = """
if [ -n "${TVL_FAKE_BENCH_HANG:-}" ]; then
  for a in "$@"; do
    case $a in --benchmark_out=*) printf '{"context": {}, "bench' >"${a#--benchmark_out=}" ;; esac
  done
  echo $$ >"$TVL_FAKE_STARTED"
  for i in $(seq 600); do sleep 0.1; done
fi
"""
STEP_TIMEOUT = 120  # seconds: only stops a hung test


def alive(pid):
    """Whether pid runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class InterruptedReportTest(base.ReportScriptTest):
    """Reuses the scratch copy and stand-ins of test_report_script, with hanging steps."""

    def setUp(self):
        super().setUp()
        fake = self.tmp / "fake"
        for name, extra in (("tvl", HANG), ("tvl-bench", BENCH_HANG)):
            text = (fake / name).read_text(encoding="utf-8")
            head, rest = text.split("\n", 1)  # after the #! line
            (fake / name).write_text(head + "\n" + extra + rest, encoding="utf-8")
        self.started = self.tmp / "started.pid"
        self.results = self.tmp / "results" / "quick"

    # The ReportScriptTest tests need not run again here.
    test_one_line_per_step_and_the_rest_in_the_log = None
    test_estimate_from_the_previous_run = None
    test_failing_step_stops_with_its_output = None
    test_failed_points_recorded_in_the_json_do_not_stop_the_run = None
    test_bad_input = None

    def interrupt(self, whole_group, hang=None, bench_hang=False):
        """Start report.sh, wait for the hanging step, signal; return (proc, out, err, its pid)."""
        env = {"PATH": "/usr/bin:/bin",
               "FIXTURE": str(base.SOURCE / "tests/data/cutlery_bench.json"),
               "CAPACITY_FIXTURE": str(base.SOURCE / "tests/data/capacity_fixture.json"),
               "TVL_FAKE_STARTED": str(self.started)}
        if hang:
            env["TVL_FAKE_HANG"] = hang
        if bench_hang:
            env["TVL_FAKE_BENCH_HANG"] = "1"
        proc = subprocess.Popen(["bash", "scripts/report.sh", "quick", "fake"], cwd=self.tmp,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)  # a group of its own, as a shell's job
        try:
            deadline = time.monotonic() + STEP_TIMEOUT
            while not (self.started.exists() and self.started.read_text().strip()):
                self.assertIsNone(proc.poll(), "report.sh ended before the step that hangs")
                self.assertLess(time.monotonic(), deadline, "the step that hangs never started")
                time.sleep(0.02)
            step_pid = int(self.started.read_text())
            if whole_group:
                os.killpg(proc.pid, signal.SIGINT)
            else:
                os.kill(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=STEP_TIMEOUT)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return proc, out, err, step_pid

    def check(self, whole_group):
        proc, out, err, step = self.interrupt(whole_group, hang="capacity --model asyncloop")
        self.assertEqual(proc.returncode, 130, out + err)
        self.assertFalse(alive(step), "the interrupted step is still running")
        which = next(line for line in err.splitlines() if "tvl: interrupted during step" in line)
        self.assertIn("capacity: asyncloop", which, "not the step that was running")
        kept = self.results / "capacity_asyncloop.json"
        self.assertIn(f"the points it finished are kept in results/quick/{kept.name}", err)
        self.assertTrue(json.loads(kept.read_text())["context"]["interrupted"])
        complete = next(line for line in err.splitlines() if "complete result files" in line)
        for name in ("bench.json", "sweep_restaurant_asyncloop.json", "capacity_threads.json"):
            self.assertIn(f"results/quick/{name}", complete)
        self.assertNotIn("capacity_asyncloop.json", complete)
        self.assertTrue((self.results / "bench.json").is_file())
        self.assertFalse((self.tmp / "reports/quick/report.md").exists())
        self.assertEqual([p.name for p in self.results.glob(".*")], [], "temporary files left")

    def test_sigint_to_the_script_stops_the_step_and_says_what_is_kept(self):
        self.check(whole_group=False)

    def test_sigint_to_the_process_group_stops_the_step_and_says_what_is_kept(self):
        self.check(whole_group=True)

    def test_interrupted_benchmark_leaves_no_result_and_no_temporary(self):
        proc, out, err, step = self.interrupt(whole_group=True, bench_hang=True)
        self.assertEqual(proc.returncode, 130, out + err)
        self.assertFalse(alive(step), "tvl-bench is still running")
        self.assertIn("interrupted during step 1/", err)
        self.assertIn("no result file is complete", err)
        self.assertEqual(sorted(p.name for p in self.results.iterdir()),
                         ["report.log", "report_times.tsv"],
                         "a half-written bench.json or its temporary")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--source-dir", required=True, type=Path)
    options, rest = parser.parse_known_args()
    base.SOURCE = options.source_dir.resolve()
    unittest.main(argv=[sys.argv[0]] + rest)
