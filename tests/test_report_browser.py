#!/usr/bin/env python3
"""The report in a real browser: render report.html from the test fixtures, open it in headless
Chromium through Selenium, and check that every figure loaded and the console stayed clean.

Usage:
    /usr/bin/python3 tests/test_report_browser.py --script plots/tvl_plots.py \
        --fixtures tests/data/cutlery_bench.json ... [unittest options]

tests/test_plots.py checks what the report says; this checks what a reader's browser makes of
it: an <img> whose data: URI is cut short or mis-encoded still passes a text check, but the
browser shows a broken-image icon (naturalWidth 0), and a bad script or markup shows up in the
console. Exits 77 (CTest's SKIP_RETURN_CODE) when Chromium is not installed; when it is, a
missing chromium-driver or python3-selenium is a failure, not a skip.
"""
import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

SKIP = 77
CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver"
SCRIPT, FIXTURES = None, []  # set from the command line before unittest.main

# Every <img> on the page with what the browser made of it.
IMAGES_JS = """return Array.from(document.images).map(img => ({
    alt: img.alt, complete: img.complete, width: img.naturalWidth}));"""


KNEE, CAPACITY_FIXTURE = "fanout_knee", "capacity_fixture.json"
CROSSOVER_FIXTURE = "crossover_fixture.json"
CROSSOVER_FIGURES = ("crossover_map_b0", "crossover_map_b1", "crossover_lines_b0",
                     "crossover_lines_b1", "seda_fig2", "seda_conditioned")
# Whether the first figure after the capacity section's first table is the named one.
KNEE_PLACE_JS = """let el = document.getElementById('fanout_capacity'), table = false;
    while ((el = el.nextElementSibling) && el.tagName !== 'H2') {
        if (el.tagName === 'TABLE') table = true;
        else if (table && el.tagName === 'FIGURE')
            return el.querySelector('img').alt === arguments[0];
    }
    return false;"""


def find_chromium():
    return next((p for p in map(shutil.which, CHROMIUM) if p), None)


def start_browser(chromium, profile):
    """Headless Chromium as root in a container: no sandbox, no GPU, no /dev/shm."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1280,1024"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def open_page(driver, path):
    """Load a file and return (images, console errors) once the page has finished loading."""
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(path.resolve().as_uri())
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete")
    images = driver.execute_script(IMAGES_JS)
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    return images, errors


def broken(images):
    return [i["alt"] or "(no alt)" for i in images if not i["complete"] or i["width"] <= 0]


class BrowserTest(unittest.TestCase):
    """One render of the fixtures, one browser, several pages."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="tvl_browser_"))
        results = cls.tmp / "results"
        results.mkdir()
        for fixture in FIXTURES:
            shutil.copy(fixture, results / fixture.name)
        cls.out = cls.tmp / "report"
        cls.proc = subprocess.run([sys.executable, str(SCRIPT), "--results", str(results),
                                   "--out", str(cls.out), "--command", "make report"],
                                  capture_output=True, text=True, timeout=120)
        cls.driver = None
        if cls.proc.returncode == 0:
            cls.driver = start_browser(find_chromium(), cls.tmp / "profile")

    @classmethod
    def tearDownClass(cls):
        if cls.driver:
            cls.driver.quit()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.assertEqual(self.proc.returncode, 0, f"tvl_plots.py failed: {self.proc.stderr}")

    def test_figures_load_without_console_errors(self):
        images, errors = open_page(self.driver, self.out / "report.html")
        figures = sorted(p.stem for p in (self.out / "figures").glob("*.png"))
        self.assertTrue(figures, "the report drew no figure: nothing to check")
        self.assertEqual(sorted(i["alt"] for i in images), figures,
                         "report.html does not show each figure once")
        self.assertEqual(broken(images), [], "figures the browser could not show")
        self.assertEqual(errors, [], "errors in the browser console")

    def test_knee_figure_loads(self):
        """The capacity fixture's probe logs draw the knee (issue 16): it is on the page, beside
        the capacity table, and the browser shows it."""
        if not any(f.name == CAPACITY_FIXTURE for f in FIXTURES):
            self.skipTest(f"{CAPACITY_FIXTURE} is not among the fixtures")
        images, _ = open_page(self.driver, self.out / "report.html")
        knee = [i for i in images if i["alt"] == KNEE]
        self.assertEqual(len(knee), 1, f"report.html does not show {KNEE} once")
        self.assertEqual(broken(knee), [], f"the browser could not show {KNEE}")
        order = self.driver.execute_script(KNEE_PLACE_JS, KNEE)
        self.assertTrue(order, f"{KNEE} is not the first figure after the capacity table")

    def test_crossover_figures_load(self):
        """The crossover fixture's maps, capacity lines and SEDA figures are on the page once
        each, and the browser shows them."""
        if not any(f.name == CROSSOVER_FIXTURE for f in FIXTURES):
            self.skipTest(f"{CROSSOVER_FIXTURE} is not among the fixtures")
        images, _ = open_page(self.driver, self.out / "report.html")
        shown = sorted(i["alt"] for i in images if i["alt"] in CROSSOVER_FIGURES)
        self.assertEqual(shown, sorted(CROSSOVER_FIGURES))
        self.assertEqual(broken([i for i in images if i["alt"] in CROSSOVER_FIGURES]), [])

    def test_checks_catch_a_broken_page(self):
        """The same checks on a page with a truncated image and a console error must fail:
        otherwise the test above could pass by seeing nothing."""
        page = self.tmp / "broken.html"
        page.write_text('<!doctype html><title>broken</title>'
                        '<img alt="cut" src="data:image/png;base64,iVBORw0KGgo=">'
                        '<script>console.error("deliberate")</script>', encoding="utf-8")
        images, errors = open_page(self.driver, page)
        self.assertEqual(broken(images), ["cut"])
        self.assertTrue(any("deliberate" in e.get("message", "") for e in errors), errors)


def main():
    global SCRIPT, FIXTURES
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--script", required=True, type=Path)
    parser.add_argument("--fixtures", required=True, type=Path, nargs="+")
    options, rest = parser.parse_known_args()
    SCRIPT, FIXTURES = options.script.resolve(), [f.resolve() for f in options.fixtures]
    if not find_chromium():
        print("SKIP: Chromium is not installed (apt-get install chromium chromium-driver "
              "python3-selenium, or scripts/deps.sh)")
        return SKIP
    missing = [what for what, ok in (("chromium-driver", Path(CHROMEDRIVER).is_file()),
                                     ("python3-selenium", selenium_imports())) if not ok]
    if missing:
        print(f"FAIL: Chromium is installed but {' and '.join(missing)} is not "
              f"(apt-get install {' '.join(missing)})", file=sys.stderr)
        return 1
    result = unittest.main(argv=[sys.argv[0]] + rest, exit=False).result
    return 0 if result.wasSuccessful() else 1


def selenium_imports():
    return importlib.util.find_spec("selenium") is not None


if __name__ == "__main__":
    sys.exit(main())
