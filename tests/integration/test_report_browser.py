"""report.html in a real browser: headless Chromium (Debian's chromium package, installed by
.ci/run) loads it, every image decodes, nothing is logged as an error; a screenshot is kept in
test-artifacts/."""

import re
import shutil
import subprocess
from pathlib import Path

from edgebench.report import write_reports
from tests.conftest import needs
from tests.unit.test_report import typed
from tests.unit.test_reports_html import _full

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = needs(CHROMIUM is not None, "chromium", "apt-get install chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = `images=${imgs.length} broken=${bad} errors=${window.__errors.length} h2=${document.querySelectorAll("h2").length}`;
  document.body.appendChild(out);
});
</script>"""

def _chromium(tmp_path, *args):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


def test_report_html_renders_in_chromium(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write_reports(typed(_full(run)), run)
    page = run / "report.html"
    probed = run / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    p = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probed.as_uri())
    m = re.search(r"images=(\d+) broken=(\d+) errors=(\d+) h2=(\d+)", p.stdout)
    assert m, (p.stdout[-500:], p.stderr[-2000:])
    images, broken, errors, h2 = map(int, m.groups())
    assert images == 5 and broken == 0 and errors == 0 and h2 >= 5
    console_errors = [ln for ln in p.stderr.splitlines() if "CONSOLE" in ln and "ERROR" in ln.upper()]
    assert not console_errors, console_errors
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    p = _chromium(tmp_path, "--window-size=1280,3000", "--hide-scrollbars", f"--screenshot={shot}", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 50_000, p.stderr[-2000:]


WIDTH_PROBE = """<script>
window.addEventListener("load", () => {
  const wide = [...document.querySelectorAll("table")].filter(t => t.scrollWidth > t.clientWidth + 1)
    .map(t => (t.querySelector("th") || {}).textContent + " (" + t.scrollWidth + " px)");
  const out = document.createElement("pre");
  out.id = "width-probe";
  out.textContent = "width=" + window.innerWidth + " page=" + document.documentElement.scrollWidth +
    " wide=" + JSON.stringify(wide);
  document.body.appendChild(out);
});
</script>"""


def test_report_html_has_no_horizontal_scroll_at_1280_px(tmp_path):
    """Neither the page nor any table scrolls sideways in a 1280 px window (the tables are blocks
    with overflow-x: auto, so a table too wide would scroll inside itself)."""
    import json

    run = tmp_path / "run"
    run.mkdir()
    write_reports(typed(_full(run)), run)
    probed = run / "probed.html"
    probed.write_text((run / "report.html").read_text().replace("</body>", WIDTH_PROBE + "</body>"))
    p = _chromium(tmp_path, "--window-size=1280,900", "--virtual-time-budget=5000", "--dump-dom", probed.as_uri())
    m = re.search(r"width=(\d+) page=(\d+) wide=(\[.*?\])</pre>", p.stdout)
    assert m, (p.stdout[-500:], p.stderr[-2000:])
    width, page, wide = int(m.group(1)), int(m.group(2)), json.loads(m.group(3).replace("&quot;", '"'))
    assert width == 1280 and page <= width, (width, page)
    assert wide == [], wide
