"""report.html: one self-contained file (plots embedded as data URIs), rendered with jinja2 from
the same Markdown sections as report.md, plus summary cards."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from edgebench.report.markdown import artifact_label, highlights, run_label


def cards(r: dict) -> list[dict]:
    out = []
    ok = [t for t in r.get("trainings", []) if t["status"] == "ok" and t.get("train_time_s") is not None]
    if ok:
        fast = min(ok, key=lambda t: t["train_time_s"])
        s = (fast.get("timing") or {}).get("train_time_s") or {}
        ci = f", 95% CI [{s['ci_low']:.2f}, {s['ci_high']:.2f}] s" if s.get("ci_low") is not None else ""
        out.append({"title": "Fastest to train", "value": run_label(fast, r),
                    "detail": f"{fast['train_time_s']:.2f} s mean over {s.get('n', 1)} run(s){ci}; "
                              f"test accuracy {fast['test_accuracy']:.4f}"})
        best = max(ok, key=lambda t: t["test_accuracy"])
        out.append({"title": "Most accurate training", "value": run_label(best, r),
                    "detail": f"test accuracy {best['test_accuracy']:.4f}"})
    h = highlights(r)
    if h:
        a = h["smallest"]
        out.append({"title": "Smallest artifact within tolerance", "value": artifact_label(a),
                    "detail": f"{a['size_bytes'] / 1000:.1f} KB on {a['runtime']}, accuracy {a['test_accuracy']:.4f} "
                              f"({a['accuracy_change'] * 100:+.2f} pt), agreement {a['top1_agreement'] * 100:.2f}%"})
    boards = r.get("boards") or []
    mcu = [a for a in r.get("artifacts", []) if (a.get("microcontroller") or {}).get("status") == "ok"]
    if boards and mcu:
        small = min(boards, key=lambda b: (b["ram_kb"], b["flash_kb"]))
        fits = [(a, f) for a in mcu for f in a["microcontroller"]["fit"] if f["board"] == small["name"] and f["fits"]]
        if fits:
            a, f = max(fits, key=lambda af: (af[0]["microcontroller"]["test_accuracy"], af[1]["ram_headroom_kb"]))
            m = a["microcontroller"]
            out.append({"title": f"Best fit for the smallest board ({small['name']})", "value": artifact_label(a),
                        "detail": f"TFLite Micro accuracy {m['test_accuracy']:.4f}; arena {m['arena_bytes']:,} B, "
                                  f"flash {m['flash_bytes'] / 1024:.0f} KB; headroom {f['flash_headroom_kb']:.0f} KB "
                                  f"flash / {f['ram_headroom_kb']:.1f} KB RAM"})
        else:
            out.append({"title": f"Smallest board ({small['name']})", "value": "nothing fits",
                        "detail": f"{small['flash_kb']:g} KB flash, {small['ram_kb']:g} KB RAM"})
    return out


def _inline_images(html: str, run_dir: Path) -> str:
    """Our own plot images as data URIs. Only <img> tags match: text can hold no tag (the Markdown
    step passes no raw HTML), and the name is one plots.py could have written."""
    def repl(m):
        path = run_dir / "plots" / m.group(2)
        if not path.is_file():
            return m.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'{m.group(1)}src="data:image/png;base64,{data}"'

    return re.sub(r'(<img [^>]*?)src="plots/([a-z0-9_]+\.png)"', repl, html)


def _no_raw_html():
    """A Markdown extension that treats HTML in the text as text: Python-Markdown passes raw HTML
    through by default, so a name holding `<img onerror=...>` would become a live element."""
    from markdown.extensions import Extension

    class NoRawHtml(Extension):
        def extendMarkdown(self, md):
            md.preprocessors.deregister("html_block")
            md.inlinePatterns.deregister("html")

    return NoRawHtml()


def markdown_to_html(text: str) -> str:
    import markdown

    return markdown.markdown(text, extensions=["tables", _no_raw_html()], output_format="html")


def render(r: dict, markdown_text: str, run_dir: Path) -> str:
    import jinja2

    # The Markdown report minus its title: the template has its own header.
    body_md = re.sub(r"\A# edgebench report\s*\n", "", markdown_text)
    body = markdown_to_html(body_md)
    env = jinja2.Environment(loader=jinja2.PackageLoader("edgebench", "report/templates"), autoescape=True)
    env_info = r.get("environment", {})
    return env.get_template("report.html.j2").render(
        status=r.get("status", "unknown"), created_at=r.get("created_at", ""), version=r.get("edgebench_version", ""),
        machine=f"{env_info.get('cpu_model', '')}, {env_info.get('usable_cores', '?')} cores",
        cards=cards(r), body=_inline_images(body, Path(run_dir)))
