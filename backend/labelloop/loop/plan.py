"""The retrain's plan: what a retrain decides, as one pure function of what it read.

:func:`plan_retrain` takes a :class:`~labelloop.loop.plan_types.RetrainInputs` (the schema, the
project's arrays, embeddings, the LLM's labels, the model's previous probabilities, the audit
draws so far, the settings it needs, a seed) and returns a :class:`~labelloop.loop.plan_types.
RetrainPlan`; it reads no storage, calls no Label Studio and keeps no state:

1. the task type's *learner* (:data:`LEARNERS`: classification in :mod:`.plan_choices`, text
   spans in :mod:`.plan_spans`) trains the local model on the labeled tasks, predicts every
   task and ranks the pool;
2. the queue's objective and audited auto-accept (:mod:`.plan_dataset`: the ranking turned to
   removing machine errors when that is the objective, auto-accepted tasks moved to the end or
   dropped), then audit draws interleaved (:mod:`labelloop.loop.queue`), each slot with its
   reason;
3. each task's pre-label from the one resolver (:func:`labelloop.labelconfig.prelabel.
   resolve_prelabel`: the LLM's label when it is valid here, else the model's), built for the
   head of the queue; its confidence for every task with text, to which the published scores
   are fitted (:func:`labelloop.labelstudio.scores.queue_scores`);
4. the model's predictions of the tasks without a human label (to store; skipped ones too:
   their dataset label is a machine's), and the version's lineage (with the model's labels of
   the stop set and the expected wrong machine labels left: the inputs of
   :mod:`labelloop.quality.stopping`; the ``objective`` chosen and the ``accept`` rule).

:func:`with_second_opinions` puts tasks sent back for a second annotation (a Label Studio call
the handler makes after planning) at the head of the queue and scores the queue again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from labelloop.labelconfig.prelabel import Prelabel, resolve_prelabel, to_prelabel
from labelloop.labelconfig.schema import TaskType
from labelloop.labelstudio.scores import queue_scores
from labelloop.loop.plan_choices import CHOICES
from labelloop.loop.plan_dataset import QueueAim, aim_queue
from labelloop.loop.plan_spans import SPAN_LEARNER
from labelloop.loop.plan_types import (
    JsonDict,
    Learned,
    Learner,
    PlannedPrediction,
    QueuedTask,
    RetrainInputs,
    RetrainPlan,
)
from labelloop.loop.queue import draw_audit, plan_queue
from labelloop.quality.stopping import machine_label_record, stop_set_record

LEARNERS: Mapping[TaskType, Learner] = {"text_classification": CHOICES,
                                         "text_spans": SPAN_LEARNER}


def learner_of(inputs: RetrainInputs) -> Learner:
    task_type = inputs.schema.task_type
    if task_type is None or task_type not in LEARNERS:
        raise ValueError(f"no learner for task type {task_type!r}")
    return LEARNERS[task_type]


def plan_retrain(inputs: RetrainInputs, *, learner: Learner | None = None) -> RetrainPlan:
    """Everything the retrain decides (see the module docstring). ``learner``: the task type's
    by default."""
    data, o = inputs.data, inputs.options
    rng = np.random.default_rng(list(inputs.seed))
    labeled = np.flatnonzero(data.labeled & data.has_text)
    learned = (learner or learner_of(inputs)).learn(inputs, labeled=labeled, rng=rng)
    ranking = learned.ranking
    pool = data.pool
    audit = draw_audit(pool, np.asarray(inputs.audit, dtype=np.int64),
                       fraction=o.audit_fraction, rng=rng)
    aim = aim_queue(inputs, learned, audit, rng=rng)
    qplan = plan_queue(aim.order, aim.batch, audit, phase=ranking.phase,
                       disagree=learned.disagree, fraction=o.audit_fraction,
                       batch_reason=aim.batch_reason, accepted=aim.accepted)
    prelabel = _resolver(inputs, learned)
    head = qplan.order[:o.publish_head_size] if o.publish_head_size else qplan.order
    prelabels: dict[int, Prelabel] = {}
    for i in head.tolist():
        got = prelabel(i)
        if got is not None:
            prelabels[int(data.task_ids[i])] = got
    confidence: dict[int, float | None] = {}
    for i in np.flatnonzero(data.has_text).tolist():
        tid = int(data.task_ids[i])
        got = prelabels[tid] if tid in prelabels else prelabel(i)
        confidence[tid] = got.score if got is not None else None
    lineage: JsonDict = {
        "kind": "retrain", "task_type": inputs.schema.task_type,
        "n_labeled": int(labeled.size), "n_tasks": len(data.task_ids),
        "consensus_ties": data.ties, **learned.lineage,
        "strategy": ranking.phase if ranking.phase == "cold_start" else
        aim.batch_reason or ranking.strategy, **aim.lineage,
        "n_ranked": int(qplan.order.size), "audit": int(qplan.audit.sum()),
        "second_opinion": 0, "notes": list(ranking.notes), "trained_at": inputs.now,
        # the stopping signal's inputs (quality/stopping.py): the model's labels of the stop set,
        # the expected wrong machine labels among the unlabelled tasks (from p_correct where the
        # task type has a dataset view, else from the pre-label's confidence)
        "stop_set": stop_set_record(data.task_ids, data.has_text,
                                    [m.label if m is not None else None
                                     for m in learned.model_labels]),
        "machine_labelled": machine_label_record(_p_right(inputs, aim, confidence)),
    }
    order = [(int(data.task_ids[i]), why, bool(aud))
             for i, why, aud in zip(qplan.order.tolist(), qplan.reasons, qplan.audit.tolist())]
    return RetrainPlan(learned, qplan, _scored(order, confidence), prelabels, confidence,
                       _predictions(inputs, learned), lineage)


def with_second_opinions(plan: RetrainPlan, reopened: Sequence[int]) -> RetrainPlan:
    """The plan with ``reopened`` (task ids waiting for a second annotation) at the head of the
    queue, reason ``second_opinion``, and the whole queue scored again."""
    if not reopened:
        return plan
    order = [(int(t), "second_opinion", False) for t in reopened] + [
        (q.task_id, q.reason, q.audit) for q in plan.queue]
    return dataclasses.replace(plan, queue=_scored(order, plan.confidence),
                               lineage={**plan.lineage, "second_opinion": len(reopened)})


def _scored(order: Sequence[tuple[int, str, bool]],
            confidence: Mapping[int, float | None]) -> list[QueuedTask]:
    """The published score of each queued task: the order, written as the pre-labels'
    confidence (labelstudio/scores.py)."""
    scores = queue_scores([confidence.get(tid) for tid, _, _ in order])
    return [QueuedTask(tid, why, aud, scores[r]) for r, (tid, why, aud) in enumerate(order)]


def _p_right(inputs: RetrainInputs, aim: QueueAim,
             confidence: Mapping[int, float | None]) -> list[float | None]:
    """The chance that the machine label of each task without a human label (skipped ones too)
    is right: ``p_correct`` where the dataset view gives one, else its pre-label's confidence."""
    ids, p = inputs.data.task_ids, aim.p_correct
    return [float(p[i]) if p is not None and np.isfinite(p[i]) else confidence.get(int(ids[i]))
            for i in inputs.data.unlabeled.tolist()]


def _resolver(inputs: RetrainInputs, learned: Learned) -> Callable[[int], Prelabel | None]:
    schema, texts = inputs.schema, inputs.data.texts

    def prelabel(i: int) -> Prelabel | None:
        return resolve_prelabel(schema, [inputs.llm_at(i), learned.model_at(i)], text=texts[i])

    return prelabel


def _predictions(inputs: RetrainInputs, learned: Learned) -> list[PlannedPrediction]:
    """The model's predictions of the tasks without a human label (``data.unlabeled``: the pool
    and the skipped tasks, whose dataset label is the machines'). A labeled task keeps the last
    one made before its label, which is what measuring the model against humans needs."""
    if learned.model is None or not learned.model_labels:
        return []
    data, schema = inputs.data, inputs.schema
    out: list[PlannedPrediction] = []
    for i in data.unlabeled.tolist():
        machine = learned.model_labels[i]
        got = to_prelabel(schema, machine, text=data.texts[i]) if machine is not None else None
        if got is not None:
            out.append(PlannedPrediction(int(data.task_ids[i]), got.result, got.score,
                                         dict(learned.prediction_extra.get(i, {}))))
    return out
