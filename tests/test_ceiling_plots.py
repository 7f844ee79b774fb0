#!/usr/bin/env python3
"""The ceiling figure renders from a small fake ceiling.json, and the report says from its rows
how far each kind got and which limit stopped it.

Usage:
    /usr/bin/python3 tests/test_ceiling_plots.py --source-dir . [unittest options]
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


def row(model, variant, tasks, created, kib, us, stack, limit_name="", limit_value=None):
    """One row as `tvl ceiling --json` writes it."""
    reached = created == tasks and not limit_name
    r = {"name": f"ceiling/{model}/{variant}/tasks:{tasks}", "run_type": "iteration",
         "iterations": 1, "real_time": 1.0, "cpu_time": 1.0, "time_unit": "ms",
         "kind": f"{model}/{variant}", "stack_kib": stack, "tasks": tasks, "created": created,
         "finished": created, "reached": 1 if reached else 0, "kib_per_task": kib,
         "kib_per_task_slope": kib, "us_per_create": us, "ms_release": 12.0,
         "rss_kib": 4000 + kib * created, "rss_before_kib": 4000,
         "limit": "" if reached else f"stopped at {tasks}: creating task {created + 1} failed "
                                     f"with EAGAIN: {limit_name} = {limit_value}",
         "limit_name": limit_name}
    if limit_value is not None:
        r["limit_value"] = limit_value
    return r


def fake_ceiling():
    rows = []
    for variant, stack, kib in (("default-stack", 8192, 9.5), ("small-stack", 64, 8.25)):
        rows += [row("threads", variant, n, n, kib, 30.0, stack) for n in (1000, 2000, 5000)]
        rows.append(row("threads", variant, 10000, 7321, kib, 31.0, stack, "pid_max", 32768))
    rows += [row("asyncloop", "awaitable", n, n, 0.625, 1.5, 0) for n in (1000, 2000, 5000, 10000)]
    return {"context": {"date": "2026-01-01T00:00:00+00:00", "tvl_command": "tvl ceiling",
                        "num_cpus": 2, "cpu_model": "test"}, "benchmarks": rows}


def echo_row(model, variant, n, opened, kib, stack):
    """One echo-server row as `tvl ceiling --echo-connections --json` writes it."""
    reached = opened == n
    r = {"name": f"ceiling_echo/{model}/{variant}/connections:{n}", "run_type": "iteration",
         "iterations": 1, "real_time": 0.0, "cpu_time": 0.0, "time_unit": "ms",
         "kind": f"{model}/{variant}", "stack_kib": stack, "connections": n, "opened": opened,
         "reached": 1 if reached else 0, "kib_per_connection": kib, "rss_kib": 5000 + kib * opened,
         "limit": "" if reached else f"stopped at {n}: RLIMIT_NOFILE = 20000",
         "limit_name": "" if reached else "RLIMIT_NOFILE (load)"}
    if not reached:
        r["limit_value"] = 20000
    return r


class CeilingPlotTest(unittest.TestCase):

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="tvl_ceiling_plots_"))
        self.results = self.tmp / "results"
        self.results.mkdir()
        self.out = self.tmp / "report"

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def render(self, doc):
        (self.results / "ceiling.json").write_text(json.dumps(doc), encoding="utf-8")
        return subprocess.run([PYTHON, str(SOURCE / "plots" / "tvl_plots.py"), "--results",
                               str(self.results), "--out", str(self.out)],
                              capture_output=True, text=True, timeout=120)

    def test_figure_and_caption_come_from_the_rows(self):
        done = self.render(fake_ceiling())
        self.assertEqual(done.returncode, 0, done.stderr)
        for ext in ("png", "svg"):
            self.assertTrue((self.out / "figures" / f"ceiling.{ext}").stat().st_size > 0)
        md = (self.out / "report.md").read_text(encoding="utf-8")
        self.assertIn('<a id="ceiling"></a>', md)
        self.assertIn("Capriccio", md)
        self.assertIn("**threads/default-stack**, 8,192 KiB stack: held 5,000 waiting tasks", md)
        self.assertIn("stopped at 10,000 after 7,321 created: pid_max = 32,768", md)
        self.assertIn("**asyncloop/awaitable**: held 10,000 waiting tasks (0.62 KiB", md)
        self.assertIn("it reached every N asked for", md)
        self.assertIn("stopped at 10000: creating task 7322 failed with EAGAIN", md)
        self.assertIn("ceiling.png", (self.out / "report.html").read_text(encoding="utf-8")
                      .replace('alt="ceiling"', "ceiling.png"))

    def test_echo_servers_get_their_own_figure(self):
        doc = fake_ceiling()
        for model, variant, stack, kib in (("threads", "small-stack", 64, 25.5),
                                           ("asyncloop", "one-loop", 0, 18.5)):
            doc["benchmarks"] += [echo_row(model, variant, n, min(n, 19000), kib, stack)
                                  for n in (1000, 19000, 20000)]
        done = self.render(doc)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertTrue((self.out / "figures" / "ceiling_echo.png").stat().st_size > 0)
        md = (self.out / "report.md").read_text(encoding="utf-8")
        self.assertIn('<a id="ceiling_echo"></a>', md)
        self.assertIn("**asyncloop/one-loop** held 19,000 idle connections at 18.5 KiB of server "
                      "RSS each, then stopped: RLIMIT_NOFILE (load) = 20,000.", md)

    def test_a_row_without_its_counters_is_one_line_of_error(self):
        doc = fake_ceiling()
        del doc["benchmarks"][0]["us_per_create"]
        done = self.render(doc)
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("ceiling.json", done.stderr)
        self.assertIn("us_per_create", done.stderr)
        self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)


def main():
    global SOURCE
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    args, rest = parser.parse_known_args()
    SOURCE = Path(args.source_dir).resolve()
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
