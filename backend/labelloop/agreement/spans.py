"""Span agreement (NER): precision, recall and F1 between two span sets per item.

Spans are :class:`~labelloop.labelconfig.spans.Span` records ``(start, end, label)`` in Python
code points. Each item (task) holds a *set* of spans: an exact duplicate counts once.

Two ways of matching a span of one side with a span of the other:

- ``"exact"`` — same ``start``, ``end`` and ``label``.
- ``"overlap"`` — same ``label`` and at least one character in common (``a.start < b.end`` and
  ``b.start < a.end``), matched one-to-one: the largest number of such pairs (a maximum bipartite
  matching, :func:`scipy.optimize.linear_sum_assignment`), so one long span covering two short
  ones counts one match, not two. Exact matching is the special case where every candidate pair
  is exact, so overlap figures are never below exact ones.

Scores are *micro* figures: true positives (matched pairs), false positives (unmatched spans of
``pred``) and false negatives (unmatched spans of ``true``) are pooled over the items, then
``precision = tp / (tp + fp)``, ``recall = tp / (tp + fn)``, ``F1 = 2 tp / (2 tp + fp + fn)``.
An item where both sides are empty adds nothing to the counts; when *every* item is empty on both
sides (``tp + fp + fn == 0``) the two sides agree and precision, recall and F1 are 1. A side that
has no spans while the other has some scores 0 (precision with nothing predicted is 0, as in
seqeval and scikit-learn's default), so F1 is never NaN. The measure is symmetric: swapping
``true`` and ``pred`` swaps precision and recall and keeps F1.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

import numpy as np
from scipy.optimize import linear_sum_assignment

from labelloop.errors import InvalidInput
from labelloop.labelconfig.spans import Span

SpanMatch = Literal["exact", "overlap"]


@dataclass(frozen=True)
class PRF:
    """Micro precision / recall / F1 with the counts they come from."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    n: int  # items compared

    @classmethod
    def from_counts(cls, *, tp: int, fp: int, fn: int, n: int) -> PRF:
        if tp + fp + fn == 0:
            return cls(1.0, 1.0, 1.0, 0, 0, 0, n)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        return cls(precision, recall, 2 * tp / (2 * tp + fp + fn), tp, fp, fn, n)

    def as_dict(self) -> PRFDict:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "n": self.n,
        }


class PRFDict(TypedDict):
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    n: int


def _overlaps(a: Span, b: Span) -> bool:
    return a.label == b.label and a.start < b.end and b.start < a.end


def matched_pairs(
    true: Collection[Span], pred: Collection[Span], *, match: SpanMatch = "exact"
) -> list[tuple[Span, Span]]:
    """The one-to-one matched ``(true span, pred span)`` pairs of one item, in ``true`` order."""
    t = sorted(set(true))
    if match == "exact":
        p = set(pred)
        return [(s, s) for s in t if s in p]
    if match != "overlap":
        raise InvalidInput(f"match must be 'exact' or 'overlap'; got {match!r}")
    q = sorted(set(pred))
    if not t or not q:
        return []
    weight = np.array([[1.0 if _overlaps(a, b) else 0.0 for b in q] for a in t])
    if not weight.any():
        return []
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return [(t[r], q[c]) for r, c in zip(rows, cols) if weight[r, c] > 0]


def item_counts(
    true: Collection[Span], pred: Collection[Span], *, match: SpanMatch = "exact"
) -> tuple[int, int, int]:
    """``(tp, fp, fn)`` of one item."""
    tp = len(matched_pairs(true, pred, match=match))
    return tp, len(set(pred)) - tp, len(set(true)) - tp


def _check_pairing(true: Sequence[Collection[Span]], pred: Sequence[Collection[Span]]) -> None:
    if len(true) != len(pred):
        raise InvalidInput(
            f"true and pred must hold one span set per item; got {len(true)} and {len(pred)}"
        )


def _only(spans: Collection[Span], keep: frozenset[str] | None) -> set[Span]:
    return {s for s in spans if keep is None or s.label in keep}


def span_prf(
    true: Sequence[Collection[Span]],
    pred: Sequence[Collection[Span]],
    *,
    match: SpanMatch = "exact",
    labels: Sequence[str] | None = None,
) -> PRF:
    """Micro precision / recall / F1 of ``pred`` against ``true``, pooled over the items.

    ``true[i]`` and ``pred[i]`` are the span sets of item ``i``. With ``labels``, only spans with
    one of those labels are counted (both sides).
    """
    _check_pairing(true, pred)
    keep = None if labels is None else frozenset(labels)
    tp = fp = fn = 0
    for t, p in zip(true, pred):
        a, b, c = item_counts(_only(t, keep), _only(p, keep), match=match)
        tp, fp, fn = tp + a, fp + b, fn + c
    return PRF.from_counts(tp=tp, fp=fp, fn=fn, n=len(true))


def span_prf_per_label(
    true: Sequence[Collection[Span]],
    pred: Sequence[Collection[Span]],
    *,
    match: SpanMatch = "exact",
    labels: Sequence[str] | None = None,
) -> dict[str, PRF]:
    """:func:`span_prf` for each label (default: every label either side uses, sorted).

    Matching never crosses labels, so the per-label counts add up to the overall ones. A label
    neither side uses scores 1 (both agree it is absent), as an all-empty item does.
    """
    _check_pairing(true, pred)
    if labels is None:
        used = {s.label for spans in (*true, *pred) for s in spans}
        labels = sorted(used)
    return {label: span_prf(true, pred, match=match, labels=[label]) for label in labels}
