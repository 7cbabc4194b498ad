"""Spans of text (NER): the canonical span, and the checks every span passes before it leaves.

Offsets are Python code points into the task's text (``text[start:end]``); conversion to the
unit Label Studio's editor uses happens where results are read and built.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    label: str  # the output value Label Studio stores (the alias when set, else the value)
