"""The report view-model (report/view.py): display text that keeps outside text apart from
edgebench's own, built once and rendered by report.md, report.html and the terminal summary,
each escaping for its own format."""

import io
from pathlib import Path

import pytest
from rich.console import Console

from edgebench.report import html, markdown, terminal
from edgebench.report.view import Text, build, colour, fmt, join, key, own, strong, text, title
from edgebench.results.schema import RunResults
from tests.unit.test_report import _results, typed
from tests.unit.test_reports_html import _full

HOSTILE = "x<img src=x onerror=alert(1)> *b* [bold]r[/bold] | _i_"


def _summary(v, run_dir=Path("/runs/x")) -> str:
    out = io.StringIO()
    terminal.print_summary(Console(file=out, width=300, color_system=None), v, run_dir)
    return out.getvalue()


def test_text_keeps_outside_text_apart_from_its_own():
    t = fmt("{} -> {:.2f} ({})", HOSTILE, 1.234, strong(own("NO")))
    assert t == f"{HOSTILE} -> 1.23 (NO)"  # the str value is the plain text
    assert [(p.own, p.strong) for p in t.parts] == [(False, False), (True, False), (True, False), (True, False),
                                                    (True, True), (True, False)]
    assert text([2, 60000]).parts[0].own and not text(["<b>"]).parts[0].own  # lists of numbers only
    assert not text(None).parts[0].own and text(None) == "None"
    assert join(", ", [HOSTILE, 3]) == f"{HOSTILE}, 3"
    assert key("speed_limit").parts[0].own and not key("a<b").parts[0].own
    # Any string operation gives a plain str: rendered as outside text, so it can only over-escape.
    assert type(t + "!") is str and type(t[:3]) is str
    with pytest.raises(ValueError):
        fmt("{name}", 1)


def test_markdown_escapes_every_value_by_default():
    env = markdown.environment()
    out = env.from_string("**{{ a }}** {{ b }} {{ n }} {{ t }}").render(a=HOSTILE, b=own("*kept*"), n=3.5,
                                                                     t=fmt("{} {}", strong(HOSTILE), own("_own_")))
    assert "<img" not in out and "[bold]" not in out
    assert out.startswith("**x&lt;img src=x onerror=alert(1)&gt; \\*b\\* \\[bold\\]r\\[/bold\\] \\| \\_i\\_** *kept* 3.5 **x&lt;")
    assert out.endswith("\\_i\\_** _own_")
    cell = markdown.md_text("a" * 500, markdown.CELL_LIMIT)
    assert len(cell) == markdown.CELL_LIMIT + 1 and cell.endswith("…")
    table = markdown.table(["A", "B"], [[HOSTILE, own("**x**")]])
    assert table.splitlines()[2].count(" | ") == 1  # the pipe in the name is escaped: still two cells


def test_terminal_and_html_escape_for_their_formats():
    t = fmt("{}: {}", strong(HOSTILE), own("[red]own[/red]"))
    m = terminal.markup(t)
    assert m.startswith("[bold]") and "\\[bold]r\\[/bold]" in m and "\\[red]own\\[/red]" in m
    h = html.html_text(t)
    assert h.startswith("<strong>x&lt;img") and "<img" not in h and h.endswith("[red]own[/red]")


def test_labels_and_colours_come_from_the_registry():
    assert title("pytorch") == "PyTorch" and title("no<such>") == "no<such>"
    assert colour("jax") == "#5e97f6" and colour("pytorch") == "#ee4c2c" and colour("unknown") == "#7f7f7f"
    assert len({colour(f) for f in ("tensorflow", "pytorch", "jax", "numpy")}) == 4
    from edgebench.report import markdown as md_module, plots

    assert not hasattr(md_module, "FRAMEWORK_TITLES") and not hasattr(plots, "COLORS")


def test_one_view_feeds_report_md_html_and_the_terminal(tmp_path):
    v = build(typed(_full(tmp_path)))
    md = markdown.render(v)
    printed = _summary(v)
    for row in v.table1:
        assert "| " + " | ".join(row) + " |" in md
        for cell in row:
            assert cell in printed
    (x,) = v.artifacts
    assert x.label == "TensorFlow -> tflite float32" and x.p50_us == "6.0" and x.size_kb == "205.0"
    assert f"**smallest**: {x.label} (accuracy 0.9712, 205.0 KB);" in md
    assert f"Smallest within tolerance: {x.label} (205.0 KB)" in printed
    assert [c.title for c in v.cards] == ["Fastest to train", "Most accurate training",
                                          "Smallest artifact within tolerance", "Best fit for the smallest board (tiny)"]
    page = html.render(v, md, tmp_path)
    for c in v.cards:
        assert f'<div class="v">{c.value.replace(">", "&gt;")}</div>' in page


def test_sections_are_worked_out_once():
    v = build(typed(_results()))
    assert v.table1 is v.table1 and v.deployment is v.deployment and v.highlights is v.highlights
    assert v.figures.highlights is v.figures.highlights and v.microcontrollers is v.microcontrollers
    first = markdown.render(v)
    assert markdown.render(v) == first == markdown.render(typed(_results()))


def test_runs_written_before_a_key_existed_still_render():
    """An older results.json: no status, version, modes, timing, fairness, environment, speed limit,
    twin or boards (the status is then the schema's default: the run never said it finished)."""
    r = _results()
    for k in ("status", "edgebench_version"):
        r.pop(k)
    md = markdown.render(typed(r))
    assert "Run status: **running**" in md and "edgebench None" in md
    assert "| TensorFlow | 12.50 | single run (n=1) | - | 0.9712 |" in md
    assert "## How fast" not in md and "## Twin" not in md and "## On a microcontroller" not in md
    assert md.rstrip().endswith("## How this was measured")
    printed = _summary(build(typed(r)))
    assert "Table 1: training" in printed and "Run status: running; wall time 0.0 s" in printed
    # A key the report always needed is still reported as missing (`edgebench report` says which).
    del r["config"]["optimizer"]
    with pytest.raises(KeyError, match="optimizer"):
        markdown.render(typed(r))
    assert markdown.render(RunResults()) == "# edgebench report\n\n(no results yet)"


def test_twin_page_and_failed_twin():
    r = _results()
    r["twin"] = {"status": "failed", "reason": f"ValueError: {HOSTILE}"}
    page = markdown.twin_page(typed(r))
    assert page.startswith("# edgebench twin training\n\n## Twin training: how far the frameworks drift apart\n\n")
    assert page.endswith("Twin report failed: ValueError: x&lt;img src=x onerror=alert(1)&gt; \\*b\\* "
                         "\\[bold\\]r\\[/bold\\] \\| \\_i\\_\n")
    reason = build(typed(r)).twin.reason
    assert isinstance(reason, str) and not isinstance(reason, Text)  # raw in the view
