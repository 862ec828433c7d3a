"""Markdown from the view-model: report.md and twin.md (templates/*.md.j2), and compare.md for
compare.py; the reproducible lab tables, from results.json alone.

Escaping is the default, not something a placeholder has to ask for: the jinja2 environment's
`finalize` escapes every value a template interpolates with escape.md (the outside parts of a
view Text, and any plain str), so only the templates' own text is Markdown. `table` escapes its
cells the same way and shortens a long message in a cell; the `message` filter shortens a
message in a bullet (results.json keeps both whole).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from edgebench.report.escape import md, shorten_md
from edgebench.report.text import Message, own, text
from edgebench.report.view import ReportView, build
from edgebench.results.schema import RunResults

CELL_LIMIT = 160  # characters of a message in a table cell
MESSAGE_LIMIT = 1000  # characters of a message in a bullet


class Markdown(str):
    """Text this module already rendered as Markdown: finalize passes it through."""


def md_text(value: Any, limit: int | None = None) -> str:
    """A value as Markdown: outside text escaped (and cut to `limit`), edgebench's own text as
    written, stressed runs in bold."""
    if isinstance(value, Markdown):
        return value
    out = []
    for stressed, parts in text(value).runs():
        s = "".join(p.text if p.own else shorten_md(md(p.text), limit) if limit else md(p.text) for p in parts)
        out.append(f"**{s}**" if stressed else s)
    return "".join(out)


def table(header: list, rows: list[list]) -> Markdown:
    """A Markdown table; every cell escaped, so nothing in one can split a row."""
    def line(cells):
        return "| " + " | ".join(md_text(c, CELL_LIMIT if isinstance(c, Message) else None) for c in cells) + " |"

    return Markdown("\n".join([line(header), "|" + "|".join("---" for _ in header) + "|"] + [line(r) for r in rows]))


def message(value: Any) -> Markdown:
    """An error message in a bullet: whole unless very long."""
    return Markdown(md_text(value, MESSAGE_LIMIT))


@lru_cache(maxsize=1)
def environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("edgebench", "report/templates"), autoescape=False,
                             finalize=md_text, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.globals["table"] = table
    from edgebench.report.layers import HEADER

    env.globals["layer_header"] = HEADER
    env.filters["message"] = message
    return env


def render_template(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def _view(source: RunResults | ReportView) -> ReportView:
    return source if isinstance(source, ReportView) else build(source)


# The sections in report order: worked out before the template runs, so that results lacking a
# figure the report needs raise the KeyError of the first section that needs it.
_SECTIONS = ("header", "table1", "repeat1", "history", "training_failures", "speed", "twin", "deployment",
             "microcontrollers", "measured")


def render(source: RunResults | ReportView, plots: dict | None = None) -> str:
    """report.md from a run's typed results (or its view-model); `plots` maps a figure's name to
    its path relative to the run folder."""
    v = _view(source)
    if v.has_results:
        for name in _SECTIONS:
            getattr(v, name)
    return render_template("report.md.j2", v=v, plots={k: own(p) for k, p in (plots or {}).items()})


def twin_page(source: RunResults | ReportView) -> str:
    """twin.md: the twin section on a page of its own."""
    return render_template("twin.md.j2", v=_view(source)).rstrip("\n") + "\n"
