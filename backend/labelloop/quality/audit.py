"""The audit estimate: the LLM's accuracy on the tasks nobody reviewed, from the audit sample.

When labelloop publishes a queue it draws a uniform sample of the candidate tasks and flags them
``audit`` in ``queue_entries``; annotators label them like any other task. Tasks the active
learner picked (disagreement, uncertainty, …) are *not* a uniform sample — they are the hard
ones — so only the audit tasks say how good the LLM is on the rest.

:func:`audit_estimate` takes the audited rows that have both an LLM label and a human consensus
(the one rule of :mod:`labelloop.labelconfig.consensus`: a tie goes to the latest vote), and the
population the LLM labelled: those audited rows plus every live task with an LLM label and no human label yet (the unreviewed
rest). It then calls :func:`labelloop.agreement.estimate_audit_accuracy` with the population
size and the per-class population counts (by the LLM's label), so the 95 % Wilson intervals carry
the finite-population correction and are mapped to the accuracy on the unreviewed rest. The
per-class figures are the LLM's precision on each class it predicts. See docs/quality.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from labelloop.agreement import estimate_audit_accuracy
from labelloop.quality.align import Aligned

METHOD = ("Wilson 95 % interval on the uniform audit sample, finite-population corrected and "
          "mapped to the unreviewed tasks; per class = by the LLM's label (its precision)")


def audit_estimate(aligned: Aligned, consensus: ArrayLike, *, drawn: int,
                   confidence: float = 0.95) -> dict[str, Any]:
    """The audit section of the quality report (``available`` False with a reason if none)."""
    cons = np.asarray(consensus, dtype=np.float64)
    llm = aligned.llm.labels
    audited = aligned.audit & ~np.isnan(llm) & ~np.isnan(cons)
    n_unreviewed = int(aligned.unreviewed_llm.shape[0])
    base: dict[str, Any] = {
        "method": METHOD,
        "drawn": drawn,  # live tasks ever flagged audit
        "audited": int(audited.sum()),  # ... with a human consensus and an LLM label
        "unreviewed": n_unreviewed,  # live tasks with an LLM label and no human label
    }
    if not np.any(audited):
        why = ("no task was drawn for the audit yet" if drawn == 0 else
               "no audit task has both an LLM label and a human consensus yet")
        return {"available": False, "reason": why, **base}
    k = len(aligned.categories)
    counts = (np.bincount(llm[audited].astype(np.int64), minlength=k)
              + np.bincount(aligned.unreviewed_llm.astype(np.int64), minlength=k))
    est = estimate_audit_accuracy(llm[audited], cons[audited], list(aligned.categories),
                                  population_counts=counts.astype(np.int64),
                                  confidence=confidence)
    return {"available": True, "reason": None, **base, "confidence": est["confidence"],
            "overall": est["overall"], "per_class": est["per_class"]}
