"""The review list: tasks whose first human label disagrees with both the LLM and the local model.

Two independent machine labellers that both contradict the first annotator are the cheapest
signal that the annotation may be wrong (or the guidelines unclear). :func:`review_positions`
picks the rows and orders them by how strong that signal is:

1. the LLM and the model agree with each other (they propose the same alternative) first;
2. then by the LLM's confidence, highest first (missing confidence last);
3. then by the model's confidence, highest first; ties keep row order.

A row needs a first label, an LLM label and a model label; rows missing any are not candidates.
Positions are row positions of the arrays passed in (task ids appear only in
:func:`review_items`, at the boundary).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labelloop.errors import InvalidInput
from labelloop.quality.align import Aligned


class ReviewItem(TypedDict):
    task_id: int
    first_label: str
    first_annotator: int
    llm_label: str
    llm_confidence: float | None
    model_label: str
    model_confidence: float | None
    machines_agree: bool  # LLM and model propose the same label
    n_annotations: int
    consensus: str | None  # the one consensus rule over all human labels so far


def review_positions(first: ArrayLike, llm: ArrayLike, model: ArrayLike, *,
                     llm_confidence: ArrayLike | None = None,
                     model_confidence: ArrayLike | None = None) -> NDArray[np.int64]:
    """Rows where ``first`` differs from both ``llm`` and ``model``, strongest signal first.

    All arguments are 1-D and of equal length: class indices (NaN = missing) and confidences
    (NaN = unknown).
    """
    f, a, b = (np.asarray(x, dtype=np.float64) for x in (first, llm, model))
    n = f.shape[0]
    if f.ndim != 1 or a.shape != (n,) or b.shape != (n,):
        raise InvalidInput(f"first, llm and model must be 1-D of equal length; got "
                           f"{f.shape}, {a.shape}, {b.shape}")
    ca = np.full(n, np.nan) if llm_confidence is None else np.asarray(llm_confidence, float)
    cb = np.full(n, np.nan) if model_confidence is None else np.asarray(model_confidence, float)
    if ca.shape != (n,) or cb.shape != (n,):
        raise InvalidInput("confidences must be 1-D and as long as the labels")
    present = ~np.isnan(f) & ~np.isnan(a) & ~np.isnan(b)
    with np.errstate(invalid="ignore"):
        picked = np.flatnonzero(present & (f != a) & (f != b))
    agree = a[picked] == b[picked]
    # np.lexsort sorts by the last key first; NaN confidences sort as -1 (last)
    keys = (picked, -np.nan_to_num(cb[picked], nan=-1.0), -np.nan_to_num(ca[picked], nan=-1.0),
            ~agree)
    return picked[np.lexsort(keys)].astype(np.int64)


def _opt(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def review_items(aligned: Aligned, consensus: ArrayLike, *, limit: int | None = None
                 ) -> tuple[int, list[ReviewItem]]:
    """``(total, items)``: the review list of ``aligned`` (at most ``limit`` items)."""
    pos = review_positions(aligned.first, aligned.llm.labels, aligned.model.labels,
                           llm_confidence=aligned.llm.scores,
                           model_confidence=aligned.model.scores)
    names: Sequence[str] = aligned.categories
    cons = np.asarray(consensus, dtype=np.float64)
    items: list[ReviewItem] = []
    for i in pos[:limit] if limit is not None else pos:
        a, b = int(aligned.llm.labels[i]), int(aligned.model.labels[i])
        items.append({
            "task_id": aligned.task_ids[i],
            "first_label": names[int(aligned.first[i])],
            "first_annotator": aligned.first_annotator[i],
            "llm_label": names[a],
            "llm_confidence": _opt(aligned.llm.scores[i]),
            "model_label": names[b],
            "model_confidence": _opt(aligned.model.scores[i]),
            "machines_agree": a == b,
            "n_annotations": int(aligned.n_annotations[i]),
            "consensus": None if np.isnan(cons[i]) else names[int(cons[i])],
        })
    return int(pos.shape[0]), items
