"""Shared checks that a run folder's reports treat outside text as text: report.html in headless
Chromium (no element, attribute or script came from the payloads, and the payloads are visible),
report.md tables keep their column count, CSV cells cannot start a formula."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Runs before anything else on the page: records alert() calls, then after load walks the DOM for
# what an injection would create, and checks that each payload's text is on the page.
_PROBE = """<script id="edgebench-probe">
window.__alerts = [];
window.alert = m => window.__alerts.push(String(m));
window.addEventListener("load", () => {
  const texts = %s;
  const all = [...document.querySelectorAll("*")];
  const handlers = all.filter(e => [...e.attributes].some(a => a.name.toLowerCase().startsWith("on"))).length;
  const scripts = [...document.scripts].filter(s => s.id !== "edgebench-probe").length;
  const foreignImgs = [...document.images].filter(i => !i.src.startsWith("data:image/png;base64,")).length;
  const embeds = document.querySelectorAll("svg, iframe, object, embed, video, audio, form, style:not(head style)").length;
  const jsLinks = [...document.querySelectorAll("a[href]")].filter(a => /^\\s*javascript:/i.test(a.getAttribute("href"))).length;
  const body = document.body.innerText;
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = "PROBE" + JSON.stringify({handlers, scripts, foreignImgs, embeds, jsLinks,
    alerts: window.__alerts.length, visible: texts.map(t => body.includes(t))}) + "ENDPROBE";
  document.body.appendChild(out);
});
</script>"""


def probe_html(page: Path, texts: list[str], tmp: Path) -> dict:
    """Load page in headless Chromium with the probe first in <head>; the probe's findings."""
    html = page.read_text()
    probed = page.with_name("probed.html")
    # The payloads go into the probe as JSON with '<' escaped, so a '</script>' in them cannot end it.
    texts_js = json.dumps(texts).replace("<", "\\u003c")
    probed.write_text(html.replace("<head>", "<head>" + _PROBE % texts_js, 1))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp / 'chromium-profile'}", "--virtual-time-budget=5000", "--dump-dom"]
    p = subprocess.run([CHROMIUM, *flags, probed.as_uri()], capture_output=True, text=True, timeout=120)
    probed.unlink()
    m = re.search(r"<pre id=\"probe\">PROBE(.*?)ENDPROBE</pre>", p.stdout)
    assert m, (p.stdout[-500:], p.stderr[-1500:])
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def assert_page_safe(page: Path, texts: list[str], tmp: Path) -> None:
    # After the test's other checks: without Chromium they still ran, and the skip shows in the summary.
    from tests.conftest import need

    need(CHROMIUM is not None, "chromium (report.html not loaded in a browser)", "apt-get install chromium")
    found = probe_html(page, texts, tmp)
    assert found["handlers"] == 0 and found["scripts"] == 0 and found["embeds"] == 0, found
    assert found["foreignImgs"] == 0 and found["jsLinks"] == 0 and found["alerts"] == 0, found
    missing = [t for t, seen in zip(texts, found["visible"]) if not seen]
    assert not missing, f"not shown as text on the page: {missing}"


def _cells(line: str) -> int:
    """Cells of a Markdown table row: pipes not escaped with a backslash."""
    return len(re.findall(r"(?<!\\)(?:\\\\)*\|", line)) - 1


def assert_md_tables_intact(md_text: str) -> int:
    """Every row of every table has its header's column count; returns the number of tables."""
    tables, width = 0, None
    for line in md_text.splitlines():
        if line.startswith("|"):
            if width is None:
                width, tables = _cells(line), tables + 1
            assert _cells(line) == width, f"row with {_cells(line)} cells under a {width}-cell header: {line}"
        else:
            width = None
    return tables


def csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
