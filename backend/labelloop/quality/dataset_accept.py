"""Audited auto-accept on a classification project's arrays: the one place that decides which
machine labels are accepted, for the queue (:mod:`labelloop.loop.plan_dataset`) and the export
(:mod:`labelloop.quality.dataset`) alike, so the two agree.

Both build the same :class:`~labelloop.quality.dataset_labels.ClassArrays` (the plan from what
the retrain read, the export from storage after it), take the machines' labels from
:func:`~labelloop.quality.dataset_labels.machine_labels` with the generator seeded
:data:`LABELS_SEED`, and call :func:`accept_labels`: the per-class thresholds of
:func:`labelloop.quality.accept.accept_rule` (target ``LABELLOOP_ACCEPT_PRECISION``), applied
to every task without a human label. :func:`accept_summary` is the dataset card's ``accepted``
section: how many rows, the rule per class and what the audit measured on the accepted set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from labelloop.agreement import wilson_interval
from labelloop.quality.accept import AcceptRule, accept_rule
from labelloop.quality.dataset_labels import ClassArrays, ClassLabels

LABELS_SEED = 0  # machine_labels' generator, in the plan and in the export alike
MULTIPLE = ("multiple choice: auto-accept needs one calibrated p_correct per label, which "
            "only single-choice projects have so far")


@dataclass(frozen=True, eq=False)
class Accepted:
    """``mask[i]``: task ``i``'s machine label is accepted (never where a human label exists);
    ``rule``: None where auto-accept does not apply, ``why`` then says so."""

    rule: AcceptRule | None
    mask: NDArray[np.bool_]
    why: str | None = None

    @property
    def count(self) -> int:
        return int(self.mask.sum())


def accept_labels(a: ClassArrays, m: ClassLabels, *, target: float | None) -> Accepted:
    """The rule fitted on ``m`` (the machines' labels of ``a``, humans aside) and the tasks it
    accepts. ``target`` None: the rule is computed (its per-class evidence) but accepts nothing."""
    none = np.zeros(a.task_ids.shape[0], dtype=np.bool_)
    if a.multiple:
        return Accepted(None, none, MULTIPLE)
    rule = accept_rule(m.machine, m.p_correct, a.human, a.audit, n_classes=len(a.classes),
                       target=target)
    if target is None:
        return Accepted(rule, none)
    return Accepted(rule, rule.accepted(m.machine, m.p_correct) & (a.human < 0))


def accept_summary(a: ClassArrays, m: ClassLabels, acc: Accepted) -> dict[str, object]:
    """The card's ``accepted``: the count, the target, per class its threshold and state, and the
    audit's precision of the accepted set (audited tasks whose machine label the rule accepts,
    against their human label) with a Wilson 95 % interval."""
    if acc.rule is None:
        return {"count": 0, "target": None, "enabled": False, "reason": acc.why}
    rule = acc.rule
    names = [" + ".join(c) for c in a.classes]
    in_region = rule.accepted(m.machine, m.p_correct) & a.audit & (a.human >= 0)
    n = int(in_region.sum())
    hits = int((m.machine[in_region] == a.human[in_region]).sum())
    audit: dict[str, object] = {"n": n, "right": hits, "precision": None, "low": None,
                                "high": None}
    if n:
        low, high = wilson_interval(hits, n, confidence=0.95)
        audit |= {"precision": hits / n, "low": float(low), "high": float(high)}
    return {
        "count": acc.count, "target": rule.target, "enabled": rule.target is not None,
        "per_class": {names[c.label]: {
            "threshold": c.threshold, "state": c.state, "reason": c.reason,
            "audit": {"n": c.audit_n, "right": c.audit_hits, "precision": c.audit_precision,
                      "low": c.audit_low, "high": c.audit_high}} for c in rule.classes},
        "audit": audit,
        "method": "machine labels whose p_correct clears their class's threshold are accepted; "
                  "the audit's precision is measured on the audited tasks the rule accepts, "
                  "Wilson 95 % interval"}
