"""From a ranking to the queue labelloop publishes: audit draws interleaved, scores, reasons.

Pure functions over positions (no task ids, no storage).

* **Audit draws.** A share of the served queue (``audit_fraction``, default 5 %) is drawn
  uniformly at random from the whole pool and placed at evenly spaced positions among the ranked
  tasks (every ``round(1/fraction)``-th slot). Their human labels give an estimate of the LLM's
  accuracy on the unreviewed rest that active selection does not bias. Drawn tasks stay audit
  tasks until reviewed, so the estimate's sample is not redrawn away.
* **Score.** Position ``r`` of ``n`` gets ``r / n``: in [0, 1), lower = label first. It is an
  order, not a probability.
* **Reason.** Why each task is where it is: ``cold_start`` (seed set), ``disagreement`` (the LLM
  and the local model disagree), ``uncertainty`` (the model is unsure), ``error_removal`` (the
  queue aims at the dataset: among the most likely wrong machine labels,
  :mod:`labelloop.loop.plan_dataset`), ``audit`` (random draw), ``rest`` (after the first batch,
  ranked by the same strategy), ``accepted`` (its machine label was auto-accepted: moved to the
  end of the queue).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class QueuePlan:
    order: np.ndarray  # pool positions, label-first first
    scores: np.ndarray  # same length: rank / n
    reasons: list[str]
    audit: np.ndarray  # bool, same length


def draw_audit(pool: np.ndarray, already: np.ndarray, *, fraction: float,
               rng: np.random.Generator) -> np.ndarray:
    """Positions of the audit sample: ``already`` drawn ones still in the pool, topped up by a
    uniform draw from the rest of the pool to ``ceil(fraction * len(pool))``."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"audit fraction must be in [0, 1), got {fraction}")
    pool = np.asarray(pool, dtype=np.int64)
    keep = np.intersect1d(np.asarray(already, dtype=np.int64), pool)
    want = int(np.ceil(fraction * pool.size))
    if keep.size >= want:
        return keep[:want] if want else keep[:0]
    rest = np.setdiff1d(pool, keep)
    extra = rng.choice(rest, size=min(rest.size, want - keep.size), replace=False)
    return np.sort(np.concatenate([keep, extra]))


def plan_queue(order: np.ndarray, batch: np.ndarray, audit: np.ndarray, *, phase: str,
               disagree: np.ndarray, fraction: float, batch_reason: str | None = None,
               accepted: np.ndarray | None = None) -> QueuePlan:
    """Interleave ``audit`` positions into the ranked ``order``; score and explain every slot.

    ``disagree[i]``: True where the LLM and the local model pick different labels for pool
    position ``i`` (indexable by position). ``batch_reason``: the reason of every batch slot
    (default: by ``phase`` and ``disagree``); ``accepted``: positions whose machine label was
    auto-accepted (reason ``accepted`` unless drawn for the audit)."""
    order = np.asarray(order, dtype=np.int64)
    audit_set = set(np.asarray(audit, dtype=np.int64).tolist())
    ranked = [int(i) for i in order if int(i) not in audit_set]
    draws = [int(i) for i in audit if int(i) in set(order.tolist())]
    step = max(2, round(1 / fraction)) if fraction > 0 and draws else 0
    out: list[int] = []
    is_audit: list[bool] = []
    a = 0
    for i in ranked:
        if step and a < len(draws) and (len(out) + 1) % step == 0:
            out.append(draws[a])
            is_audit.append(True)
            a += 1
        out.append(i)
        is_audit.append(False)
    out.extend(draws[a:])
    is_audit.extend([True] * (len(draws) - a))
    in_batch = set(np.asarray(batch, dtype=np.int64).tolist())
    taken = set(() if accepted is None else np.asarray(accepted, dtype=np.int64).tolist())
    reasons = []
    for i, aud in zip(out, is_audit):
        if aud:
            reasons.append("audit")
        elif i in taken:
            reasons.append("accepted")
        elif i not in in_batch:
            reasons.append("rest")
        elif batch_reason is not None:
            reasons.append(batch_reason)
        elif phase == "cold_start":
            reasons.append("cold_start")
        else:
            reasons.append("disagreement" if bool(disagree[i]) else "uncertainty")
    n = len(out)
    scores = np.arange(n, dtype=np.float64) / max(n, 1)
    return QueuePlan(np.array(out, dtype=np.int64), scores, reasons,
                     np.array(is_audit, dtype=bool))
