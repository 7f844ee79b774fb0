#!/usr/bin/env python3
"""Tests for plots/tvl_plots.py (the tvlplots package beside it), run on a Google Benchmark 1.7.1
JSON fixture.

Usage:
    /usr/bin/python3 tests/test_plots.py --script plots/tvl_plots.py \
        --fixture tests/data/cutlery_bench.json [unittest options]

The script runs as a subprocess under the same interpreter, exactly as `make report` runs it,
so these tests check the command-line contract: files written, report contents, exit codes.
"""
import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

SCRIPT = FIXTURE = None  # set from the command line before unittest.main
COMMAND = "make report"
PROFILE = "fixture-profile"  # in no fixture's context: the report can only take it from --profile
FIGURES = ("cutlery_fail_rate", "cutlery_throughput")


def run_script(results, out, *extra):
    """Run tvl_plots.py on a results folder; return the CompletedProcess."""
    return subprocess.run([sys.executable, str(SCRIPT), "--results", str(results),
                           "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=300)


def render_docs(tmp, docs, name):
    """Write {file name: document} into tmp/name and render it; return (process, report folder)."""
    results = tmp / name
    results.mkdir()
    for file, doc in docs.items():
        (results / file).write_text(json.dumps(doc), encoding="utf-8")
    out = tmp / f"{name}_report"
    return run_script(results, out, "--command", COMMAND), out


def fixture_doc():
    """A fresh copy of the fixture as a Python object."""
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


class ReportTest(unittest.TestCase):
    """One successful run on the fixture, inspected by several tests."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="tvl_plots_"))
        (cls.tmp / "results").mkdir()
        shutil.copy(FIXTURE, cls.tmp / "results" / FIXTURE.name)
        cls.out = cls.tmp / "report"
        cls.proc = run_script(cls.tmp / "results", cls.out, "--profile", PROFILE,
                              "--command", COMMAND)
        cls.doc = fixture_doc()
        ok = cls.proc.returncode == 0
        cls.md = (cls.out / "report.md").read_text(encoding="utf-8") if ok else ""
        cls.html = (cls.out / "report.html").read_text(encoding="utf-8") if cls.md else ""

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def medians(self):
        """The fixture's median aggregates: the rows the report must show."""
        return [b for b in self.doc["benchmarks"] if b.get("aggregate_name") == "median"]

    def test_exit_status(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)

    def test_figures_exist(self):
        for name in FIGURES:
            png = self.out / "figures" / f"{name}.png"
            svg = self.out / "figures" / f"{name}.svg"
            self.assertTrue(png.is_file() and png.stat().st_size > 0, png)
            self.assertTrue(png.read_bytes().startswith(b"\x89PNG"), png)
            self.assertTrue(svg.is_file() and svg.stat().st_size > 0, svg)
            self.assertIn("<svg", svg.read_text(encoding="utf-8"))

    def test_figures_are_stamped(self):
        ctx = self.doc["context"]
        for name in FIGURES:
            svg = (self.out / "figures" / f"{name}.svg").read_text(encoding="utf-8")
            for value in (ctx["cpu_model"], ctx["git_revision"], ctx["compiler"], COMMAND):
                self.assertIn(html.escape(value), svg, f"{name}.svg lacks {value!r}")

    def test_markdown_references_figures(self):
        for name in FIGURES:
            self.assertIn(f"](figures/{name}.png)", self.md)
            self.assertIn(f"figures/{name}.svg", self.md)

    def test_table_row_per_variant(self):
        rows = [line for line in self.md.splitlines() if line.startswith("| ")]
        text = html.unescape(self.html)
        for b in self.medians():
            _, model, variant, tables = b["run_name"].split("/")[:4]
            start = f"| {model} | {variant} | {tables.split(':')[1]} |"
            rate = f"{b['fail_rate']:.3f} [{b['fail_lo']:.3f}, {b['fail_hi']:.3f}]"
            matching = [r for r in rows if r.startswith(start)]
            self.assertEqual(len(matching), 1, start)
            self.assertIn(rate, matching[0])
            self.assertIn(f"<td>{variant}</td>", text)
            self.assertIn(f"<td>{rate}</td>", text)

    def test_headline_only_what_the_rows_support(self):
        """Only cutlery here: the one finding it supports, computed from its 1,000-table rows,
        first; the others are left out, not guessed."""
        findings = HeadlineTest.md_findings(self.md)
        self.assertEqual(list(findings), ["Races"])
        self.assertLess(self.md.index("## What it found"), self.md.index("## Machine"))
        racy = fixture_row(self.doc, "cutlery/threads/racy/tables:1000")
        self.assertIn(f"racy threads lost updates in {100 * racy['fail_rate']:.0f}% of trials",
                      findings["Races"])
        self.assertIn(f"`{FIXTURE.name}`: `cutlery/threads/racy/tables:1000` (fail_rate, "
                      "fail_lo, fail_hi)", findings["Races"])

    def test_html_self_contained(self):
        self.assertNotRegex(self.html, r"""src\s*=\s*["'](?!data:)""")
        self.assertNotRegex(self.html, r"""<link[^>]+href""")
        self.assertGreaterEqual(self.html.count('src="data:image/png;base64,')
                                + self.html.count("<svg"), len(FIGURES))
        self.assertIn("<table", self.html)

    def test_context_and_command_in_both(self):
        ctx = self.doc["context"]
        for label, text in (("report.md", self.md), ("report.html", html.unescape(self.html))):
            for key in ("cpu_model", "cores", "kernel", "compiler", "boost_version",
                        "tbb_version", "benchmark_version", "git_revision", "tvl_command"):
                self.assertIn(ctx[key], text, f"{label} lacks {key}")
            self.assertIn(COMMAND, text, label)
            self.assertIn(FIXTURE.name, text, f"{label} does not list its source file")
        # The profile given on the command line, in the report's heading line (the fixture's own
        # tvl_command says "quick" too, so only this line can show which one was used).
        self.assertIn(f"Profile: **{PROFILE}** ·", self.md)
        self.assertIn(f"Profile: <strong>{html.escape(PROFILE)}</strong> ·", self.html)


def fixture_row(doc, short):
    """The fixture row named short (scenario/model/variant/params) plus Google Benchmark's
    suffixes: its median aggregate, or its only entry."""
    rows = [b for b in doc["benchmarks"] if b["name"] == short or b["name"].startswith(short + "/")]
    medians = [b for b in rows if b.get("aggregate_name") == "median"]
    assert len(medians) == 1 or (not medians and len(rows) == 1), f"{short}: {len(rows)} rows"
    return (medians or rows)[0]


def sig(value):
    """Three significant digits, thousands separated from 100 up (the findings' format)."""
    return f"{value:,.0f}" if abs(value) >= 99.95 else f"{value:#.3g}".rstrip(".")


def si_rate(value):
    """A rate with an SI prefix and three significant digits: '14.7 M/s'."""
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")):
        if abs(value) >= scale * 0.9995 or scale == 1:
            return f"{value / scale:#.3g}".rstrip(".") + f" {prefix}/s"


def fmt_us(us):
    """A duration in µs as the report writes it: three significant digits, in µs, ms or s."""
    for scale, unit in ((1e6, "s"), (1e3, "ms"), (1, "µs")):
        if us >= scale or scale == 1:
            return f"{us / scale:#.3g}".rstrip(".") + f" {unit}"


def ms(us):
    """A duration in µs written in ms with three significant digits (fmt.dur, from 1 ms up)."""
    return f"{us / 1e3:#.3g}".rstrip(".") + " ms"


# The brokers a capacity ratio names, in its order: (model/design, label).
CAP_BROKERS = (("asyncloop/improved", "asyncloop"), ("threads/improved", "threads"),
               ("redis/peer", "redis-server"), ("python/peer", "python"))


def expected_ratio(here):
    """The ratio line computed here from [(label, fixture row)] at one subscriber count:
    measured capacities when every capacity that passed was measured, else every broker's
    projected ceiling; redis-server is 1."""
    passed = [(label, b) for label, b in here if b["capacity"] > 0]
    measured = not any(b["load_bound"] for _, b in passed)
    values = {label: b["capacity"] if measured else b["projected_ceiling"] for label, b in here
              if (b["capacity"] if measured else b.get("projected_ceiling", 0)) > 0}
    ref = values["redis-server"]
    names = [label for label, _ in here if label in values]
    return (" : ".join(names) + " = "
            + " : ".join("1" if n == "redis-server" else sig(values[n] / ref) for n in names)
            + f", **{'measured' if measured else 'projected'}**")


class HeadlineTest(unittest.TestCase):
    """The headline findings on the fixtures of every scenario that has one: first section,
    links to existing anchors, and every number equal to the one computed here from the JSON."""

    FILES = ("cutlery_bench.json", "primitives_bench.json", "sweep_fanout_fixture.json",
             "capacity_fixture.json")
    TITLES = ("Switching", "Waiting", "Races", "Brokers", "Capacity")
    NUM = re.compile(r'<span class="num" data-value="([^"]+)" title="([^"]+)">(.*?)</span>')

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="tvl_plots_"))
        cls.docs = {n: json.loads((FIXTURE.parent / n).read_text(encoding="utf-8"))
                    for n in cls.FILES}
        cls.proc, cls.md, cls.html = cls.render(cls.docs, "all")

    @classmethod
    def render(cls, docs, name):
        """Render these documents; return (process, report.md, report.html)."""
        proc, out = render_docs(cls.tmp, docs, name)
        ok = proc.returncode == 0
        read = lambda f: (out / f).read_text(encoding="utf-8") if ok else ""
        return proc, read("report.md"), read("report.html")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @staticmethod
    def md_findings(md):
        """{bold title: the finding's bullet and its from-note} of a report.md."""
        return {m.group(1): m.group(0) for m in
                re.finditer(r"^- \*\*(\w+)[^*]*\*\*.*\n  <sub>from: .*$", md, re.M)}

    def html_findings(self):
        """{bold title: the finding's <li>} of report.html."""
        ul = re.search(r'<ul class="findings">(.*?)</ul>', self.html, re.S)
        self.assertIsNotNone(ul, "no findings list in report.html")
        return {re.match(r"<strong>(\w+)", li).group(1): li
                for li in re.findall(r"<li>(.*?)</li>", ul.group(1), re.S)}

    def value(self, file, row, field):
        return fixture_row(self.docs[file], row)[field]

    def test_exit_status(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)

    def test_headline_is_first_section(self):
        headings = [line for line in self.md.splitlines() if line.startswith("## ")]
        self.assertEqual(headings[0], "## What it found")
        self.assertIn('<a id="findings"></a>\n\n## What it found', self.md)
        self.assertLess(self.md.index("## What it found"), self.md.index("- **Switching:**"))
        self.assertLess(self.md.index("- **Capacity"), self.md.index("## Machine"))
        self.assertTrue(re.findall(r"<h2[^>]*>", self.html)[0] == '<h2 id="findings">')
        self.assertEqual(list(self.md_findings(self.md)), list(self.TITLES))
        self.assertEqual(list(self.html_findings()), list(self.TITLES))

    def test_links_resolve_to_anchors(self):
        # The table of contents links every section; the findings' links are checked here.
        md = "\n".join(line for line in self.md.splitlines()
                       if not line.startswith("**Contents:**"))
        md_links = re.findall(r"\]\(#([^)]+)\)", md)
        html_links = re.findall(r'href="#([^"]+)"', re.sub(r'<nav class="contents">.*?</nav>',
                                                            "", self.html))
        self.assertEqual(len(md_links), len(self.TITLES))
        self.assertEqual(md_links, html_links)
        for target in md_links:
            self.assertEqual(self.md.count(f'<a id="{target}"></a>'), 1, target)
            self.assertEqual(len(re.findall(f'<h2 id="{target}">', self.html)), 1, target)
        self.assertEqual(md_links, ["primitives", "primitives", "cutlery", "fanout",
                                    "fanout_capacity"])

    def test_numbers_equal_the_json(self):
        """Each number is recomputed here from the fixture and must be in its finding; each
        HTML number's value must equal what its title says it was computed from."""
        prim, cut = "primitives_bench.json", "cutlery_bench.json"
        fan, cap = "sweep_fanout_fixture.json", "capacity_fixture.json"
        t = self.value(prim, "primitives/threads/semaphore/pinned:1", "ns_per_switch")
        a = self.value(prim, "primitives/asyncloop/post/pinned:1", "ns_per_switch")
        tw = self.value(prim, "primitives/threads/waiting/tasks_max:2000", "kib_per_task")
        aw = self.value(prim, "primitives/asyncloop/timer-each/tasks_max:100000", "kib_per_task")
        stack = self.value(prim, "primitives/threads/waiting/tasks_max:2000", "stack_kib")
        want = {"Switching": [f"{sig(t)} ns (`threads/semaphore`)", f"{sig(a)} ns (`asyncloop/post`)",
                              f"costs {sig(t / a)}× as much"],
                "Waiting": [f"adds {sig(tw)} KiB", f"coroutine {sig(aw)} KiB", f"{sig(tw / aw)}×",
                            f"reserves {sig(stack)} KiB"],
                "Races": ["at 1,000 tables per bot"],
                "Brokers": ["(threads left out"], "Capacity": []}
        for model in ("threads", "asyncloop"):
            r = fixture_row(self.docs[cut], f"cutlery/{model}/racy/tables:1000")
            want["Races"].append(f"{100 * r['fail_rate']:.0f}% of trials (95% interval "
                                 f"{100 * r['fail_lo']:.0f}–{100 * r['fail_hi']:.0f}%)")
        conns = lambda b: b["subscribers"] + b["publishers"] + b["slow_subscribers"]
        for model, label in (("asyncloop/improved", "asyncloop"), ("redis/peer", "redis-server")):
            lo, hi = (fixture_row(self.docs[fan], f"fanout/{model}/subscribers:{n}")
                      for n in (10, 1000))
            kib = (hi["rss_kib"] - lo["rss_kib"]) / (conns(hi) - conns(lo))
            cpu = hi["broker_cpu_s"] / hi["delivered"] * 1e6
            want["Brokers"] += [f"{sig(kib)} KiB ({label})", f"{cpu:.2f} s ({label})"]
        for n in (10, 1000):
            here = [(label, fixture_row(self.docs[cap], f"fanout_capacity/{model}/subscribers:{n}"))
                    for model, label in CAP_BROKERS]
            for label, b in here:
                if not b["capacity"]:
                    want["Capacity"].append(
                        f"{label} no rate passed (lowest tried {si_rate(b['lowest_offered'])}, "
                        f"p99 {ms(b['lowest_p99_us'])}; floor {ms(b['floor_p99_us'])})")
                elif b["load_bound"]:
                    want["Capacity"].append(f"{label} at least {si_rate(b['capacity'])} "
                                            f"(projected {si_rate(b['projected_ceiling'])})")
                else:
                    want["Capacity"].append(f"{label} {si_rate(b['capacity'])}")
            want["Capacity"].append(expected_ratio(here))
        found = self.md_findings(self.md)
        for title, texts in want.items():
            for text in texts:
                self.assertIn(text, found[title], title)
        # The fixture has a load-bound broker at 10 subscribers and none at 1,000: one ratio of
        # each kind; and a broker with no passing rate, which is never "none".
        self.assertIn("**projected**", found["Capacity"])
        self.assertIn("**measured**", found["Capacity"])
        self.assertNotRegex(found["Capacity"].split("<sub>")[0], r"\bnone\b|no rate tried")
        spans = [m for li in self.html_findings().values() for m in self.NUM.findall(li)]
        self.assertGreaterEqual(len(spans), sum(len(t) for t in want.values()))
        for value, title, text in spans:
            self.assertAlmostEqual(float(value), self.from_title(html.unescape(title)),
                                   delta=1e-9 * abs(float(value)), msg=title)
            self.assertIn(html.unescape(text), html.unescape(self.html))

    def from_title(self, title):
        """Recompute a finding's number from the fixture rows its title names."""
        how, _, sources = title.rpartition(" of ")
        fields = []
        for source in sources.split("; "):
            file, rest = source.split(": ", 1)
            row, field = rest.rsplit(", ", 1)
            fields.append(fixture_row(self.docs[file], row)[field])
        if how == "ratio":
            return fields[0] / fields[1]
        if how == "inverse ratio":  # of two CPU costs: the ceilings 10⁶ ÷ each, compared
            return fields[1] / fields[0]
        if how == "RSS difference over connection difference":  # rss, subscribers, publishers x2
            return (fields[3] - fields[0]) / (fields[4] + fields[5] - fields[1] - fields[2])
        if how == "broker_cpu_s / delivered × 10⁶":
            return fields[0] / fields[1] * 1e6
        self.assertEqual(how, "", f"a number computed in an unknown way: {title}")
        return fields[0]

    def test_missing_rows_are_left_out(self):
        """A finding whose rows are missing is not in the report; the others still are."""
        docs = json.loads(json.dumps(self.docs))
        docs["primitives_bench.json"]["benchmarks"] = [
            b for b in docs["primitives_bench.json"]["benchmarks"]
            if "ns_per_switch" not in b or "/threads/" not in b["name"]]
        del docs["capacity_fixture.json"]
        proc, md, _ = self.render(docs, "partial")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(list(self.md_findings(md)), ["Waiting", "Races", "Brokers"])
        restaurant = {n: json.loads((FIXTURE.parent / n).read_text(encoding="utf-8"))
                      for n in RestaurantTest.FILES}
        proc, md, _ = self.render(restaurant, "none")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.md_findings(md), {})
        self.assertIn("No headline finding", md)


class InputTest(unittest.TestCase):
    """Runs on altered inputs: what must fail, and what must still work."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="tvl_plots_"))
        self.results = self.tmp / "results"
        self.results.mkdir()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, content):
        """Write a results file, JSON-encoding content unless it is already text."""
        text = content if isinstance(content, str) else json.dumps(content)
        (self.results / name).write_text(text, encoding="utf-8")

    def assertFailsWith(self, *fragments):
        """The script must exit 2 with one 'tvl_plots: error:' line naming the fragments."""
        proc = run_script(self.results, self.tmp / "out")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertTrue(lines[0].startswith("tvl_plots: error: "), lines[0])
        for fragment in fragments:
            self.assertIn(fragment, lines[0])
        self.assertFalse((self.tmp / "out" / "report.md").exists())

    def test_no_json(self):
        self.write("notes.txt", "not a result")
        self.assertFailsWith("no *.json")

    def test_malformed_json(self):
        self.write("broken.json", '{"context": {}, "benchmarks": [')
        self.assertFailsWith("broken.json", "malformed")

    def test_not_google_benchmark(self):
        self.write("other.json", {"hello": 1})
        self.assertFailsWith("other.json", "benchmarks")

    def test_no_benchmarks(self):
        self.write("empty.json", {"context": {}, "benchmarks": []})
        self.assertFailsWith("no benchmarks")

    def test_errored_benchmark_is_reported(self):
        doc = fixture_doc()
        bad = doc["benchmarks"][0]
        bad.update(error_occurred=True, error_message="kitchen check failed")
        self.write("cutlery.json", doc)
        self.assertFailsWith(bad["name"], "kitchen check failed")

    def test_single_runs_and_generic_section(self):
        doc = fixture_doc()
        doc["benchmarks"] = [dict(b, repetitions=1) for b in doc["benchmarks"]
                             if b.get("repetition_index") == 0]
        doc["benchmarks"].append({  # a scenario with no section of its own
            "name": "demo/threads/switch-semaphore/pinned:0/real_time",
            "run_name": "demo/threads/switch-semaphore/pinned:0/real_time",
            "run_type": "iteration", "repetitions": 1, "repetition_index": 0, "threads": 1,
            "iterations": 1000, "real_time": 1700.0, "cpu_time": 900.0, "time_unit": "ns",
            "items_per_second": 588235.0, "p99_us": 4.25})
        self.write("all.json", doc)
        proc = run_script(self.results, self.tmp / "out")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        md = (self.tmp / "out" / "report.md").read_text(encoding="utf-8")
        first = doc["benchmarks"][0]
        self.assertIn(f"{first['fail_rate']:.3f} [{first['fail_lo']:.3f}", md)
        self.assertIn("single run", md)
        self.assertIn("| threads | switch-semaphore | pinned:0 |", md)
        self.assertIn("4.250", md)

    def test_primitives_section(self):
        def row(name, **counters):
            return {"name": name, "run_name": name, "run_type": "iteration", "repetitions": 1,
                    "iterations": 1, "real_time": 1.0, "time_unit": "ms", **counters}
        doc = fixture_doc()
        doc["benchmarks"] = [
            row("primitives/threads/semaphore/pinned:1", ns_per_switch=2100.0, pinned=1),
            row("primitives/threads/semaphore/pinned:0", ns_per_switch=1700.0, pinned=0),
            row("primitives/asyncloop/post/pinned:1", ns_per_switch=135.0, pinned=1),
            row("primitives/asyncloop/create/pinned:0", us_per_create=0.375, pinned=0),
            row("primitives/threads/waiting/tasks_max:2000", kib_per_task=8.35,
                fit_residual_kib=0.7, fit_r2=0.9999, fit_intercept_kib=1200.0, stack_kib=8192,
                growth_kib_n1000=9550.0, growth_kib_n2000=17900.0)]
        self.write("primitives.json", doc)
        out = self.tmp / "primitives_out"  # assertFailsWith below expects "out" to stay empty
        proc = run_script(self.results, out)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for name in ("primitives_switch", "primitives_create", "primitives_memory"):
            self.assertTrue((out / "figures" / f"{name}.png").is_file(), name)
        md = (out / "report.md").read_text(encoding="utf-8")
        self.assertIn("| threads | semaphore | no | ns per switch | 1700.0 |", md)
        self.assertIn("| threads | waiting |  | KiB per waiting task | 8.350 | 0.70 |", md)
        self.assertIn("8192 KiB", md)
        doc["benchmarks"].append(row("primitives/threads/mystery/pinned:0", p99_us=1.0))
        self.write("primitives.json", doc)
        self.assertFailsWith("primitives/threads/mystery", "no ns_per_switch")


class RestaurantTest(unittest.TestCase):
    """The restaurant section on its fixtures, found beside the cutlery fixture: a few registry
    medians (restaurant_bench.json) and a sweep with one point that did not run."""

    FILES = ("restaurant_bench.json", "sweep_restaurant_fixture.json")
    FIGURES = ("restaurant_idle", "restaurant_chatty", "restaurant_memory", "restaurant_overhead")

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="tvl_plots_"))
        (cls.tmp / "results").mkdir()
        for name in cls.FILES:
            shutil.copy(FIXTURE.parent / name, cls.tmp / "results" / name)
        bench, sweep = (json.loads((FIXTURE.parent / n).read_text(encoding="utf-8"))
                        for n in cls.FILES)
        cls.medians, cls.sweep = bench["benchmarks"], sweep
        cls.out = cls.tmp / "report"
        cls.proc = run_script(cls.tmp / "results", cls.out, "--command", COMMAND)
        ok = cls.proc.returncode == 0
        cls.md = (cls.out / "report.md").read_text(encoding="utf-8") if ok else ""

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def svg(self, name):
        return (self.out / "figures" / f"{name}.svg").read_text(encoding="utf-8")

    def test_exit_status(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)

    def test_figures_exist_and_are_stamped(self):
        for name in self.FIGURES:
            png = self.out / "figures" / f"{name}.png"
            self.assertTrue(png.is_file() and png.read_bytes().startswith(b"\x89PNG"), png)
            self.assertIn(f"](figures/{name}.png)", self.md)
            for value in (self.sweep["context"]["cpu_model"], COMMAND):
                self.assertIn(html.escape(value), self.svg(name), name)
        for name in ("restaurant_memory", "restaurant_overhead"):  # and the sweep's own command
            self.assertIn(html.escape(self.sweep["context"]["tvl_command"]), self.svg(name))

    def test_failure_reason_reported(self):
        failed = [b for b in self.sweep["benchmarks"] if b.get("sweep_failed")]
        self.assertEqual(len(failed), 1)
        self.assertIn(failed[0]["failure_reason"], self.md)
        model = failed[0]["name"].split("/")[1]
        for name in ("restaurant_memory", "restaurant_overhead"):  # the ✕ and its label
            self.assertTrue(f"{model} stopped" in self.svg(name), f"{name}.svg lacks the stop")

    def test_table_row_per_configuration(self):
        for b in self.medians:
            model, variant, staff, chatty = b["run_name"].split("/")[1:5]
            row = (f"| {model} | {variant} | {staff.split(':')[1]} | {chatty.split(':')[1]} | "
                   f"{b['items_per_second']:.1f} |")
            self.assertEqual(sum(line.startswith(row) for line in self.md.splitlines()), 1, row)

    def test_sweep_points_in_table(self):
        for b in self.sweep["benchmarks"]:
            model = b["name"].split("/")[1]
            cell = "—" if b.get("sweep_failed") else f"{b['kib_per_table']:.2f}"
            self.assertIn(f"| {model} | {int(b['tables']):,} | {cell} |", self.md)

    def test_summary_counts_collisions(self):
        for b in self.medians:
            if "/unsafe/" in b["run_name"]:
                model, staff = b["run_name"].split("/")[1], b["run_name"].split("/")[3][6:]
                self.assertIn(f"unsafe {model} ({staff} staff): {b['collisions']:.0f}", self.md)
        self.assertTrue(any(b["collisions"] > 0 for b in self.medians), "fixture lacks a collision")


class FanoutTest(unittest.TestCase):
    """The fan-out section on its fixture, found beside the cutlery fixture: tvl's brokers and
    the reference peers at a few subscriber counts, one point that did not run, points whose
    checks failed, and a slow consumer under the naive and the improved design."""

    FILE = "sweep_fanout_fixture.json"
    FIGURES = ("fanout_throughput", "fanout_latency", "fanout_memory", "fanout_slow")

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="tvl_plots_"))
        (cls.tmp / "results").mkdir()
        shutil.copy(FIXTURE.parent / cls.FILE, cls.tmp / "results" / cls.FILE)
        cls.doc = json.loads((FIXTURE.parent / cls.FILE).read_text(encoding="utf-8"))
        cls.out = cls.tmp / "report"
        cls.proc = run_script(cls.tmp / "results", cls.out, "--command", COMMAND)
        ok = cls.proc.returncode == 0
        cls.md = (cls.out / "report.md").read_text(encoding="utf-8") if ok else ""
        cls.html = (cls.out / "report.html").read_text(encoding="utf-8") if ok else ""

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def point(self, name):
        """The fixture row with this name."""
        return next(b for b in self.doc["benchmarks"] if b["name"] == name)

    def test_exit_status(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)

    def test_figures_exist_and_are_stamped(self):
        for name in self.FIGURES:
            png = self.out / "figures" / f"{name}.png"
            self.assertTrue(png.is_file() and png.read_bytes().startswith(b"\x89PNG"), png)
            self.assertIn(f"](figures/{name}.png)", self.md)
            svg = (self.out / "figures" / f"{name}.svg").read_text(encoding="utf-8")
            for value in (self.doc["context"]["cpu_model"], self.doc["context"]["git_revision"],
                          COMMAND, self.doc["context"]["tvl_command"]):
                self.assertIn(html.escape(value), svg, f"{name}.svg lacks {value!r}")

    def test_ratio_table(self):
        rows = [line for line in self.md.splitlines() if line.startswith("| ")]
        self.assertTrue(any(r.startswith("| subscribers | broker | delivered/s | × redis")
                            for r in rows), "no ratio table")
        for n in (10, 1000):
            ref = self.point(f"fanout/redis/peer/subscribers:{n}")
            mine = self.point(f"fanout/asyncloop/improved/subscribers:{n}")
            row = [r for r in rows if r.startswith(f"| {n:,} | asyncloop/improved |")]
            self.assertEqual(len(row), 1, n)
            for key in ("items_per_second", "p99_us", "sent_p99_us"):
                self.assertIn(f"{mine[key] / ref[key]:.2f}×", row[0], key)
            cpu = lambda b: b["broker_cpu_s"] / b["delivered"]
            self.assertIn(f"{cpu(mine) / cpu(ref):.2f}×", row[0])
            self.assertIn(f"**Against redis-server at {n:,} subscribers**", self.md)
        self.assertTrue(any(r.startswith("| 10 | python (peer) |") for r in rows))
        self.assertFalse(any(r.startswith("| 1,000 | python (peer) |") for r in rows),
                         "a ratio where the fixture has no python point")

    def test_generator_cpu_and_user_space_p99(self):
        """Where a point carries them, the generator's CPU per million deliveries stands beside
        the broker's and the user-space receive p99 beside the kernel-stamped one, in both
        tables; points written before them show a dash; a note says what the clocks are."""
        rows = [line for line in self.md.splitlines() if line.startswith("| ")]
        ratio_head = next(r for r in rows if r.startswith("| subscribers | broker |"))
        self.assertIn("| broker CPU s per M deliveries | × redis | generator CPU s per M "
                      "deliveries |", ratio_head)
        self.assertIn("| p99 from intended send | × redis | p99 at user-space receive |",
                      ratio_head)
        point_head = next(r for r in rows if r.startswith("| model | design |"))
        self.assertIn("| broker CPU s / M deliveries | generator CPU s / M deliveries |",
                      point_head)
        self.assertIn("(kernel receive stamp) | p50 / p99 at user-space receive |", point_head)
        for b in self.doc["benchmarks"]:
            model, design = b["name"].split("/")[1:3]
            if "load_cpu_s_per_million" not in b or "/slow:" in b["name"]:
                continue
            start = f"| {model} | {design} | {int(b['subscribers']):,} | 0 |"
            row = next(r for r in rows if r.startswith(start))
            self.assertIn(f"| {b['broker_cpu_s_per_million']:.2f} | "
                          f"{b['load_cpu_s_per_million']:.2f} |", row)
            self.assertIn(f"{fmt_us(b['user_p50_us'])} / {fmt_us(b['user_p99_us'])}", row)
        python = next(r for r in rows if r.startswith("| python | peer | 10 | 0 |"))
        self.assertIn("| — |", python)
        unstamped = sum(b.get("unstamped", 0) for b in self.doc["benchmarks"])
        self.assertIn("**Two receive clocks.**", self.md)
        self.assertIn(f"{unstamped:,} deliveries carried no kernel stamp", self.md)

    def test_failure_and_check_reasons(self):
        failed = [b for b in self.doc["benchmarks"] if b.get("sweep_failed")]
        checked = [b for b in self.doc["benchmarks"] if b.get("check_failed")]
        self.assertEqual(len(failed), 1)
        self.assertGreaterEqual(len(checked), 1)
        text = html.unescape(self.html)
        for b in failed:
            self.assertIn(f"**Did not run:** `{b['name']}` — {b['failure_reason']}", self.md)
            self.assertIn(b["failure_reason"], text)
        for b in checked:
            self.assertIn(f"**Check failed:** `{b['name']}` — {b['check_failed']}", self.md)
            self.assertIn(f"CHECK FAILED: {b['check_failed']}", self.md)  # in the table too
            self.assertIn(b["check_failed"], text)
        self.assertIn("did not run", (self.out / "figures" / "fanout_throughput.svg")
                      .read_text(encoding="utf-8"))

    def test_table_row_per_point(self):
        for b in self.doc["benchmarks"]:
            model, design = b["name"].split("/")[1:3]
            slow = 1 if "/slow:" in b["name"] else 0
            start = f"| {model} | {design} | {int(b['subscribers']):,} | {slow} |"
            rows = [line for line in self.md.splitlines() if line.startswith(start)]
            self.assertEqual(len(rows), 1, start)
            if not b.get("sweep_failed"):
                self.assertIn(f"| {b['lost']:.0f} | {b['gaps']:.0f} |", rows[0])

    def test_without_slow_consumer_runs(self):
        doc = json.loads(json.dumps(self.doc))
        doc["benchmarks"] = [b for b in doc["benchmarks"] if "/slow:" not in b["name"]]
        results = self.tmp / "no_slow"
        results.mkdir()
        (results / self.FILE).write_text(json.dumps(doc), encoding="utf-8")
        proc = run_script(results, self.tmp / "no_slow_out")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        md = (self.tmp / "no_slow_out" / "report.md").read_text(encoding="utf-8")
        self.assertIn("no slow-consumer run is in these results", md)
        self.assertFalse((self.tmp / "no_slow_out" / "figures" / "fanout_slow.png").exists())
        self.assertIn("](figures/fanout_throughput.png)", md)


class CapacityTest(unittest.TestCase):
    """The fan-out capacity section on its fixture (`tvl capacity` rows for threads, asyncloop,
    redis-server and python at 10 and 1,000 subscribers on one core each, and two brokers on two
    CPUs, with every probe logged): one table row per point — a measured capacity, "≥" with a
    projected ceiling when load-bound, or the lowest rate tried when none passed, never "none"
    nor a p99 of 0 — the ratios marked measured or projected, the knee figure beside the table,
    and overload against each broker's saturation rate, with its collapse."""

    FILE = "capacity_fixture.json"
    FIGURES = ("fanout_knee", "fanout_capacity", "fanout_overload")
    # What a report must never say about a capacity (issue 16): a search with no passing rate
    # says the lowest rate tried, its p99 and the broker's floor.
    NEVER = ("no rate tried", "none met", "met the SLO at no rate", "no rate within the SLO")
    # Model colours of palette.py, which no other module may spell out (STYLE 14: one palette).
    MODEL_COLOURS = ("#1f4e9c", "#c05a00", "#7a2f9c", "#1b7a3a", "#444444", "#8c564b",
                     "#c2408f", "#138d90")
    # The fields a result written before issue 16 lacks.
    NEW_FIELDS = ("slo_source", "floor_p99_us", "floor_offered", "floor_judged",
                  "broker_cpu_s_per_million", "load_cpu_s_per_million", "projected_ceiling",
                  "confirmed", "confirm_p99_us", "spread_p99", "spread_delivered", "saturation",
                  "saturation_source", "overload_under_offered", "lowest_offered",
                  "lowest_p99_us", "lowest_verdict", "user_p99_us", "receive_clock")

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="tvl_plots_"))
        cls.doc = json.loads((FIXTURE.parent / cls.FILE).read_text(encoding="utf-8"))
        cls.proc, cls.md = cls.render(cls.doc, "results")
        cls.out = cls.tmp / "results_report"
        cls.html = (html.unescape((cls.out / "report.html").read_text(encoding="utf-8"))
                    if cls.md else "")

    @classmethod
    def render(cls, doc, name):
        results = cls.tmp / name
        results.mkdir()
        (results / cls.FILE).write_text(json.dumps(doc), encoding="utf-8")
        out = cls.tmp / f"{name}_report"
        proc = run_script(results, out, "--command", COMMAND)
        md = (out / "report.md").read_text(encoding="utf-8") if proc.returncode == 0 else ""
        return proc, md

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    CAPACITY, OVERLOAD = "| broker | subscribers | broker CPUs | capacity |", \
        "| broker | subscribers | broker CPUs | saturation"

    def rows(self, broker, subscribers, cpus=1, md=None, table=CAPACITY):
        """The rows of one table (capacity or overload) that start with broker, count, CPUs."""
        md = md or self.md
        block = md[md.index(table):].split("\n\n")[0]
        start = f"| {broker} | {subscribers:,} | {cpus} |"
        return [line for line in block.splitlines() if line.startswith(start)]

    def point(self, model, design, subscribers, cpus=""):
        name = f"fanout_capacity/{model}/{design}/{cpus}subscribers:{subscribers}"
        return next(b for b in self.doc["benchmarks"] if b["name"] == name)

    def svg(self, name):
        return (self.out / "figures" / f"{name}.svg").read_text(encoding="utf-8")

    def test_exit_status(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)

    def test_figures_exist_and_are_stamped(self):
        for name in self.FIGURES:
            png = self.out / "figures" / f"{name}.png"
            self.assertTrue(png.is_file() and png.read_bytes().startswith(b"\x89PNG"), png)
            self.assertIn(f"](figures/{name}.png)", self.md)
            self.assertIn(f"figures/{name}.svg", self.md)
            svg = self.svg(name)
            self.assertIn("<svg", svg)
            self.assertIn(html.escape(self.doc["context"]["git_revision"]), svg)
            self.assertIn(html.escape(COMMAND), svg)

    def test_fixture_covers_every_case(self):
        """The fixture holds what the section must word: a load-bound capacity, a search with
        no passing rate, a collapse, an overload that was not past saturation."""
        rows = self.doc["benchmarks"]
        self.assertTrue(any(b["load_bound"] and b["capacity"] > 0 for b in rows))
        self.assertTrue(any(b["capacity"] == 0 for b in rows))
        self.assertTrue(any(b["collapsed"] for b in rows))
        self.assertTrue(any(b["overload_under_offered"] for b in rows))
        self.assertTrue(all(b["probe_log"] for b in rows))

    def test_capacity_cells(self):
        """Each point's capacity as measured, '≥' with its projected ceiling, or the lowest rate
        tried; floor, SLO, p99 and both CPU costs beside it."""
        for model, label in CAP_BROKERS:
            for n in (10, 1000):
                b = self.point(*model.split("/"), n)
                rows = self.rows(model.replace("/improved", " (improved)").replace("/peer", ""), n)
                self.assertEqual(len(rows), 1, (model, n))
                row = rows[0]
                self.assertIn(f"| {b['slo_ms']:g} ms |", row)
                self.assertIn(ms(b["floor_p99_us"]) if b["floor_p99_us"] >= 1000 else "µs", row)
                if not b["capacity"]:
                    self.assertIn(f"| no rate passed: lowest tried {si_rate(b['lowest_offered'])} "
                                  f"(p99 {ms(b['lowest_p99_us'])}; "
                                  f"floor {ms(b['floor_p99_us'])}) |", row)
                    continue
                cap = si_rate(b["capacity"])
                if b["load_bound"]:
                    self.assertIn(f"| ≥ {cap} (load-bound) | {si_rate(b['projected_ceiling'])} "
                                  "projected |", row)
                else:
                    self.assertIn(f"| {cap} | {si_rate(b['projected_ceiling'])} projected |", row)
                for key in ("broker_cpu_s_per_million", "load_cpu_s_per_million"):
                    self.assertIn(f"| {b[key]:#.3g} |".replace(". |", " |"), row, key)
                self.assertIn(f"| yes (p99 ±{100 * b['spread_p99']:.1f}%", row)
                self.assertNotRegex(row, r"\| 0 µs|p99 0\b|\| 0(\.0+)? \|", row)
        self.assertEqual(len(self.rows("asyncloop-mt (improved)", 1000, 2)), 1)
        self.assertIn("projected", self.md.split(self.CAPACITY)[1].split("\n\n")[0])

    def test_never_none(self):
        for text, where in ((self.md, "report.md"), (self.html, "report.html"),
                            *((self.svg(n), f"{n}.svg") for n in self.FIGURES)):
            for words in self.NEVER:
                self.assertNotIn(words, text, where)
        package = SCRIPT.parent / "tvlplots"
        for source in package.glob("*.py"):
            for words in self.NEVER:
                self.assertNotIn(words, source.read_text(encoding="utf-8"), source.name)

    def test_ratios_marked_measured_or_projected(self):
        """One ratio line per subscriber count, asyncloop : threads : redis-server (: python),
        equal to the one computed here, with its kind."""
        for n, kind in ((10, "projected"), (1000, "measured")):
            line = next(p for p in self.md.split("\n\n")
                        if p.startswith(f"**At {n:,} subscribers**"))
            here = [(label, self.point(*model.split("/"), n)) for model, label in CAP_BROKERS]
            want = expected_ratio(here)
            self.assertIn(want, line)
            self.assertIn(f"**{kind}**", want)
        self.assertIn("python is left out: no rate passed: lowest tried", self.md)

    def test_knee_beside_the_table(self):
        """The knee comes right after the capacity table, before the other figures; it draws
        both counts, the SLO of each and the load-bound probes."""
        table = self.md.index(self.CAPACITY)
        knee = self.md.index("](figures/fanout_knee.png)")
        self.assertLess(table, knee)
        self.assertLess(knee, self.md.index("](figures/fanout_capacity.png)"))
        svg = self.svg("fanout_knee")
        for text in ("10 subscribers", "1,000 subscribers", "SLO: p99 ≤ 10 ms",
                     "SLO: p99 ≤ 25 ms", "load-bound probe", "probe failed"):
            self.assertIn(html.escape(text), svg)

    def test_knee_without_the_preferred_counts(self):
        """Only 1,000 and a count the knee does not prefer: a panel for each that exists."""
        doc = json.loads(json.dumps(self.doc))
        doc["benchmarks"] = [b for b in doc["benchmarks"] if b["subscribers"] == 1000]
        extra = json.loads(json.dumps(self.point("redis", "peer", 1000)))
        extra["name"] = extra["run_name"] = "fanout_capacity/redis/peer/subscribers:100"
        extra["subscribers"] = 100
        doc["benchmarks"].append(extra)
        proc, md = self.render(doc, "other_counts")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        svg = (self.tmp / "other_counts_report" / "figures" / "fanout_knee.svg").read_text(
            encoding="utf-8")
        self.assertIn("100 subscribers", svg)
        self.assertIn("1,000 subscribers", svg)

    def test_overload_against_saturation(self):
        python = self.point("python", "peer", 10)
        self.assertIn(f"| {python['goodput'] / python['saturation']:.2f} collapsed |",
                      self.rows("python", 10, table=self.OVERLOAD)[0])
        self.assertIn("**Collapse:** python at 10 subscribers", self.md)
        self.assertIn(f"2× its saturation rate of {si_rate(python['saturation'])}", self.md)
        self.assertIn("— not past saturation",
                      self.rows("asyncloop (improved)", 10, table=self.OVERLOAD)[0])
        self.assertIn("**Not past saturation:** asyncloop (improved) at 10 subscribers", self.md)
        svg = self.svg("fanout_overload")
        for text in ("goodput ÷ saturation rate", "collapsed (below 0.8×)",
                     "not offered past saturation"):
            self.assertIn(html.escape(text), svg)

    def test_placement_is_stated(self):
        self.assertIn(self.doc["context"]["placement"], self.md)

    def test_one_palette(self):
        """A model's colour is spelled once, in palette.py; every figure module asks it."""
        package = SCRIPT.parent / "tvlplots"
        self.assertIn("PALETTE", (package / "palette.py").read_text(encoding="utf-8"))
        for source in package.glob("*.py"):
            if source.name == "palette.py":
                continue
            text = source.read_text(encoding="utf-8").lower()
            for colour in self.MODEL_COLOURS:
                self.assertNotIn(colour, text, f"{source.name} spells a model colour")
        # The capacity figures draw each model in its palette colour.
        for name in ("fanout_knee", "fanout_capacity", "fanout_overload"):
            svg = self.svg(name).lower()
            for colour in ("#1f4e9c", "#c05a00", "#444444", "#8c564b"):
                self.assertIn(colour, svg, f"{name}: {colour}")

    def test_collapse_is_reported(self):
        doc = json.loads(json.dumps(self.doc))
        victim = next(b for b in doc["benchmarks"] if b.get("capacity", 0) > 0
                      and not b["collapsed"])
        victim.update(goodput=victim["saturation"] * 0.3, goodput_ratio=0.3, collapsed=1)
        proc, md = self.render(doc, "collapsed")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("0.30 collapsed", md)
        self.assertEqual(md.count("**Collapse:**"), 2)

    def test_results_written_before_issue_16(self):
        """Rows without the new fields (and probes without a kind) still render: dashes where a
        value is missing, the projected ceiling from the CPU per million, never 'none'."""
        doc = json.loads(json.dumps(self.doc))
        for b in doc["benchmarks"]:
            for key in self.NEW_FIELDS:
                b.pop(key, None)
            for e in b["probe_log"]:
                e.pop("kind")
        proc, md = self.render(doc, "old")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for words in self.NEVER:
            self.assertNotIn(words, md)
        self.assertTrue((self.tmp / "old_report" / "figures" / "fanout_knee.png").is_file())
        python = self.rows("python", 1000, md=md)[0]
        self.assertIn("| no rate passed: lowest tried", python)
        bound = self.rows("asyncloop (improved)", 10, md=md)[0]
        self.assertIn("projected |", bound)
        self.assertIn("**projected**", md)
        self.assertIn("(÷ capacity)", md)


class FailureFieldsTest(unittest.TestCase):
    """A point that did not run is known by failure_kind and failure_detail, never by its
    failure_reason text: the sweep fixtures' thread_limit and fd_limit rows, their reasons
    replaced by text that names no limit, must still be drawn and explained from the fields."""

    FILES = ("sweep_restaurant_fixture.json", "sweep_fanout_fixture.json")
    OPAQUE = "the child process stopped"  # a reason a regex on error text would find nothing in

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="tvl_plots_"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def docs(self):
        """The two sweep fixtures, {file name: document}, each a fresh copy."""
        return {n: json.loads((FIXTURE.parent / n).read_text(encoding="utf-8"))
                for n in self.FILES}

    @staticmethod
    def failed(docs, kind):
        """The one fixture row of this failure_kind."""
        rows = [b for d in docs.values() for b in d["benchmarks"]
                if b.get("failure_kind") == kind]
        assert len(rows) == 1, f"the fixtures need one {kind} row, have {len(rows)}"
        return rows[0]

    def render(self, docs, name="run"):
        """Render these documents; return (process, report.md text, figures folder)."""
        proc, out = render_docs(self.tmp, docs, name)
        md = (out / "report.md").read_text(encoding="utf-8") if proc.returncode == 0 else ""
        return proc, md, out / "figures"

    def test_thread_and_fd_limits_from_fields(self):
        docs = self.docs()
        threads, fds = self.failed(docs, "thread_limit"), self.failed(docs, "fd_limit")
        for row in (threads, fds):
            row["failure_reason"] = self.OPAQUE
        threads["failure_detail"]["threads"] = 250  # numbers the old text never said
        fds["failure_detail"].update(needed=30065, hard_limit=30000)
        proc, md, figures = self.render(docs)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        limits = threads["failure_detail"]["limits"]
        cause = threads["failure_detail"]["cause"]
        self.assertIn(f"Thread creation failed with `{cause}` after 250 threads.", md)
        self.assertIn(f"did not run at 400 tables: thread creation failed after 250 threads "
                      f"({cause}).", md)
        self.assertIn("| limit | value | this process had | share |", md)
        self.assertIn(f"| pid_max | {limits['pid_max']:,} | 250 threads (a thread takes a pid, "
                      f"system-wide) | {250 / limits['pid_max']:.1%} |", md)
        self.assertIn(f"| max_map_count | {limits['max_map_count']:,} | 500 memory mappings", md)
        reserved = 250 * limits["default_stack_kib"]
        self.assertIn(f"| MemAvailable | {limits['MemAvailable_kib']:,} KiB | {reserved:,} KiB "
                      "of stacks reserved", md)
        self.assertIn(f"**Did not run:** `{fds['name']}` — {self.OPAQUE}", md)
        svg = (figures / "fanout_throughput.svg").read_text(encoding="utf-8")
        self.assertIn("30065 descriptors needed", svg)
        self.assertIn("open-files hard", svg)
        svg = (figures / "restaurant_memory.svg").read_text(encoding="utf-8")
        self.assertIn("thread creation failed after 250", svg)

    def test_reason_text_alone_is_a_generic_failure(self):
        """Without failure_kind the reason is only shown: the limit table, which the old text
        parsing built from it, does not appear."""
        docs = self.docs()
        threads = self.failed(docs, "thread_limit")
        del threads["failure_kind"], threads["failure_detail"]
        proc, md, _ = self.render(docs)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn(f"**Did not run:** `{threads['name']}` — {threads['failure_reason']}", md)
        self.assertNotIn("| limit | value | this process had | share |", md)
        self.assertNotIn("Thread creation failed with", md)

    def test_kind_without_its_numbers_is_an_error(self):
        docs = self.docs()
        del self.failed(docs, "fd_limit")["failure_detail"]["hard_limit"]
        proc, _, _ = self.render(docs)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("failure_detail.hard_limit", proc.stderr)

    def test_one_point_ran_beside_one_that_did_not(self):
        """A broker with one point that ran and one stopped at a limit (what `tvl sweep fanout
        --subscribers 2,1000000` gives): no slope to draw, only the ✕."""
        docs = self.docs()
        doc = docs["sweep_fanout_fixture.json"]
        keep = [self.failed(docs, "fd_limit")["name"], "fanout/threads/improved/subscribers:10"]
        doc["benchmarks"] = [b for b in doc["benchmarks"] if b["name"] in keep]
        proc, md, figures = self.render({"sweep_fanout_fixture.json": doc})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("20065 descriptors needed",
                      (figures / "fanout_memory.svg").read_text(encoding="utf-8"))

    def test_no_error_text_is_parsed(self):
        """failure_reason is read once, as text to show; no regular expression in the package
        is applied to a failure."""
        package = SCRIPT.parent / "tvlplots"
        sources = {p.name: p.read_text(encoding="utf-8") for p in package.glob("*.py")}
        self.assertIn("report.py", sources, f"no tvlplots package at {package}")
        reads = [(name, line.strip()) for name, text in sources.items()
                 for line in text.splitlines() if '"failure_reason"' in line]
        self.assertEqual([name for name, _ in reads], ["load.py"], reads)
        self.assertIn('one_line(entry.get("failure_reason")', reads[0][1])
        for name, text in sources.items():
            self.assertNotRegex(text, r"re\.\w+\([^)]*(failure|reason)", name)
            self.assertNotIn("descriptors needed, the open-files", text, name)
            self.assertIsNone(re.search(r"REST_THREAD_FAIL|REST_LIMIT_VALUE|FD_LIMIT_FAIL", text),
                              name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--script", required=True, type=Path)
    parser.add_argument("--fixture", required=True, type=Path)
    options, rest = parser.parse_known_args()
    SCRIPT, FIXTURE = options.script.resolve(), options.fixture.resolve()
    unittest.main(argv=[sys.argv[0]] + rest)
