"""The quality report of a span (NER) project: the project's records -> the span agreement report.

:func:`span_control_data` reads a :class:`~labelloop.quality.data.ProjectLabels` through the
label layer, the same way training does: every annotation is read against its task's text
(:func:`labelloop.labelconfig.kinds.read_label`; an annotation with a region off the text counts
as skipped, not half-read), one vote per annotator (their latest annotation), the human label is
the one consensus rule's (:mod:`labelloop.labelconfig.consensus`). The LLM's stored spans
(:func:`labelloop.llm.span_store.stored_spans`) and the local model's stored prediction are the
two machines, each checked against the text (a machine span the text does not hold is skipped and
counted, never scored).

:func:`span_quality` hands that to :func:`labelloop.agreement.span_report.span_control_report`:
pairwise span F1 between annotators (exact and overlap), per label, token-level Cohen's kappa and
Krippendorff's alpha, and the LLM's and the model's span precision / recall / F1 against the
human consensus, overall and per label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from labelloop.agreement.span_export import SpanControlData, SpanSet
from labelloop.agreement.span_report import span_control_report
from labelloop.errors import InvalidInput
from labelloop.labelconfig.consensus import Vote, annotation_votes, consensus
from labelloop.labelconfig.kinds import Label, Unusable, read_label
from labelloop.labelconfig.spans import Span, validate_spans
from labelloop.llm.span_store import stored_spans
from labelloop.quality.data import ProjectLabels
from labelloop.storage.records import Annotation

MACHINES = ("llm", "model")


def _spans(label: Label) -> SpanSet:
    return frozenset(s for s in label if isinstance(s, Span))


def latest_per_annotator(votes: Sequence[Vote[Label]]) -> dict[Hashable, SpanSet]:
    """Each annotator's latest span set (rule 2 of the consensus); anonymous votes have no
    column (they count in the consensus only)."""
    latest: dict[Hashable, Vote[Label]] = {}
    for v in votes:
        if v.annotator is None:
            continue
        if v.annotator not in latest or v.order > latest[v.annotator].order:
            latest[v.annotator] = v
    return {a: _spans(v.label) for a, v in latest.items()}


def _llm_spans(data: ProjectLabels, tid: int, text: str | None,
               skipped: Counter[str]) -> SpanSet | None:
    row = data.llm.get(tid)
    spans = stored_spans(row) if row is not None else None
    if spans is None:
        return None
    try:
        validate_spans(text or "", spans, labels=data.schema.labels)
    except InvalidInput:
        skipped["llm_invalid_span"] += 1
        return None
    return frozenset(spans)


def _model_spans(data: ProjectLabels, tid: int, text: str | None,
                 skipped: Counter[str]) -> SpanSet | None:
    pred = data.model.get(tid)
    if pred is None:
        return None
    label = read_label(data.schema, pred.result, text=text)
    if isinstance(label, Unusable):
        skipped[f"model_{label.reason}"] += 1
        return None
    return _spans(label)


def span_control_data(data: ProjectLabels) -> SpanControlData:
    """The project's span labels as the agreement report reads them (rows: the tasks with at
    least one usable human annotation, in task id order)."""
    schema = data.schema
    by_task: dict[int, list[Annotation]] = {}
    for a in data.annotations:
        by_task.setdefault(a.task_id, []).append(a)
    skipped: Counter[str] = Counter()
    rows: list[tuple[int, str | None, dict[Hashable, SpanSet], SpanSet]] = []
    ties = 0
    for tid in data.task_ids:
        text = data.texts.get(tid)
        tv = annotation_votes(schema, by_task.get(tid, ()), text=text)
        skipped.update(tv.skipped)
        decided = consensus(tv.votes)
        if decided is None:
            continue
        ties += decided.tie
        rows.append((tid, text, latest_per_annotator(tv.votes), _spans(decided.label)))
    annotators = sorted({a for _, _, per, _ in rows for a in per}, key=lambda a: (str(type(a)),
                                                                                    str(a)))
    column = {a: j for j, a in enumerate(annotators)}
    models: dict[str, tuple[SpanSet | None, ...]] = {
        "llm": tuple(_llm_spans(data, tid, text, skipped) for tid, text, _, _ in rows),
        "model": tuple(_model_spans(data, tid, text, skipped) for tid, text, _, _ in rows),
    }
    return SpanControlData(
        name=schema.from_name or "",
        task_ids=tuple(tid for tid, _, _, _ in rows),
        texts=tuple(text for _, text, _, _ in rows),
        annotators=tuple(annotators),
        annotations=tuple({column[a]: s for a, s in per.items()} for _, _, per, _ in rows),
        consensus=tuple(c for _, _, _, c in rows),
        consensus_ties=ties,
        labels=tuple(schema.labels),
        models=models,
        skipped={k: n for k, n in sorted(skipped.items()) if n},
    )


def _unscored(m: dict[str, Any]) -> dict[str, Any]:
    """A machine with no task to compare on has no figures (not the 1.0 of 'nothing vs
    nothing')."""
    if m.get("n"):
        return m
    empty = {"precision": None, "recall": None, "f1": None, "tp": 0, "fp": 0, "fn": 0, "n": 0}
    return {**m, "exact": empty, "overlap": empty,
            "per_label": dict.fromkeys(m.get("per_label", {}), empty)}


def span_quality(data: ProjectLabels, *, review_limit: int | None = None) -> dict[str, Any]:
    """The quality report of a span project (JSON-able; see the module docstring)."""
    control = span_control_data(data)
    report = span_control_report(control)
    models = {name: _unscored(m) for name, m in report.pop("models").items()}
    notes = [n.replace("model 'llm'", "llm").replace("model 'model'", "model")
             for n in report.pop("notes")]
    skipped = report.pop("skipped")
    consensus_info = report.pop("consensus")
    llm_scores = [row.confidence for row in data.llm.values()
                  if row.labels is not None and row.confidence is not None]
    llm_versions = sorted({row.model_version for row in data.llm.values()})
    model_versions = sorted({p.model_version for p in data.model.values()})
    return {
        "project": data.project_id,
        "task_type": "text_spans",
        "labels": list(data.schema.labels),
        "choices": [],
        "multiple": data.schema.multiple,
        "n_tasks": len(data.task_ids),
        "n_human_labelled": len(control.task_ids),
        "n_llm_labelled": sum(1 for row in data.llm.values() if row.labels is not None),
        "agreement": {**report, "measure": "span_f1"},
        "llm": {**models["llm"], "versions": llm_versions,
                "mean_confidence": float(np.mean(llm_scores)) if llm_scores else None},
        "model": {**models["model"], "versions": model_versions},
        "audit": None,
        "review": {"total": 0, "limit": review_limit, "items": []},
        "consensus": {"n_tasks": consensus_info["n_tasks"],
                      "tie_broken": consensus_info["ties"]},
        "skipped": skipped,
        "notes": notes,
    }
