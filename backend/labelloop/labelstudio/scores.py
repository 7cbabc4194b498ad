"""The ``score`` published with each queued task: the queue order, written as a confidence.

Label Studio reads a prediction's ``score`` twice. Under "Uncertainty sampling" it serves the
unlabeled task with the lowest score first, so the scores must follow labelloop's queue order
exactly; and its editor prints it as a percentage beside the version ("labelloop-5 · 46.15 %"),
where anyone reads it as how sure the pre-label is. The queue order is not the confidence order
(diversity, committee disagreement and audit draws reorder it), so the score cannot be both the
pre-label's confidence and the order. :func:`queue_scores` takes the closest thing that keeps the
order: the isotonic (least-squares, non-decreasing) fit of the pre-labels' confidences read in
queue order. Where the queue follows confidence, a task's score *is* its pre-label's confidence;
where it does not, neighbouring tasks share the mean of their confidences. A tiny ramp
(``spread``, 1e-6 in total) makes every score distinct, so Label Studio's order is labelloop's
even between equal confidences. Each region of the pre-label keeps its own confidence as its
``score`` (the editor shows it per region).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

SPREAD = 1e-6


def _isotonic(values: list[float]) -> list[float]:
    """Pool adjacent violators: the non-decreasing sequence closest to ``values`` (least
    squares, equal weights)."""
    blocks: list[tuple[float, int]] = []  # (sum, count)
    for v in values:
        total, count = v, 1
        while blocks and blocks[-1][0] * count > total * blocks[-1][1]:  # previous mean larger
            s, c = blocks.pop()
            total, count = total + s, count + c
        blocks.append((total, count))
    out: list[float] = []
    for total, count in blocks:
        out.extend([total / count] * count)
    return out


def queue_scores(confidences: Sequence[float | None], *, spread: float = SPREAD) -> list[float]:
    """Scores for a queue given in label-first order, from each task's pre-label confidence
    (None: no pre-label, or one without a confidence).

    Strictly increasing (so Label Studio serves the tasks in this order) and within [0, 1].
    A task without a confidence takes the fitted score of the task before it (of the first
    task with one when none comes before). With no confidence at all: the queue position,
    ``rank / n``, as before.
    """
    n = len(confidences)
    if n == 0:
        return []
    if not 0.0 <= spread < 1.0:
        raise ValueError(f"spread must be in [0, 1), not {spread}")
    known = [(i, min(1.0, max(0.0, float(c)))) for i, c in enumerate(confidences)
             if c is not None and math.isfinite(c)]
    if not known:
        return [i / n for i in range(n)]
    fitted = _isotonic([c for _, c in known])
    values: list[float | None] = [None] * n
    for (i, _), f in zip(known, fitted):
        values[i] = f
    out: list[float] = []
    last = fitted[0]
    step = spread / (n - 1) if n > 1 else 0.0
    for i, v in enumerate(values):
        last = last if v is None else v
        out.append(min(1.0, last * (1.0 - spread) + step * i))
    return out
