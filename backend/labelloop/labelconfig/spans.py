"""Spans of text (NER): the canonical span, and the checks every span passes before it leaves.

Offsets are Python code points into the task's text (``text[start:end]``); conversion to the
unit Label Studio's editor uses happens where results are read and built.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from labelloop.errors import InvalidInput


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    label: str  # the output value Label Studio stores (the alias when set, else the value)


def validate_spans(text: str, spans: Iterable[Span], *, labels: Collection[str]) -> None:
    """Raise :class:`InvalidInput` unless every span lies in ``text`` (``0 <= start < end <=
    len(text)``), carries a label of ``labels``, and no span repeats."""
    seen: set[Span] = set()
    allowed = set(labels)
    for s in spans:
        if not (0 <= s.start < s.end <= len(text)):
            raise InvalidInput(f"span {s.start}..{s.end} is outside a text of {len(text)}")
        if s.label not in allowed:
            raise InvalidInput(f"span label {s.label!r} is not in the config")
        if s in seen:
            raise InvalidInput(f"span {s} repeats")
        seen.add(s)


def to_ls_offsets(text: str, start: int, end: int) -> tuple[int, int]:
    """Code-point offsets as Label Studio stores them (the unit is checked in spans work)."""
    return start, end


def from_ls_offsets(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Label Studio's offsets as code points; None when they do not fall in the text."""
    if not (0 <= start <= end <= len(text)):
        return None
    return start, end
