"""The retrain plan's dataset side: what the queue aims at, and audited auto-accept (pure).

A task type's *dataset view* (:data:`VIEWS`) gives, for every position, the machines' label made
without that task's human label and its ``p_correct``. Single-choice classification has one
(:func:`class_view`): :func:`labelloop.quality.dataset_labels.machine_labels` on the same
:class:`~labelloop.quality.dataset_labels.ClassArrays` the export builds, from what the retrain
read: the human consensus of labelled tasks, the audit draws (earlier ones and this plan's), the
LLM's labels and distributions, and the local model's probabilities (this retrain's for the
tasks without a human label, skipped ones included, the previous retrain's, made before the
label, for the labelled ones: what the export finds stored once the retrain is saved). Multiple choice and span projects
have none yet: their queue aims at the model and nothing is accepted, and the lineage says why.

:func:`aim_queue` then

1. applies auto-accept (:func:`labelloop.quality.dataset_accept.accept_labels`, target
   ``LABELLOOP_ACCEPT_PRECISION``): accepted pool tasks move to the end of the ranked order
   (reason ``accepted``) or leave it (``LABELLOOP_ACCEPT_QUEUE=drop``); audit draws stay where the
   audit puts them, accepted or not, so the accepted set's precision keeps being measured;
2. chooses the objective (:func:`labelloop.selection.dataset.choose_objective` with the learning
   curve's slope and the expected errors of the batch error removal would serve); with
   ``dataset`` the order is :func:`~labelloop.selection.dataset.rank_for_errors` (reason
   ``error_removal`` for its batch), except during the cold start, whose seed set stays first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from labelloop.labelconfig.schema import TaskType
from labelloop.loop.plan_types import JsonDict, Learned, RetrainInputs
from labelloop.quality.dataset_accept import LABELS_SEED, Accepted, accept_labels
from labelloop.quality.dataset_labels import ClassArrays, ClassLabels, machine_labels
from labelloop.selection.dataset import choose_objective, expected_errors, rank_for_errors

NO_VIEW = {"text_spans": "span projects have no calibrated p_correct per task yet",
           "multiple": "multiple-choice projects have no calibrated p_correct per task yet"}


@dataclass(frozen=True, eq=False)
class DatasetView:
    """Per position: the machines' class (-1: none) and ``p_correct`` (NaN: none), humans
    aside; ``arrays`` what they were computed from."""

    arrays: ClassArrays
    labels: ClassLabels


DatasetViewFn = Callable[[RetrainInputs, Learned, np.ndarray], "DatasetView | str"]


def class_arrays(inputs: RetrainInputs, learned: Learned, audit: np.ndarray) -> ClassArrays:
    """A single-choice project's :class:`ClassArrays` from what the retrain read; ``audit``:
    positions drawn for the audit (earlier draws and this plan's)."""
    schema, data = inputs.schema, inputs.data
    n, k = len(data.task_ids), len(schema.labels)
    human = data.label_index()
    llm, llm_conf = np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
    for i, lab in enumerate(inputs.llm):
        if lab is not None and len(lab.label) == 1 and lab.label[0] in schema.labels:
            llm[i] = schema.labels.index(str(lab.label[0]))
            llm_conf[i] = np.nan if lab.score is None else float(lab.score)
    llm_p = inputs.llm_probas if inputs.llm_probas is not None else np.full((n, k), np.nan)
    model_p = np.full((n, k), np.nan)
    if learned.probas is not None:  # stored with this retrain's predictions
        model_p[data.unlabeled] = learned.probas[data.unlabeled]
    if inputs.previous_probas is not None:  # made before the label: what the export finds
        model_p[data.labeled] = inputs.previous_probas[data.labeled]
    answered = ~np.isnan(model_p).any(axis=1)
    model = np.where(answered, np.argmax(np.nan_to_num(model_p), axis=1), -1).astype(np.int64)
    model_conf = np.where(answered, np.max(np.nan_to_num(model_p), axis=1), np.nan)
    in_audit = np.zeros(n, dtype=np.bool_)
    in_audit[np.asarray(audit, dtype=np.int64)] = True
    ones = (human >= 0).astype(np.int64)
    return ClassArrays(
        task_ids=np.asarray(data.task_ids, dtype=np.int64), classes=tuple((c,) for c in
                                                                          schema.labels),
        multiple=False, human=human, voters=ones, n_annotations=ones, audit=in_audit,
        llm=llm, llm_conf=llm_conf, llm_probas=np.asarray(llm_p, dtype=np.float64),
        model=model, model_conf=model_conf, model_probas=model_p)


def class_view(inputs: RetrainInputs, learned: Learned, audit: np.ndarray) -> DatasetView | str:
    """Single choice: the machines' labels as the export computes them; multiple choice: why
    not."""
    if inputs.schema.multiple:
        return NO_VIEW["multiple"]
    a = class_arrays(inputs, learned, audit)
    return DatasetView(a, machine_labels(a, rng=np.random.default_rng(LABELS_SEED)))


VIEWS: Mapping[TaskType, DatasetViewFn] = {"text_classification": class_view}


def dataset_view(inputs: RetrainInputs, learned: Learned,
                 audit: np.ndarray) -> DatasetView | str:
    """The task type's dataset view, or in words why it has none."""
    task_type = inputs.schema.task_type
    view = VIEWS.get(task_type) if task_type else None
    if view is None:
        return NO_VIEW.get(str(task_type), f"{task_type} projects have no dataset view yet")
    return view(inputs, learned, audit)


@dataclass(frozen=True, eq=False)
class QueueAim:
    """The ranked pool after the objective and auto-accept: ``order`` (audit draws still in it),
    its ``batch``, the batch's reason (None: the learner's), ``accepted`` positions (moved to
    the end or dropped), ``p_correct`` of every position (None: no view) and the lineage's
    ``objective`` and ``accept``."""

    order: np.ndarray
    batch: np.ndarray
    batch_reason: str | None
    accepted: np.ndarray
    p_correct: np.ndarray | None
    lineage: JsonDict


def _accepted(view: DatasetView, inputs: RetrainInputs) -> tuple[Accepted, JsonDict]:
    o = inputs.options
    got = accept_labels(view.arrays, view.labels, target=o.accept_precision)
    if got.rule is None:
        return got, {"enabled": False, "reason": got.why, "accepted": 0}
    return got, {**got.rule.to_json(), "enabled": o.accept_precision is not None,
                 "queue": o.accept_queue, "accepted": 0,
                 "class_names": [" + ".join(c) for c in view.arrays.classes]}


def _model_decided(view: DatasetView, rows: np.ndarray) -> int:
    """How many of ``rows`` have a machine label that follows the local model (the LLM gave
    none, or the combination overrode it): the labels a better model would change, what
    ``choose_objective`` weighs the slope by."""
    a, machine = view.arrays, view.labels.machine[rows]
    follows = (machine >= 0) & (machine == a.model[rows]) & (machine != a.llm[rows])
    return int(follows.sum())


def aim_queue(inputs: RetrainInputs, learned: Learned, audit: np.ndarray, *,
              rng: np.random.Generator) -> QueueAim:
    """The learner's ranking turned to the objective, accepted tasks moved (module docstring).
    ``audit``: this plan's audit draws (positions); ``rng``: the plan's generator, used only when
    error removal ranks the pool."""
    o, ranking = inputs.options, learned.ranking
    order, batch = np.asarray(ranking.order, dtype=np.int64), ranking.batch
    drawn = np.union1d(np.asarray(inputs.audit, dtype=np.int64), audit)
    view = dataset_view(inputs, learned, drawn)
    if isinstance(view, str):
        objective: JsonDict = {"objective": "model", "setting": o.queue_objective,
                               "reason": f"{view}, so the queue aims at the model",
                               "model_gain": None, "error_gain": None, "applied": True}
        accept: JsonDict = {"enabled": False, "accepted": 0,
                            "reason": f"{view}, so nothing is auto-accepted"}
        return QueueAim(order, batch, None, np.zeros(0, np.int64), None,
                        {"objective": objective, "accept": accept})
    p = view.labels.p_correct
    got, accept = _accepted(view, inputs)
    taken = np.flatnonzero(got.mask)
    taken = taken[np.isin(taken, order) & ~np.isin(taken, audit)]
    keep = order[~np.isin(order, taken)]
    size = min(o.batch_size, max(1, keep.size))
    errors_first = (rank_for_errors(inputs.x, keep, p, batch_size=size, rng=rng)
                    if o.queue_objective != "model" and keep.size else
                    keep[np.argsort(-expected_errors(p[keep]), kind="stable")])
    head = errors_first[~np.isin(errors_first, audit)][:size]
    n_machine = _model_decided(view, keep)
    choice = choose_objective(o.queue_objective, slope=inputs.slope, n_machine=n_machine,
                              batch_errors=expected_errors(p[head]))
    cold = ranking.phase == "cold_start"
    use_errors = choice.objective == "dataset" and not cold
    objective = {**dataclasses.asdict(choice), "setting": o.queue_objective,
                 "applied": choice.objective == "model" or not cold}
    if choice.objective == "dataset" and cold:
        objective["reason"] = f"{choice.reason}; the cold-start seed set still comes first"
    ranked = errors_first if use_errors else keep
    moved = taken if o.accept_queue == "end" else taken[:0]
    accept |= {"accepted": int(taken.size), "accepted_in_audit": int((got.mask[audit]).sum())}
    return QueueAim(np.concatenate([ranked, moved]), head if use_errors else batch,
                    "error_removal" if use_errors else None, taken, p,
                    {"objective": objective, "accept": accept})
