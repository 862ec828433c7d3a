"""edgebench report, through the CLI, on a hand-edited results.json full of hostile strings."""

import json
import os
import subprocess
import sys

from tests.injection import assert_md_tables_intact, assert_page_safe, csv_rows
from tests.unit.test_report_injection import FORMULA, IMG, SVG, _assert_no_live_markup, _hostile
from tests.unit.test_reports_html import _full


def test_report_command_escapes_a_hand_edited_results_json(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    r = _hostile(_full(run))
    (run / "results.json").write_text(json.dumps(r))
    p = subprocess.run([sys.executable, "-m", "edgebench", "report", str(run)], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "COLUMNS": "400"})
    assert p.returncode == 0, p.stderr[-2000:]
    # The terminal summary shows the message as written: rich took none of it for markup.
    assert "a | b [bold]c[/bold] <class 'ValueError'>" in p.stdout, p.stdout

    md_text = (run / "report.md").read_text()
    assert assert_md_tables_intact(md_text) >= 5
    assert "<img" not in md_text and "<svg" not in md_text and "<script" not in md_text
    assert "&lt;img src=x onerror=alert(1)&gt;" in md_text
    assert "\\*bold\\* \\_it\\_ \\`code\\` \\[link\\](javascript:alert(3))" in md_text
    # The very long message is shortened where it sits; results.json keeps all of it.
    assert "very long" in md_text and md_text.count("very long") < 100

    arts = csv_rows(run / "artifacts.csv")
    assert arts[1]["file"] == "'" + FORMULA and arts[1]["error"].startswith("'=HYPERLINK")
    assert arts[0]["accuracy_change"] == str(r["artifacts"][0]["accuracy_change"])  # numbers untouched
    for row in arts + csv_rows(run / "trainings.csv"):
        assert not any(v.startswith(("=", "+", "@", "\t", "\r")) for v in row.values() if v), row

    page = run / "report.html"
    _assert_no_live_markup(page.read_text())
    assert_page_safe(page, [f"data {IMG}", f"board {IMG} | *x*", f"cpu {SVG}", f"pkg{IMG}",
                            "RuntimeError: a | b [bold]c[/bold] <class 'ValueError'> second line </td></tr></table>"
                            "<script>alert(4)</script>", f"run{SVG}"], tmp_path)
