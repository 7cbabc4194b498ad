"""Spans of text (NER): the canonical span, the checks every span passes, and where spans come from.

**Offsets.** A :class:`Span` holds Python code-point offsets into the task's text: ``text[start:
end]`` is what it covers. Label Studio 1.23.2's editor counts the same unit (measured in a real
browser, docs/label-studio-findings.md: after an emoji, "Paris" selected by hand is stored at the
Python offsets, and a prediction at code-point offsets highlights exactly "Paris"), so
:func:`to_ls_offsets` is the identity and :func:`from_ls_offsets` only checks the range. They are
kept as the one place that knows the unit; every region built or read goes through them.

**Valid spans** (:func:`validate_spans`, :func:`is_valid_span`): ``0 <= start < end <=
len(text)``, integer offsets, a label from the config, no exact duplicate ``(start, end, label)``.
Overlapping spans, even nested ones and spans of different labels over the same text, are valid:
Label Studio allows them (a region per label, or one region with several labels when the
``<Labels>`` has ``choice="multiple"``).

**Locating an LLM's entities** (:func:`locate`). The LLM names entities as ``(surface text,
label)`` in reading order; labelloop finds the offsets, never the LLM. For each entity:

1. the surface is stripped of outer whitespace; an empty one is dropped (``empty``), so is one
   whose label is not in ``labels`` (``unknown_label``);
2. its occurrences are found exactly; if there are none, with a tolerant match (any run of
   whitespace for a whitespace, case-insensitive), which the result reports (``tolerant``);
   none either way: dropped (``not_found``);
3. occurrences on word boundaries are preferred: an occurrence inside a word ("Paris" in
   "Parisian") is used only when the surface has no occurrence on word boundaries (text without
   spaces, e.g. CJK, has none, so it still works). Combining marks count as word characters;
4. repeated surface forms are resolved in reading order: the n-th mention of a surface (compared
   case- and space-insensitively) takes the first occurrence after the end of the previous one's
   match; if none is left after it, the first earlier occurrence not yet taken with that label
   (the LLM listed out of order); if every occurrence is taken with that label: ``duplicate``.

Nothing raises: what cannot be placed is a :class:`Dropped` record with its reason. The spans come
out sorted, without exact duplicates, each covering what was matched in the task's text (for a
tolerant match the text's own spelling, not the LLM's).

**Regions** (:func:`span_region`, :func:`span_regions`, :func:`read_region`,
:func:`read_region_spans`): a Label Studio ``labels`` region per ``(start, end)`` holding its
sorted labels (one label unless ``choice="multiple"``); read back, a region with several labels is
one span per label. Anything malformed reads as None, which the caller counts as skipped.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeGuard

from labelloop.errors import InvalidInput

log = logging.getLogger(__name__)

DropReason = Literal["empty", "unknown_label", "not_found", "duplicate"]


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    label: str  # the output value Label Studio stores (the alias when set, else the value)


@dataclass(frozen=True)
class Dropped:
    """An entity of an LLM answer that gave no span, and why."""

    text: str
    label: str
    reason: DropReason


@dataclass(frozen=True)
class Located:
    """What :func:`locate_all` found: the spans (sorted), the entities dropped (in answer order)
    and the spans found only by the whitespace/case-tolerant match."""

    spans: list[Span]
    dropped: list[Dropped]
    tolerant: list[Span] = field(default_factory=list)


# --- validity ----------------------------------------------------------------------------------


def _is_int(x: object) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)


def span_problem(text: str, span: Span, *, labels: Collection[str]) -> str | None:
    """Why ``span`` may not be sent for ``text`` (None: it may), duplicates aside."""
    if not isinstance(span, Span):
        return f"{span!r} is not a Span"
    if not (_is_int(span.start) and _is_int(span.end)):
        return f"{span} has non-integer offsets"
    if not 0 <= span.start < span.end <= len(text):
        return f"{span} is not within 0 <= start < end <= {len(text)}"
    if span.label not in labels:
        return f"{span} has a label outside {sorted(labels)}"
    return None


def is_valid_span(text: str, span: Span, *, labels: Collection[str]) -> bool:
    return span_problem(text, span, labels=labels) is None


def validate_spans(text: str, spans: Iterable[Span], *, labels: Collection[str]) -> None:
    """Raise :class:`InvalidInput` unless every span is valid for ``text`` and none repeats."""
    seen: set[Span] = set()
    problems: list[str] = []
    for span in spans:
        problem = span_problem(text, span, labels=labels)
        if problem is None and span in seen:
            problem = f"{span} is repeated"
        if problem is not None:
            problems.append(problem)
        elif isinstance(span, Span):
            seen.add(span)
    if problems:
        raise InvalidInput(f"invalid spans: {problems[0]}"
                           + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                           detail=problems)


# --- locating an LLM's entities -------------------------------------------------------------


def _word_char(c: str) -> bool:
    return c.isalnum() or c == "_" or unicodedata.category(c).startswith("M")


def _on_boundaries(text: str, start: int, end: int) -> bool:
    left = start == 0 or not (_word_char(text[start - 1]) and _word_char(text[start]))
    right = end == len(text) or not (_word_char(text[end - 1]) and _word_char(text[end]))
    return left and right


def _exact(text: str, surface: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    i = text.find(surface)
    while i != -1:
        out.append((i, i + len(surface)))
        i = text.find(surface, i + 1)
    return out


def _tolerant(text: str, surface: str) -> list[tuple[int, int]]:
    pattern = r"\s+".join(re.escape(part) for part in surface.split())
    found = re.compile(pattern, re.IGNORECASE).finditer(text)
    return [(m.start(), m.end()) for m in found if m.end() > m.start()]


def locate_all(text: str, entities: Sequence[tuple[str, str]], *,
               labels: Collection[str]) -> Located:
    """:func:`locate`, also saying which spans only the tolerant match found."""
    taken: set[Span] = set()
    cursor: dict[str, int] = {}  # surface key -> end of its previous match
    dropped: list[Dropped] = []
    tolerant: list[Span] = []
    for surface, label in entities:
        surface = surface.strip() if isinstance(surface, str) else ""
        label = label if isinstance(label, str) else ""
        if not surface:
            dropped.append(Dropped(surface, label, "empty"))
            continue
        if label not in labels:
            dropped.append(Dropped(surface, label, "unknown_label"))
            continue
        found, loose = _exact(text, surface), False
        if not found:
            found, loose = _tolerant(text, surface), True
        if not found:
            dropped.append(Dropped(surface, label, "not_found"))
            continue
        whole = [o for o in found if _on_boundaries(text, *o)]
        key = " ".join(surface.split()).casefold()
        after = cursor.get(key, 0)
        free = [o for o in (whole or found) if Span(o[0], o[1], label) not in taken]
        pick = next((o for o in free if o[0] >= after), free[0] if free else None)
        if pick is None:
            dropped.append(Dropped(surface, label, "duplicate"))
            continue
        span = Span(pick[0], pick[1], label)
        taken.add(span)
        cursor[key] = max(after, pick[1])
        if loose:
            tolerant.append(span)
            log.debug("entity %r (%s) located by the tolerant match as %r", surface, label,
                      text[span.start:span.end])
    return Located(sorted(taken), dropped, sorted(tolerant))


def locate(text: str, entities: Sequence[tuple[str, str]], *,
           labels: Collection[str]) -> tuple[list[Span], list[Dropped]]:
    """The spans of an LLM's ``(surface, label)`` entities in ``text``, and those dropped (see
    the module's docstring for the rules). Never raises; every span returned is valid."""
    found = locate_all(text, entities, labels=labels)
    return found.spans, found.dropped


# --- Label Studio's offset unit and regions -------------------------------------------------


def to_ls_offsets(text: str, start: int, end: int) -> tuple[int, int]:
    """Code-point offsets into ``text`` as Label Studio's editor counts them (the same unit)."""
    return start, end


def from_ls_offsets(text: str, start: object, end: object) -> tuple[int, int] | None:
    """Label Studio's offsets as code-point offsets; None when they are not integers or not
    within ``0 <= start <= end <= len(text)``."""
    if not (_is_int(start) and _is_int(end)) or not 0 <= start <= end <= len(text):
        return None
    return start, end


Region = dict[str, object]


def span_region(text: str, span: Span, *, from_name: str, to_name: str,
                score: float | None = None, labels: Sequence[str] | None = None) -> Region:
    """One Label Studio ``labels`` region for ``span`` (or for ``labels`` at its offsets)."""
    start, end = to_ls_offsets(text, span.start, span.end)
    region: Region = {
        "from_name": from_name, "to_name": to_name, "type": "labels",
        "value": {"start": start, "end": end, "text": text[span.start:span.end],
                  "labels": list(labels) if labels is not None else [span.label]},
    }
    if score is not None:
        region["score"] = float(score)
    return region


def span_regions(text: str, spans: Iterable[Span], *, from_name: str, to_name: str,
                 scores: Mapping[Span, float] | None = None) -> list[Region]:
    """One region per ``(start, end)`` holding its sorted labels (several only for
    ``choice="multiple"``), in span order; its score is the lowest of its spans' scores."""
    grouped: dict[tuple[int, int], list[Span]] = {}
    for span in sorted(set(spans)):
        grouped.setdefault((span.start, span.end), []).append(span)
    out: list[Region] = []
    for group in grouped.values():
        known = [scores[s] for s in group if scores is not None and s in scores]
        out.append(span_region(text, group[0], from_name=from_name, to_name=to_name,
                               score=min(known) if known else None,
                               labels=[s.label for s in group]))
    return out


def read_region_spans(text: str, region: object, *, from_name: str) -> list[Span] | None:
    """The spans of a ``labels`` region of control ``from_name``, one per label; None when the
    region is another control's or malformed (wrong types, offsets off the text, a ``value.text``
    that is not the text they cover, no label)."""
    if not isinstance(region, dict) or region.get("from_name") != from_name \
            or region.get("type") != "labels":
        return None
    value = region.get("value")
    if not isinstance(value, dict):
        return None
    offsets = from_ls_offsets(text, value.get("start"), value.get("end"))
    labels = value.get("labels")
    if offsets is None or offsets[0] == offsets[1] or not isinstance(labels, list) or not labels \
            or not all(isinstance(x, str) and x for x in labels):
        return None
    start, end = offsets
    said = value.get("text")
    if said is not None and said != text[start:end]:
        return None
    return sorted({Span(start, end, label) for label in labels})


def read_region(text: str, region: object, *, from_name: str) -> Span | None:
    """The span of a single-label region (see :func:`read_region_spans`); None also when the
    region holds several labels."""
    spans = read_region_spans(text, region, from_name=from_name)
    return spans[0] if spans is not None and len(spans) == 1 else None
