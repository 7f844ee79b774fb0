"""Render tvl's figures and report from Google Benchmark JSON.

The report: load every result (load.py), give each scenario its section (one module per
scenario, SECTIONS below; a scenario without one gets a generic table), save each section's
figures as OUT/figures/<name>.png and .svg, and assemble the blocks into OUT/report.md and a
self-contained OUT/report.html. A section is a list of blocks — ("h1"|"p", text), ("h2"|"h3",
text, anchor), ("list", texts), ("table", rows), ("figure", name, caption), ("findings", list),
("contents", [(title, anchor)]): a link to every section, under the title — so both formats print
the same content. The first section is the headline findings (headline.py), each linked to the
section it comes from by that section's stable anchor (its scenario's name, `#cutlery`).
"""
import argparse
import base64
import contextlib
import html
import re
import sys
from pathlib import Path

from .capacity import render_capacity
from .ceiling import render_ceiling, render_ceiling_echo
from .crossover import render_crossover
from .cutlery import render_cutlery
from .fanout import render_fanout
from .fmt import CONTEXT_ROWS, ctx, num, si
from .headline import Num, from_note, headline_blocks
from .files import save_figure, stop_on_sigterm, write_text
from .load import PlotError, load_results, not_our_shape
from .primitives import render_primitives
from .repeat import repeat_blocks
from .restaurant import render_restaurant


def render_generic(plt, rows, context, command):
    """Fallback section: one table of every counter, no figures."""
    first = ["items_per_second", "fail_rate", "p50_us", "p99_us", "p999_us", "rss_kib",
             "vcsw", "ivcsw"]
    names = {k for r in rows for k in r["counters"]}
    cols = [k for k in first if k in names] + sorted(names - set(first))
    table = [["model", "variant", "params"] + cols]
    for r in sorted(rows, key=lambda r: (r["model"], r["variant"], str(r["params"]))):
        params = " ".join(f"{k}:{v}" for k, v in r["params"].items())
        table.append([r["model"], r["variant"], params]
                     + [si(r["counters"].get(k)) if k == "items_per_second"
                        else num(r["counters"].get(k)) for k in cols])
    failed = [("p", f"**Did not run:** `{r['model']}/{r['variant']}` "
                    + " ".join(f"{k}:{v}" for k, v in r["params"].items()) + f" — {r['failure']}")
              for r in rows if r.get("failure")]
    return [("table", table)] + failed, {}


SECTIONS = {"cutlery": render_cutlery, "primitives": render_primitives,
            "restaurant": render_restaurant, "fanout": render_fanout,
            "fanout_capacity": render_capacity, "echo_capacity": render_crossover,
            "ceiling": render_ceiling, "ceiling_echo": render_ceiling_echo}
TITLES = {"cutlery": "Cutlery (book ch. 2, Robots and Cutlery)",
          "primitives": "Primitives (the costs under every scenario)",
          "restaurant": "Restaurant (book ch. 1, The Restaurant of ThreadBots)",
          "fanout": "Fan-out (book ch. 4, Streams: a message queue)",
          "fanout_capacity": "Fan-out capacity (book ch. 4): the most each broker carries",
          "echo_capacity": "Crossover (book ch. 3–4): echo, thread or loop, cell by cell",
          "ceiling": "The thread ceiling (von Behren et al. 2003; Capriccio): N waiting tasks",
          "ceiling_echo": "The thread ceiling of an echo server: idle connections"}


def anchor(scenario):
    """A section's stable anchor: its scenario's name, reduced to letters, digits, - and _."""
    return re.sub(r"[^a-z0-9_-]+", "-", scenario.lower())


def inline_html(text):
    """Escape text for HTML, turning `code` and **bold** into tags."""
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def finding_text(segments, markup, text=str):
    """A finding's segments as one line: text through text(), each Num through markup(num)."""
    return "".join(markup(s) if isinstance(s, Num) else text(s) for s in segments)


def to_markdown(blocks):
    """Render blocks (h1/h2/p/table/figure/findings) as Markdown; figures link to figures/.
    A section's anchor is an explicit <a id>, so links to it do not depend on how a renderer
    turns a heading into an id."""
    out = []
    for kind, *body in blocks:
        if kind == "h1":
            out.append("# " + body[0])
        elif kind in ("h2", "h3"):
            out.append((f'<a id="{body[1]}"></a>\n\n' if len(body) > 1 else "")
                       + "#" * int(kind[1]) + " " + body[0])
        elif kind == "list":
            out.append("\n".join(f"- {item}" for item in body[0]))
        elif kind == "contents":
            out.append("**Contents:** " + " · ".join(f"[{title}](#{target})"
                                                     for title, target in body[0]))
        elif kind == "findings":
            out.append("\n".join(f"- {finding_text(f['segments'], lambda n: n.text)} "
                                 f"([→ {f['section']}](#{f['anchor']}))  \n"
                                 f"  <sub>{from_note(f['sources'])}</sub>" for f in body[0]))
        elif kind == "p":
            out.append(body[0])
        elif kind == "figure":
            name, caption = body
            out.append(f"![{name}](figures/{name}.png)\n\n*{caption}* "
                       f"([SVG](figures/{name}.svg))")
        elif kind == "table":
            rows = [[str(c).replace("|", "\\|") for c in row] for row in body[0]]
            out.append("\n".join(["| " + " | ".join(rows[0]) + " |",
                                  "|" + "---|" * len(rows[0])]
                                 + ["| " + " | ".join(r) + " |" for r in rows[1:]]))
    return "\n\n".join(out) + "\n"


def html_num(n):
    """A finding's number in HTML: its text, its value and where it came from."""
    return (f'<span class="num" data-value="{n.value!r}" title="{html.escape(n.title())}">'
            f"{inline_html(n.text)}</span>")


def to_html(blocks, title, figdir):
    """Render the same blocks as one self-contained HTML page (PNGs embedded as data: URIs)."""
    out = []
    for kind, *body in blocks:
        if kind == "h1":
            out.append(f"<h1>{html.escape(body[0])}</h1>")
        elif kind in ("h2", "h3"):
            anchor = f' id="{html.escape(body[1])}"' if len(body) > 1 else ""
            out.append(f"<{kind}{anchor}>{html.escape(body[0])}</{kind}>")
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{inline_html(item)}</li>" for item in body[0])
                       + "</ul>")
        elif kind == "contents":
            out.append('<nav class="contents"><strong>Contents:</strong> ' + " · ".join(
                f'<a href="#{html.escape(target)}">{html.escape(title)}</a>'
                for title, target in body[0]) + "</nav>")
        elif kind == "findings":
            out.append('<ul class="findings">' + "".join(
                f"<li>{finding_text(f['segments'], html_num, inline_html)} "
                f'<a href="#{html.escape(f["anchor"])}">→ {html.escape(f["section"])}</a>'
                f'<br><small class="from">{inline_html(from_note(f["sources"]))}</small></li>'
                for f in body[0]) + "</ul>")
        elif kind == "p":
            out.append(f"<p>{inline_html(body[0])}</p>")
        elif kind == "figure":
            name, caption = body
            data = base64.b64encode((figdir / f"{name}.png").read_bytes()).decode("ascii")
            out.append(f'<figure><img alt="{name}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{inline_html(caption)}</figcaption></figure>")
        elif kind == "table":
            head, *rows = body[0]
            out.append("<table><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
                       + "</tr>" + "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>"
                                                            for c in r) + "</tr>" for r in rows)
                       + "</table>")
    style = ("body{font-family:sans-serif;max-width:75em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #ccc;"
             "padding:0.2em 0.5em;text-align:right}th{background:#f2f2f2}img{max-width:100%}"
             "code{background:#f4f4f4;padding:0 0.2em}.findings li{margin:0.6em 0}"
             ".findings .num{border-bottom:1px dotted #888}.from{color:#666}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{style}</style></head><body>\n"
            + "\n".join(out) + "\n</body></html>\n")


def contents(blocks):
    """[(title, anchor)] of every section (h2 with an anchor), for the table of contents."""
    return [(body[0], body[1]) for kind, *body in blocks if kind == "h2" and len(body) > 1]


def load_pyplot():
    """Import matplotlib headless, or explain which interpreter to use."""
    try:
        import matplotlib
    except ImportError:
        raise PlotError(f"matplotlib does not import under {sys.executable}; "
                        "run this script with /usr/bin/python3 (Debian python3-matplotlib)"
                        ) from None
    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "tvl"})
    import matplotlib.pyplot as plt
    return plt


def build_report(args):
    """Load, render every scenario's section, write figures and both reports."""
    rows, contexts = load_results(Path(args.results))
    first = contexts[min(contexts)]
    command = args.command or first.get("tvl_command") or "unknown"
    profile = args.profile or first.get("tvl_profile") or "unknown"
    plt = load_pyplot()
    with blame(Path(args.results), rows):
        findings = headline_blocks(rows)
    figdir = Path(args.out) / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    blocks = [("h1", args.title),
              ("p", f"Profile: **{profile}** · date: {ctx(first, 'date')} · "
                    f"produced by: `{command}`"),
              ("h2", "What it found", "findings")] + findings + [
              ("h2", "Machine", "machine"),
              ("p", "Every number in this report and its figures is read from these Google "
                    "Benchmark JSON files, none typed by hand: "
                    + ", ".join(f"`{name}`" for name in sorted(contexts)) + "."),
              ("table", [["", "value"]]
               + [[label, ctx(first, key)] for label, key in CONTEXT_ROWS])]
    for name, context in sorted(contexts.items()):
        if context.get("interrupted"):
            blocks.append(("p", f"**Interrupted:** `{name}` holds the points its run finished "
                                f"before it was stopped; {context.get('points_not_run', 'some')} "
                                "point(s) did not run."))
    if first.get("cpu_scaling_enabled"):
        blocks.append(("p", "**Warning:** CPU frequency scaling was enabled; timings are noisy."))
    for scenario in sorted({r["scenario"] for r in rows}):
        srows = [r for r in rows if r["scenario"] == scenario]
        context = contexts[srows[0]["source"]]
        render = SECTIONS.get(scenario, render_generic)
        with blame(Path(args.results), srows):
            section, figures = render(plt, srows, context, command)
        for name, fig in figures.items():
            save_figure(fig, figdir / f"{name}.png", dpi=130, metadata={"Software": None})
            save_figure(fig, figdir / f"{name}.svg", metadata={"Date": None})
            plt.close(fig)
        blocks += [("h2", TITLES.get(scenario, scenario), anchor(scenario))] + section
    if args.previous and Path(args.previous).is_dir() and any(Path(args.previous).glob("*.json")):
        previous, previous_contexts = load_results(Path(args.previous))
        with blame(Path(args.previous), previous):
            repeat = repeat_blocks(rows, previous, previous_contexts[min(previous_contexts)])
        if repeat:
            blocks += [("h2", "Repeatability: this run against the previous one", "repeatability")]
            blocks += repeat
    blocks.insert(2, ("contents", contents(blocks)))
    out = Path(args.out)
    write_text(out / "report.md", to_markdown(blocks))
    write_text(out / "report.html", to_html(blocks, args.title, figdir))


@contextlib.contextmanager
def blame(results, rows):
    """Turn a section's failure on rows it cannot read into one line naming their files."""
    files = ", ".join(str(results / name) for name in sorted({r["source"] for r in rows}))
    try:
        yield
    except PlotError as err:
        raise PlotError(f"{files}: {err}") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, ZeroDivisionError) as err:
        raise PlotError(f"{files}: {not_our_shape(err)}") from None


def main(argv=None):
    """Command-line entry point; input problems exit 2 with one 'tvl_plots: error:' line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", required=True, help="folder of Google Benchmark *.json")
    parser.add_argument("--out", required=True, help="report folder (figures/ goes inside)")
    parser.add_argument("--profile", help="profile name (default: context tvl_profile)")
    parser.add_argument("--command", help="command shown on figures (default: context tvl_command)")
    parser.add_argument("--title", default="tvl — threads vs. event loop")
    parser.add_argument("--previous", help="folder of the previous run's *.json: its capacities "
                                           "beside this run's (a Repeatability section)")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    try:
        build_report(args)
    except PlotError as err:
        print(f"tvl_plots: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tvl_plots: interrupted: the report was not written", file=sys.stderr)
        return 130
    return 0
