"""Text edgebench did not write itself (names, paths, messages, anything read back from a
results.json that may have been edited), made safe for the format it lands in.

One rule: a report never interprets such text. The view-model (view.py) keeps it raw and each
renderer escapes it where it lands: Markdown gets backslash escapes and entities and never raw
HTML; report.html gets the Markdown rendered with raw HTML switched off and jinja2's autoescape
for everything else; CSV cells cannot start a spreadsheet formula; the terminal gets
rich's markup escaped; matplotlib labels cannot start mathtext.
"""

from __future__ import annotations

import re
from typing import Any

# Markdown characters that start emphasis, code, links or table cells: backslash-escaped (both
# Python-Markdown with its tables extension and GitHub honour these escapes).
_MD_BACKSLASH = re.compile(r"([\\`*_\[\]|])")
# Characters that start HTML or entities: written as entities, which every renderer shows as text.
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")
# A key edgebench wrote itself (results.json's own field names) needs no escaping.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.\-]+")
# Spreadsheet programs treat a cell starting with one of these as a formula (OWASP, CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

ELLIPSIS = "…"


def md(text: Any) -> str:
    """Escaped for Markdown prose or a table cell: no emphasis, code, link, HTML or cell break can
    come out of it, and it stays on one line."""
    s = _LINE_BREAKS.sub(" ", str(text))
    s = "".join(_MD_ENTITIES.get(ch, ch) for ch in s)
    return _MD_BACKSLASH.sub(r"\\\1", s)


def shorten_md(escaped: str, limit: int = 160) -> str:
    """An already escaped Markdown string cut to about `limit` characters for a table cell,
    never in the middle of an escape (results.json keeps the whole text)."""
    if len(escaped) <= limit:
        return escaped
    cut = escaped[:limit]
    cut = re.sub(r"&[#A-Za-z0-9]*$", "", cut)  # a half entity
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:  # a lone backslash would escape the ellipsis' neighbour
        cut = cut[:-1]
    return cut.rstrip() + ELLIPSIS


def is_own_key(key: str) -> bool:
    """A results dict key that is one of edgebench's own identifiers (a package or stage name):
    nothing in it is markup in any format, so it needs no escaping."""
    return _IDENTIFIER.fullmatch(key) is not None


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: strings that would start a formula get a leading
    apostrophe (the OWASP recommendation); numbers and empty cells are unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def rich_text(text: Any) -> str:
    """For rich's console: square brackets in a name or message are not markup."""
    from rich.markup import escape

    return escape(str(text))


def plot_label(text: Any) -> str:
    """For a matplotlib label: a '$' in a name does not start mathtext (which can also fail to parse)."""
    return _LINE_BREAKS.sub(" ", str(text)).replace("$", r"\$")
