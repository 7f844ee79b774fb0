#!/usr/bin/env python3
"""Tests for the crossover part of the report (plots/tvlplots/crossover*.py) on `tvl capacity
echo` rows: a small hand-made grid whose crossover is known, so every computed statement can be
checked word for word, and the whole report rendered from fake crossover_*.json files
(tests/crossover_fake.py) to check the section, its figures and that no crossover files means
no section.

Usage:
    /usr/bin/python3 tests/test_crossover.py --plots plots [unittest options]
"""
import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import crossover_fake  # noqa: E402  (beside this file)

PLOTS = None  # the plots/ folder, from the command line
MODELS = {"threads": "per-connection", "asyncloop": "inline"}


def row(model, variant, c, w, b, cap, load_bound=0, **counters):
    """A row as tvlplots.load makes it from an echo_capacity benchmark."""
    base = dict(capacity=cap, load_bound=load_bound, slo_ms=10.0,
                projected_ceiling=counters.pop("projected", cap * 1.5),
                saturation=cap * 1.1, server_rss_kib=4000 + counters.pop("rss", 2.0) * c,
                cpu_us_per_request=10.0)
    limit = counters.pop("limit", "load-bound" if load_bound else "latency")
    detail = counters.pop("detail", "")
    return dict(scenario="echo_capacity", model=model, variant=variant,
                params=dict(connections=c, work_us=w, block_ms=b),
                counters={**base, **counters}, labels=dict(limit=limit, limit_detail=detail),
                source="crossover_fake.json", failure=None, probe_log=[])


def known_grid():
    """C 1–1,000 × W 0, 100 µs, 1 ms, no blocking call. Threads carry 1.5× the loop at C ≤ 10
    with W ≥ 100 µs; everywhere else the loop carries 2× threads. At C = 1,000, W = 0 the loop
    is load-bound (≥); at C = 100, W = 100 µs the two are within 2% (a tie)."""
    rows = []
    for c in (1, 10, 100, 1000):
        for w in (0, 100, 1000):
            threads_win = c <= 10 and w >= 100
            t, l = (1500.0, 1000.0) if threads_win else (1000.0, 2000.0)
            if (c, w) == (100, 100):
                t, l = 1000.0, 1020.0
            rows.append(row("threads", "per-connection", c, w, 0, t, rss=10.0 + c / 100))
            rows.append(row("asyncloop", "inline", c, w, 0, l, load_bound=int((c, w) == (1000, 0))))
    return rows


def blocking_rows(executor_wins=True):
    """B = 1 ms cells for the loop inline and with its executor, at C = 10 and 1,000, W = 0."""
    rows = []
    for c in (10, 1000):
        inline, executor = (1000.0, 8000.0) if executor_wins else (9000.0, 8000.0)
        rows.append(row("asyncloop", "inline", c, 0, 1, inline))
        rows.append(row("asyncloop", "executor", c, 0, 1, executor))
        rows.append(row("threads", "per-connection", c, 0, 1, 900.0))
    return rows


class StatementTest(unittest.TestCase):
    """The statements on the known grid, word for word where the crossover is stated."""

    @classmethod
    def setUpClass(cls):
        from tvlplots import crossover_statements as st
        from tvlplots.crossover_terms import Grid
        cls.st, cls.Grid = st, Grid
        cls.grid = Grid(known_grid())

    def test_row_crossover(self):
        self.assertEqual(self.st.row_sentence(self.grid, 1000, 0),
                         "**W = 1 ms, no blocking call:** threads at C = 1–10 (1.50×), then "
                         "asyncloop at C = 100–1,000 (2.00×): the winner changes between C = 10 "
                         "and C = 100.")
        self.assertEqual(self.st.row_sentence(self.grid, 0, 0),
                         "**W = 0, no blocking call:** asyncloop wins at every C tried (C = "
                         "1–1,000; margin 2.00×): no crossover within the grid.")
        self.assertIn("a tie at C = 100", self.st.row_sentence(self.grid, 100, 0))

    def test_headline_finding(self):
        """The report's first section counts each model's cells and names its widest margin."""
        from tvlplots.headline import Num, crossover_finding
        f = crossover_finding(known_grid())
        text = "".join(seg.text if isinstance(seg, Num) else seg for seg in f["segments"])
        self.assertIn("of 12 cells of the crossover map where some model passed", text)
        self.assertIn("`asyncloop` won 7 (widest ", text)
        self.assertIn("`threads` won 4 (widest 1.50× over `asyncloop` at C 1, W 100 µs, "
                      "no blocking call)", text)
        self.assertIn("; 1 were ties within the search's precision (5%)", text)
        self.assertEqual(f["anchor"], "echo_capacity")
        self.assertIsNone(crossover_finding([]))

    def test_thread_corner(self):
        self.assertEqual(self.st.thread_corner(self.grid, 0),
                         "With no blocking call, at C ≤ 10 connections and at W ≥ 100 µs of work "
                         "per request, a thread per connection carries more than any other model "
                         "(margin 1.50×, 4 cells).")

    def test_loop_from_c(self):
        self.assertEqual(self.st.from_c(self.grid, 0),
                         "With no blocking call, from C = 1,000 connections the one loop wins at "
                         "every W tried (margin 2.00×, 3 cells).")

    def test_no_crossover_when_one_model_wins_everything(self):
        rows = [r for r in known_grid() if r["model"] == "asyncloop"]
        rows += [row("threads", "per-connection", r["params"]["connections"],
                     r["params"]["work_us"], 0, 100.0) for r in rows]
        grid = self.Grid(rows)
        self.assertIn("no crossover within the grid", self.st.row_sentence(grid, 1000, 0))
        self.assertEqual(self.st.thread_corner(grid, 0),
                         "With no blocking call, a thread per connection won no cell of the grid "
                         "(ties within the precision aside).")
        self.assertIn("wins every cell of the grid", self.st.from_c(grid, 0))

    def test_which_to_choose_names_threads_where_they_win(self):
        bullets, _ = self.st.which_to_choose(self.grid)
        self.assertTrue(3 <= len(bullets) <= 5, bullets)
        mine = [b for b in bullets if "[C=1, W=1 ms]" in b]
        self.assertEqual(len(mine), 1, bullets)
        self.assertIn("choose **threads** (a thread per connection)", mine[0])
        self.assertIn("**No blocking call, C = 1–10, W = 100 µs–1 ms**", mine[0])
        self.assertIn("1.50×", mine[0])
        loop = [b for b in bullets if "[C=1,000, W=0]" in b]
        self.assertIn("choose **asyncloop**", loop[0])
        self.assertIn("1 rests on a lower bound", loop[0])

    def test_load_bound_winner_is_marked(self):
        from tvlplots.crossover_figures import cell_face
        from tvlplots.crossover_terms import margin_text
        v = self.grid.verdicts[(1000, 0, 0)]
        self.assertEqual((v["winner"], v["kind"]), ("asyncloop/inline", "at-least"))
        self.assertEqual(margin_text(v), "≥ 2.00×")
        self.assertEqual(cell_face(v, self.grid)[1], "///")
        self.assertEqual(cell_face(self.grid.verdicts[(1000, 100, 0)], self.grid)[1], "")

    def test_load_bound_rival_compares_projections(self):
        from tvlplots.crossover_terms import verdict
        found = {"threads/per-connection": row("threads", "per-connection", 1, 0, 0, 900.0,
                                               load_bound=1, projected=5000.0),
                 "asyncloop/inline": row("asyncloop", "inline", 1, 0, 0, 1000.0,
                                         projected=2000.0)}
        v = verdict(found)
        self.assertEqual((v["winner"], v["kind"]), ("threads/per-connection", "projected"))
        self.assertAlmostEqual(v["margin"], 2.5)

    def test_executor_needed(self):
        grid = self.Grid(blocking_rows(executor_wins=True))
        self.assertEqual(self.st.executor_statement(grid, 1),
                         "With a 1 ms blocking call the loop needs its executor: at [C=1,000, "
                         "W=0], inline 1.00 k/s, executor 8.00 k/s (8.00×); the executor carried "
                         "more in all 2 cells that ran both.")
        grid = self.Grid(blocking_rows(executor_wins=False))
        self.assertIn("the loop did not need its executor", self.st.executor_statement(grid, 1))

    def test_executor_not_measured(self):
        self.assertIn("was not measured", self.st.executor_statement(self.grid, 1))

    def test_more_cpus_not_ranked(self):
        rows = [row("threads", "per-connection", 10, 0, 0, 900.0),
                row("asyncloop", "inline", 10, 0, 0, 1000.0),
                row("asyncloop-mt", "inline", 10, 0, 0, 2000.0, server_cpus=2)]
        grid = self.Grid(rows)
        self.assertEqual(grid.verdicts[(10, 0, 0)]["winner"], "asyncloop/inline")
        self.assertEqual(self.st.more_cpus_note(grid),
                         ["On 2 CPUs (not ranked in the map), a loop per core carried more than "
                          "the best one-core server by over 5% in 1 of 1 cells (median 2.00×; "
                          "most 2.00× at [C=10, W=0, B=0])."])

    def test_not_run_is_named(self):
        r = row("threads", "per-connection", 10000, 0, 1, 0, limit="not-run",
                detail="thread limit: 10,000 threads wanted")
        self.assertEqual(self.st.cap_words(r), "not run (thread limit: 10,000 threads wanted)")

    def test_ousterhout_verdicts(self):
        from tvlplots.crossover_claims import ousterhout_claims
        claims = {c.split(":")[0].split(" for")[0]: (v, why)
                  for c, v, why in ousterhout_claims(self.grid)}
        self.assertEqual(claims["Events are faster"][0], "supported here")
        self.assertIn("won 7 of the 11 one-core cells", claims["Events are faster"][1])
        self.assertEqual(claims["Events are lighter"][0], "supported here")
        self.assertEqual(claims["Threads are needed"][0], "not measured")
        self.assertEqual(claims["Threads are hard to program"][0], "not measured")

    def test_seda_degradation(self):
        from tvlplots.crossover_claims import seda_statement
        lines, verdict, cell = seda_statement(self.grid)
        self.assertEqual(cell, (100, 0))  # no W = 10 µs: the smallest W above 0
        self.assertEqual(verdict, "supported here")  # 1.5 k/s at C = 10 → 1.0 k/s at 1,000
        self.assertIn("0.667× its peak", lines[0])


class EdgeTest(unittest.TestCase):
    """Grids the real runs may give: one cell, nothing passing; the section still renders."""

    def render(self, rows):
        from tvlplots.crossover import render_crossover
        from tvlplots.report import load_pyplot
        plt = load_pyplot()
        blocks, figures = render_crossover(plt, rows, {}, "test")
        for fig in figures.values():
            plt.close(fig)
        return blocks, figures

    def test_nothing_passed(self):
        rows = [row(m, v, c, 0, 0, 0) for m, v in MODELS.items() for c in (1, 10)]
        blocks, figures = self.render(rows)
        self.assertEqual(sorted(figures), ["crossover_map_b0"])
        text = " ".join(str(b[1]) for b in blocks)
        self.assertIn("No cell of the grid has a model with a passing rate.", text)
        self.assertIn("Not redrawn here", text)

    def test_one_cell(self):
        blocks, figures = self.render([row("threads", "per-connection", 10, 0, 0, 900.0),
                                       row("asyncloop", "inline", 10, 0, 0, 1000.0)])
        self.assertIn("crossover_lines_b0", figures)
        self.assertIn("seda_fig2", figures)


def run_report(results, out):
    return subprocess.run([sys.executable, str(PLOTS / "tvl_plots.py"), "--results",
                           str(results), "--out", str(out), "--command", "make report"],
                          capture_output=True, text=True, timeout=300)


class ReportTest(unittest.TestCase):
    """The report from fake crossover files beside the cutlery fixture, and without them."""
    FIGURES = ("crossover_map_b0", "crossover_map_b1", "crossover_lines_b0",
               "crossover_lines_b1", "seda_fig2", "seda_conditioned")

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="tvl_crossover_"))
        with_x, without = cls.tmp / "with", cls.tmp / "without"
        crossover_fake.write_fake(with_x)
        without.mkdir()
        for folder in (with_x, without):
            shutil.copy(HERE / "data" / "cutlery_bench.json", folder)
        cls.proc = run_report(with_x, cls.tmp / "out")
        cls.bare = run_report(without, cls.tmp / "bare")
        cls.md = (cls.tmp / "out" / "report.md").read_text(encoding="utf-8") \
            if cls.proc.returncode == 0 else ""
        cls.html = (cls.tmp / "out" / "report.html").read_text(encoding="utf-8") if cls.md else ""

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_exit_status(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        self.assertEqual(self.bare.returncode, 0, self.bare.stderr)

    def test_section_with_its_anchors(self):
        self.assertIn('<a id="echo_capacity"></a>\n\n## Crossover', self.md)
        self.assertIn('<h2 id="echo_capacity">Crossover', self.html)
        for anchor in ("crossover-choose", "crossover-map", "crossover-seda",
                       "crossover-ousterhout"):
            self.assertIn(f'<a id="{anchor}"></a>', self.md)
            self.assertIn(f'<h3 id="{anchor}">', self.html)
        self.assertLess(self.md.index("### Which to choose"), self.md.index("### The crossover map"))
        bullets = self.md.split("### Which to choose on this machine")[1].split("###")[0]
        self.assertTrue(3 <= bullets.count("\n- ") <= 5, bullets)

    def test_contents_link_every_section(self):
        """The table of contents under the title names every section, the crossover one
        included, and each link lands on its heading."""
        line = next(l for l in self.md.splitlines() if l.startswith("**Contents:**"))
        links = re.findall(r"\[([^\]]+)\]\(#([^)]+)\)", line)
        self.assertIn(("Crossover (book ch. 3–4): echo, thread or loop, cell by cell",
                       "echo_capacity"), links)
        self.assertEqual([t for _, t in links],
                         re.findall(r'<a id="([^"]+)"></a>\n\n## ', self.md))
        nav = re.search(r'<nav class="contents">(.*?)</nav>', self.html).group(1)
        self.assertEqual(re.findall(r'href="#([^"]+)"', nav), [t for _, t in links])
        self.assertLess(self.md.index(line), self.md.index("## What it found"))

    def test_figures_render_and_show(self):
        for name in self.FIGURES:
            png = self.tmp / "out" / "figures" / f"{name}.png"
            self.assertTrue(png.read_bytes().startswith(b"\x89PNG"), png)
            self.assertIn(f"](figures/{name}.png)", self.md)
            self.assertIn(f'<img alt="{name}" src="data:image/png;base64,', self.html)

    def test_no_crossover_files_no_section(self):
        md = (self.tmp / "bare" / "report.md").read_text(encoding="utf-8")
        self.assertNotIn("Crossover", md)
        self.assertFalse(list((self.tmp / "bare" / "figures").glob("crossover_*")))
        self.assertFalse(list((self.tmp / "bare" / "figures").glob("seda_*")))

    def test_statements_in_report(self):
        self.assertIn("the winner changes between", self.md)
        self.assertIn("| Events are lighter", self.md)
        self.assertIn("The claim is **", self.md)


class RepeatTest(unittest.TestCase):
    """The Repeatability section: each capacity beside the previous run's, by row name."""

    @staticmethod
    def cell(rows, model, c, w):
        return next(r for r in rows if r["model"] == model and r["params"]["connections"] == c
                    and r["params"]["work_us"] == w)

    def test_pairs_and_verdicts(self):
        from tvlplots.repeat import repeat_blocks
        before, after = known_grid(), known_grid()
        # threads at C 1, W 0: 30% lower with its CPU per request unchanged (the search moved);
        # the loop at C 10, W 0: 30% lower, its CPU per request 1/0.7 as much (the server did).
        self.cell(after, "threads", 1, 0)["counters"]["capacity"] *= 0.7
        loop = self.cell(after, "asyncloop", 10, 0)["counters"]
        loop["capacity"] *= 0.7
        loop["cpu_us_per_request"] /= 0.7
        blocks = repeat_blocks(after, before, {"date": "yesterday", "git_revision": "abc1234"})
        text, table = blocks[0][1], blocks[1][1]
        self.assertIn("previous run of this profile (yesterday, revision `abc1234`)", text)
        self.assertIn("**21 of the 23** capacities", text)
        self.assertIn("`echo_capacity/threads/per-connection/connections:1/work_us:0/block_ms:0` "
                      "(30%)", text)
        self.assertIn("Of those 2, **1** moved with the broker's own CPU per delivery", text)
        self.assertIn("1 more were load-bound", text)
        verdicts = {r[0]: r[-1] for r in table[1:]}
        self.assertEqual(verdicts["echo_capacity/asyncloop/inline/connections:1000/work_us:0/"
                                  "block_ms:0"], "load-bound: not compared")
        self.assertEqual(verdicts["echo_capacity/asyncloop/inline/connections:10/work_us:0/"
                                  "block_ms:0"], "**apart**")
        self.assertEqual(len(table), 1 + 24)
        self.assertEqual(repeat_blocks(after, [], {}), [])
        # A search that bisects to 30% is judged by its own precision: 20% apart agrees.
        for rows in (before, after):
            for r in rows:
                r["counters"]["precision"] = 0.3
        self.cell(after, "threads", 1, 1000)["counters"]["capacity"] *= 0.8
        table = repeat_blocks(after, before, {})[1][1]
        verdicts = {r[0]: r[-1] for r in table[1:]}
        self.assertEqual(verdicts["echo_capacity/threads/per-connection/connections:1/work_us:1000/"
                                  "block_ms:0"], "within 30%")

    def test_report_with_previous(self):
        tmp = Path(tempfile.mkdtemp(prefix="tvl_repeat_"))
        try:
            crossover_fake.write_fake(tmp / "now")
            crossover_fake.write_fake(tmp / "before")
            proc = subprocess.run([sys.executable, str(PLOTS / "tvl_plots.py"), "--results",
                                   str(tmp / "now"), "--out", str(tmp / "out"), "--previous",
                                   str(tmp / "before")], capture_output=True, text=True,
                                  timeout=300)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            md = (tmp / "out" / "report.md").read_text(encoding="utf-8")
            self.assertIn("## Repeatability: this run against the previous one", md)
            self.assertIn("agree within 15%", md)
            self.assertNotIn("**apart**", md)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    global PLOTS
    parser = argparse.ArgumentParser()
    parser.add_argument("--plots", type=Path, default=HERE.parent / "plots")
    args, rest = parser.parse_known_args()
    PLOTS = args.plots.resolve()
    sys.path.insert(0, str(PLOTS))
    sys.dont_write_bytecode = True
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
