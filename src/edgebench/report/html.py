"""report.html: one self-contained file (plots embedded as data URIs), rendered with jinja2
(autoescape on) from the view-model: the header and summary cards straight from it, the sections
from report.md's Markdown, converted with raw HTML switched off."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from edgebench.report.view import ReportView, Text


def html_text(value: Any) -> Any:
    """A view Text as HTML: every part escaped, stressed runs in <strong>. Anything else is left
    to autoescape."""
    if not isinstance(value, Text):
        return value
    out = Markup()
    for stressed, parts in value.runs():
        s = Markup().join(escape(p.text) for p in parts)
        out += Markup("<strong>%s</strong>") % s if stressed else s
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


def render(v: ReportView, markdown_text: str, run_dir: Path) -> str:
    import jinja2

    # The Markdown report minus its title: the template has its own header.
    body_md = re.sub(r"\A# edgebench report\s*\n", "", markdown_text)
    body = markdown_to_html(body_md)
    env = jinja2.Environment(loader=jinja2.PackageLoader("edgebench", "report/templates"), autoescape=True,
                             finalize=html_text, undefined=jinja2.StrictUndefined)
    # Cards worked out here, before the template: results lacking a key raise its KeyError.
    return env.get_template("report.html.j2").render(v=v, cards=v.cards, machine=v.machine,
                                                     body=Markup(_inline_images(body, Path(run_dir))))
