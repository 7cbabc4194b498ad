"""Spans on their text: offset units, the text of an exported task, and the token view.

Token-level agreement (Cohen's kappa, Krippendorff's alpha) needs one label per unit of text and
annotator. The units are **tokens** — runs of word characters, or one punctuation character
(``\\w+|[^\\w\\s]``; whitespace is not a unit) — when the task's text is known, else
**characters** ``0 .. the largest end`` any annotator marked in the task. A unit's label is the
label of the spans covering any of its characters (``" + "``-joined when several labels cover it)
or ``"O"`` for outside: the O label is included, which is what makes kappa and alpha comparable
with the classification figures but also inflates them when most of the text is O (the span F1
figures do not count O at all). Adjacent entities of one label are not told apart in this view
(no B-/I- prefixes): it measures which text is marked as what, the span F1 measures the entities.

Offsets in an export are in the unit Label Studio's editor used. :func:`offset_unit` decides it
for a whole export from the regions that carry their ``value.text``: ``"utf16"`` when more of them
only read right as UTF-16 code units (they differ from Python code points past a character
outside the BMP, e.g. an emoji), else ``"code_points"``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from labelloop.agreement.matrix import FloatArray
from labelloop.labelconfig.spans import Span

OffsetUnit = Literal["code_points", "utf16"]
TOKEN = re.compile(r"\w+|[^\w\s]")
OUTSIDE = "O"


def tokenize(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` code-point offsets of the tokens of ``text``."""
    return [(m.start(), m.end()) for m in TOKEN.finditer(text)]


def _utf16_to_cp(text: str) -> dict[int, int]:
    """UTF-16 offset -> code-point offset, for the offsets that fall between characters."""
    out = {0: 0}
    u = 0
    for i, ch in enumerate(text):
        u += 2 if ord(ch) > 0xFFFF else 1
        out[u] = i + 1
    return out


def to_code_points(
    text: str, start: int, end: int, *, unit: OffsetUnit = "code_points", said: str | None = None
) -> tuple[int, int] | None:
    """``(start, end)`` in code points of a span given in ``unit``; None when it is not on the
    text (past its end, inside a surrogate pair, or ``said`` is not the text it covers)."""
    if unit == "utf16":
        index = _utf16_to_cp(text)
        if start not in index or end not in index:
            return None
        start, end = index[start], index[end]
    if not 0 <= start < end <= len(text):
        return None
    if said is not None and text[start:end] != said:
        return None
    return start, end


def _said(region: Any) -> tuple[int, int, str] | None:
    value = region.get("value") if isinstance(region, dict) else None
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        return None
    start, end = value.get("start"), value.get("end")
    if type(start) is not int or type(end) is not int:
        return None
    return start, end, value["text"]


def offset_unit(texts_and_regions: Iterable[tuple[str, Sequence[Any]]]) -> OffsetUnit:
    """The offset unit most regions that carry their text agree with (ties: code points)."""
    only_cp = only_utf16 = 0
    for text, regions in texts_and_regions:
        if len(text.encode("utf-16-le")) == 2 * len(text):
            continue  # no character outside the BMP: both units agree
        for region in regions:
            got = _said(region)
            if got is None:
                continue
            cp = to_code_points(text, got[0], got[1], said=got[2]) is not None
            u16 = to_code_points(text, got[0], got[1], unit="utf16", said=got[2]) is not None
            only_cp += cp and not u16
            only_utf16 += u16 and not cp
    return "utf16" if only_utf16 > only_cp else "code_points"


def find_text(data: Any, results: Sequence[Sequence[Any]]) -> str | None:
    """The text a task's spans are on: the string field of ``data`` most regions' ``value.text``
    matches, else the field named by the regions' ``to_name``, else the only string field."""
    if not isinstance(data, dict):
        return None
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    if not fields:
        return None
    regions = [r for result in results for r in result if isinstance(r, dict)]
    best, best_hits = None, 0
    for text in fields.values():
        hits = 0
        for region in regions:
            got = _said(region)
            if got is None:
                continue
            hits += any(
                to_code_points(text, got[0], got[1], unit=u, said=got[2]) is not None
                for u in ("code_points", "utf16")
            )
        if hits > best_hits:
            best, best_hits = text, hits
    if best is not None:
        return best
    for region in regions:
        if isinstance(region.get("to_name"), str) and region["to_name"] in fields:
            return fields[region["to_name"]]
    return next(iter(fields.values())) if len(fields) == 1 else None


def unit_labels(units: Sequence[tuple[int, int]], spans: Collection[Span]) -> list[frozenset[str]]:
    """The labels of the spans covering any character of each unit (empty: outside, "O")."""
    return [
        frozenset(s.label for s in spans if s.start < end and start < s.end) for start, end in units
    ]


def units_of(text: str | None, annotations: Iterable[Collection[Span]]) -> list[tuple[int, int]]:
    """The units of a task: its tokens, or its characters up to the largest end marked."""
    if text is not None:
        return tokenize(text)
    last = max((s.end for spans in annotations for s in spans), default=0)
    return [(i, i + 1) for i in range(last)]


def _name(labels: frozenset[str]) -> str:
    return " + ".join(sorted(labels)) if labels else OUTSIDE


def token_matrices(
    texts: Sequence[str | None],
    annotations: Sequence[Mapping[int, Collection[Span]]],
    *,
    n_annotators: int,
    span_labels: Sequence[str] = (),
) -> tuple[FloatArray, list[str], FloatArray]:
    """The token view of a span control, over every task (rows: units, in task order).

    Returns the label matrix ``(n_units, n_annotators)`` (NaN: the annotator did not annotate
    the task), the unit labels its class indices name (sorted, ``"O"`` among them), and per
    label of ``span_labels`` the binary matrix ``(n_labels, n_units, n_annotators)``: 1 where
    the annotator marked the unit with that label, 0 where not, NaN where not annotated.
    """
    cells: list[tuple[int, int, frozenset[str]]] = []
    n_units = 0
    for text, by_annotator in zip(texts, annotations):
        units = units_of(text, by_annotator.values())
        for j, spans in by_annotator.items():
            cells.extend((n_units + u, j, got) for u, got in enumerate(unit_labels(units, spans)))
        n_units += len(units)
    names = sorted({_name(got) for _, _, got in cells} | {OUTSIDE})
    index = {name: i for i, name in enumerate(names)}
    matrix = np.full((n_units, n_annotators), np.nan)
    binary = np.full((len(span_labels), n_units, n_annotators), np.nan)
    for u, j, got in cells:
        matrix[u, j] = index[_name(got)]
        for k, label in enumerate(span_labels):
            binary[k, u, j] = float(label in got)
    return matrix, names, binary
