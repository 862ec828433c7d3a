"""Display text: what the words layer (view.py) builds and every renderer shows.

A `Text` is a str holding the plain text, plus its parts, each marked as edgebench's own words and
numbers (`own`) or as outside text (names, paths, messages, anything a results.json may hold), and
optionally stressed. Outside text stays RAW here; each renderer escapes it for its format
(report.markdown, report.terminal, report.html), so nothing here knows Markdown, HTML or rich
markup. A plain str, or any string operation on a Text, counts as outside text: forgetting a
marker over-escapes, it never lets markup through.
"""

from __future__ import annotations

import itertools
import numbers
import string
from typing import Any, Iterable, Iterator, NamedTuple

from edgebench.report.escape import is_own_key


class Part(NamedTuple):
    text: str
    own: bool  # edgebench's own words or numbers: a renderer shows them as written
    strong: bool = False


class Text(str):
    """A display string (its str value is the plain text) made of parts; see the module doc."""

    parts: tuple[Part, ...]

    def __new__(cls, parts: Iterable[Part] = ()) -> "Text":
        parts = tuple(p for p in parts if p.text)
        obj = super().__new__(cls, "".join(p.text for p in parts))
        obj.parts = parts
        return obj

    def runs(self) -> Iterator[tuple[bool, list[Part]]]:
        """(stressed?, parts) for each run of parts stressed alike."""
        for stressed, parts in itertools.groupby(self.parts, key=lambda p: p.strong):
            yield stressed, list(parts)

    def __repr__(self) -> str:
        return f"Text({str.__repr__(self)})"


def _numeric(v: Any) -> bool:
    """Numbers (and lists of them) cannot carry markup: shown as edgebench formats them."""
    if isinstance(v, (list, tuple)):
        return all(_numeric(x) for x in v)
    return isinstance(v, numbers.Number)


def _parts(v: Any, spec: str = "") -> tuple[Part, ...]:
    if isinstance(v, Text) and not spec:
        return v.parts
    if _numeric(v):
        return (Part(format(v, spec), True),)
    return (Part(format(v, spec) if spec else str(v), False),)


def text(v: Any) -> Text:
    """Any value as Text: a str is outside text, a number edgebench's own."""
    return v if isinstance(v, Text) else Text(_parts(v))


class Message(Text):
    """An error message or failure reason: a table shortens it (results.json keeps it whole)."""


def message(v: Any) -> Message:
    return Message(text(v).parts)


def own(s: str) -> Text:
    """Words edgebench wrote itself (never a value read from results)."""
    return Text([Part(s, True)])


def strong(v: Any) -> Text:
    return Text(p._replace(strong=True) for p in text(v).parts)


def join(sep: str, items: Iterable[Any]) -> Text:
    out: list[Part] = []
    for i, item in enumerate(items):
        if i:
            out.append(Part(sep, True))
        out.extend(text(item).parts)
    return Text(out)


def key(k: Any) -> Text:
    """A results dict key: one of edgebench's own identifiers is shown as written."""
    return own(k) if isinstance(k, str) and is_own_key(k) else text(k)


_FORMATTER = string.Formatter()


def fmt(template: str, *args: Any) -> Text:
    """str.format for display text: the template is edgebench's own words, each argument keeps
    its kind (a str argument stays outside text, a number is formatted by its spec)."""
    parts: list[Part] = []
    values = iter(args)
    for literal, field, spec, conversion in _FORMATTER.parse(template):
        if literal:
            parts.append(Part(literal, True))
        if field is None:
            continue
        if field or conversion:
            raise ValueError(f"fmt takes only '{{}}' and '{{:spec}}' fields: {template!r}")
        parts.extend(_parts(next(values), spec or ""))
    return Text(parts)


DASH = own("-")
NOTHING = own("")


def num(v: Any, spec: str, missing: Text = DASH) -> Text:
    """A figure by its format spec, or `missing` (a dash) where there is none."""
    return missing if v is None else fmt("{:" + spec + "}", v)


def mib(b: Any) -> Text:
    return DASH if b is None else fmt("{:.0f}", b / 2**20)


def plural(n: int) -> Text:
    return own("s" if n > 1 else "")


def ci_text(s: dict | None, spec: str = ".2f") -> Text:
    """The headline of a time summary (geometric mean; older results: mean) with its interval."""
    from edgebench.measure.stats import center

    c = center(s)
    if c is None:
        return DASH
    if s.get("ci_low") is None:
        return fmt(f"{{:{spec}}} (n={{}})", c, s["n"])
    return fmt(f"{{:{spec}}} [{{:{spec}}}, {{:{spec}}}]", c, s["ci_low"], s["ci_high"])


def spread_text(s: dict | None, spec: str = ".2f") -> Text:
    """Median and range beside the interval: what a skewed sample looks like."""
    if not s or s.get("median") is None or s.get("n", 0) < 2:
        return DASH
    return fmt(f"{{:{spec}}} ({{:{spec}}}-{{:{spec}}})", s["median"], s["min"], s["max"])
