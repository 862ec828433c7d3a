"""Reports escape everything they did not write: names, paths and messages that hold HTML,
Markdown or spreadsheet formulas stay text in report.html, report.md, the CSV files, compare.md
and the terminal. Here in-process (the escaping functions, write_reports); `edgebench report` on a
results.json edited by hand is in tests/integration/test_report_injection_cli.py, the real
`edgebench run` with hostile names in tests/framework/test_report_injection_run.py."""

import html.parser

import pytest

from edgebench.report import write_reports
from edgebench.report.escape import csv_cell, md, shorten_md
from tests.injection import assert_md_tables_intact, csv_rows
from tests.unit.test_report import typed
from tests.unit.test_reports_html import _full

IMG = "x<img src=x onerror=alert(1)>"
SVG = "<svg onload=alert(2)>*bold* _it_ `code` [link](javascript:alert(3))"
FORMULA = "=HYPERLINK(\"http://example.invalid\",\"click\")"
PIPE_MESSAGE = "RuntimeError: a | b [bold]c[/bold] <class 'ValueError'>\nsecond line </td></tr></table><script>alert(4)</script>"
LONG = "OSError: " + "<b>very long</b> " * 400


def _hostile(r: dict) -> dict:
    r["dataset"].update(name=f"data {IMG}", source=f"/tmp/{IMG}")
    r["config"]["out"] = f"/tmp/run{SVG}"
    r["boards"][0]["name"] = f"board {IMG} | *x*"
    r["artifacts"][0]["microcontroller"]["fit"][0]["board"] = f"board {IMG} | *x*"
    r["artifacts"][0]["microcontroller"]["c_array"]["dir"] = f"tensorflow/mcu/{SVG}"
    r["environment"] = {"cpu_model": f"cpu {SVG}", "packages": {f"pkg{IMG}": FORMULA}, "usable_cores": 2}
    r["trainings"].append({"framework": "pytorch", "mode": "eager", "status": "failed", "error": PIPE_MESSAGE})
    r["artifacts"].append({"framework": "pytorch", "format": "onnx", "precision": "float32", "runtime": "onnxruntime",
                           "file": FORMULA, "status": "failed", "error": FORMULA + " " + PIPE_MESSAGE})
    r["artifacts"].append({"framework": "pytorch", "format": "tflite", "precision": "int8", "runtime": "litert",
                           "file": "pytorch/model_int8.tflite", "status": "failed", "error": LONG})
    return r


def test_markdown_escape_keeps_the_text_and_breaks_nothing():
    s = md(PIPE_MESSAGE)
    assert "\n" not in s and "<" not in s and "\\|" in s
    assert md("a_b*c`d[e]f\\g") == "a\\_b\\*c\\`d\\[e\\]f\\\\g"
    assert md("&lt; <") == "&amp;lt; &lt;"
    cut = shorten_md(md("<" * 100), 50)
    assert cut.endswith("…") and cut.count("&lt;") == (len(cut) - 1) // 4 and "&l…" not in cut
    assert shorten_md(md("___________"), 5) == "\\_\\_…"  # never a lone backslash before the ellipsis
    assert shorten_md("ab", 5) == "ab"


@pytest.mark.parametrize("value, expected", [
    ("=1+2", "'=1+2"), ("+1", "'+1"), ("-cmd", "'-cmd"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("plain", "plain"), (-0.5, -0.5), (3, 3), (None, None), ("", ""),
])
def test_csv_cells_cannot_start_a_formula(value, expected):
    assert csv_cell(value) == expected


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.handlers = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.handlers += [k for k, _ in attrs if k.startswith("on")]


def _assert_no_live_markup(page: str) -> None:
    t = _Tags()
    t.feed(page)
    assert not t.handlers, t.handlers
    assert not {"svg", "script", "iframe", "a"} & set(t.tags), set(t.tags)
    assert t.tags.count("img") == len([1 for _ in range(page.count('src="data:image/png;base64,'))])


# Fields whose value is one of a fixed set of edgebench's own words: the typed results refuse any
# other (results.parse names the field in a one-line error), so no report ever shows an edited one.
FIXED_WORDS = {"status"}


def _poison(obj, payload, prefix="=1+"):
    """Every string in a results dict with a formula in front and markup behind (keys kept)."""
    if isinstance(obj, dict):
        return {k: v if k in FIXED_WORDS else _poison(v, payload, prefix) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_poison(v, payload, prefix) for v in obj]
    if isinstance(obj, str):
        return prefix + obj + payload
    return obj


def test_every_string_of_results_json_stays_text(tmp_path):
    """No string anywhere in results.json, edited to hold markup, becomes markup in a report."""
    run = tmp_path / "run"
    run.mkdir()
    r = _poison(_full(run), "|<img src=x onerror=alert(1)>`*_[x](javascript:y)\n# h")
    write_reports(typed(r), run)
    md_text = (run / "report.md").read_text()
    assert assert_md_tables_intact(md_text) >= 3
    assert "<img" not in md_text and "\n# h" not in md_text
    _assert_no_live_markup((run / "report.html").read_text())
    for name in ("trainings.csv", "artifacts.csv"):
        cells = [v for row in csv_rows(run / name) for v in row.values() if v]
        assert not [v for v in cells if v.startswith(("=", "+", "@"))]
        assert len([v for v in cells if v.startswith("'=1+")]) >= 3  # the poisoned strings, defused


def test_compare_escapes_paths_and_names(tmp_path):
    from edgebench.report.compare import compare, render

    a, b = tmp_path / f"a{IMG}", tmp_path / "b`|x"
    for d in (a, b):
        d.mkdir()
    r = typed(_hostile(_full(a)))
    text = render(compare(r, r, a, b), r)
    assert "<img" not in text and assert_md_tables_intact(text) == 2
    assert "b\\`\\|x" in text
