"""Read the span (NER) controls of a Label Studio JSON export: one span set per task and annotator.

The span counterpart of :mod:`labelloop.agreement.export` (which reads ``Choices``). Regions of
``type == "labels"`` count, each control keyed by the region's ``from_name``; a region is a
:class:`~labelloop.labelconfig.spans.Span` per label in ``value.labels`` (``choice="multiple"``),
at ``value.start``..``value.end`` as the export stores them. Those offsets are compared as they
are (both sides of every comparison come from the same editor, so the unit does not matter for
span matching); the token view (:mod:`labelloop.agreement.span_tokens`) maps them onto the text.

Per control (:class:`SpanControlData`):

- every span control is seen by every usable annotation: an annotation with no region for it
  says "no entities here" (an empty set, a label like any other), as Label Studio stores it;
- rows are the tasks with at least one usable annotation, in export order; annotators sorted;
- ``consensus`` is the task's human span set by the label layer's rule: one vote per annotator
  (their most recent annotation, by ``updated_at``, ``created_at``, then id), ground-truth
  annotations alone when there are any, the most voted whole set wins, a tie goes to the tied
  set voted most recently (:func:`consensus_spans`);
- ``models`` maps each ``model_version`` to its span set per row (None: not predicted).

A region that cannot be read — not an object, offsets not integers or not ``0 <= start < end``,
no label, a label not a string, or (when the task's text is known) an ``end`` past the text or a
``value.text`` that is not the text there — is skipped and counted in ``skipped``; the rest of
its annotation still counts. Nothing in a task stops the read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labelloop.agreement.export import annotator_id
from labelloop.agreement.span_tokens import OffsetUnit, find_text, offset_unit, to_code_points
from labelloop.labelconfig.consensus import Vote, consensus
from labelloop.labelconfig.spans import Span

NO_VERSION = "(no model_version)"
SpanSet = frozenset[Span]
Order = tuple[str, int, int]  # (updated_at or created_at, annotation id, position): later = larger


@dataclass(frozen=True, eq=False)
class SpanControlData:
    name: str
    task_ids: tuple[Hashable, ...]
    texts: tuple[str | None, ...]  # the task's text when it could be found, per row
    annotators: tuple[Hashable, ...]
    annotations: tuple[Mapping[int, SpanSet], ...]  # per row: annotator column -> span set
    consensus: tuple[SpanSet, ...]  # per row
    consensus_ties: int  # rows whose consensus rests on the most-recent tie-break
    labels: tuple[str, ...]  # every label seen in annotations and predictions, sorted
    models: dict[str, tuple[SpanSet | None, ...]]  # version -> per row (None: no prediction)
    skipped: dict[str, int]


@dataclass
class _Collected:
    votes: dict[int, dict[Hashable, tuple[Order, bool, SpanSet]]] = field(default_factory=dict)
    predictions: dict[str, dict[int, SpanSet]] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _read_region(
    region: dict[str, Any], text: str | None, unit: OffsetUnit
) -> tuple[str, list[Span]] | str:
    """(control, spans in code points when the text is known) of a ``labels`` region, or the
    reason it is skipped."""
    value = region.get("value")
    name = region.get("from_name")
    if not isinstance(name, str) or not isinstance(value, dict):
        return "malformed_labels_region"
    start, end, labels = _int(value.get("start")), _int(value.get("end")), value.get("labels")
    if start is None or end is None or not 0 <= start < end:
        return "span_bad_offsets"
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        return "span_without_labels"
    if text is not None:
        said = value.get("text")
        where = to_code_points(
            text, start, end, unit=unit, said=said if isinstance(said, str) else None
        )
        if where is None:
            return "span_off_text"
        start, end = where
    return name, [Span(start, end, label) for label in labels]


def _span_sets(
    result: list[Any], text: str | None, unit: OffsetUnit, skipped: Counter[str]
) -> dict[str, SpanSet]:
    found: dict[str, set[Span]] = {}
    for region in result:
        if not isinstance(region, dict) or region.get("type") != "labels":
            continue
        got = _read_region(region, text, unit)
        if isinstance(got, str):
            skipped[got] += 1
            continue
        found.setdefault(got[0], set()).update(got[1])
    return {name: frozenset(spans) for name, spans in found.items()}


def _order(ann: Mapping[str, Any], pos: int) -> Order:
    stamp = ann.get("updated_at") or ann.get("created_at")
    return (stamp if isinstance(stamp, str) else "", _int(ann.get("id")) or 0, pos)


@dataclass(frozen=True)
class _Task:
    pos: int
    text: str | None
    annotations: list[Any]
    predictions: list[Any]


def _tasks(tasks: list[Any], skipped: Counter[str]) -> tuple[list[_Task], list[Any]]:
    """The usable tasks with their text, and every task's id (position when it has none)."""
    out: list[_Task] = []
    task_ids: list[Any] = []
    for pos, task in enumerate(tasks):
        task_id = task.get("id", pos) if isinstance(task, dict) else pos
        task_ids.append(task_id if isinstance(task_id, (int, str)) else pos)
        if not isinstance(task, dict):
            skipped["task_not_object"] += 1
            continue
        annotations, predictions = task.get("annotations") or [], task.get("predictions") or []
        if not isinstance(annotations, list) or not isinstance(predictions, list):
            skipped["task_malformed"] += 1
            continue
        results = [a.get("result") for a in annotations + predictions if isinstance(a, dict)]
        lists = [r for r in results if isinstance(r, list)]
        out.append(_Task(pos, find_text(task.get("data"), lists), annotations, predictions))
    return out, task_ids


def _regions(task: _Task) -> list[Any]:
    return [r for a in task.annotations + task.predictions if isinstance(a, dict)
            and isinstance(a.get("result"), list) for r in a["result"]]  # fmt: skip


def _usable(ann: Any, skipped: Counter[str]) -> tuple[Hashable, list[Any]] | None:
    """(annotator, result) of an annotation that votes, else None (the reason counted)."""
    if not isinstance(ann, dict):
        skipped["annotation_not_object"] += 1
        return None
    if ann.get("was_cancelled"):
        skipped["cancelled_annotation"] += 1
        return None
    annotator = annotator_id(ann.get("completed_by"))
    result = ann.get("result")
    if annotator is None:
        skipped["annotation_without_annotator"] += 1
        return None
    if not isinstance(result, list):
        skipped["annotation_without_result"] += 1
        return None
    return annotator, result


def _collect(tasks: list[_Task], unit: OffsetUnit, skipped: Counter[str]) -> dict[str, _Collected]:
    """Per control: each usable annotation's span set (regions by control) and predictions."""
    usable: list[tuple[int, Hashable, Order, bool, dict[str, SpanSet]]] = []
    preds: list[tuple[int, str, dict[str, SpanSet], bool]] = []
    for task in tasks:
        for i, ann in enumerate(task.annotations):
            got = _usable(ann, skipped)
            if got is None:
                continue
            sets = _span_sets(got[1], task.text, unit, skipped)
            order = _order(ann, i)
            usable.append((task.pos, got[0], order, bool(ann.get("ground_truth")), sets))
        for pred in task.predictions:
            if isinstance(pred, int) and not isinstance(pred, bool):
                skipped["prediction_id_only"] += 1  # Label Studio's quick export
            elif not isinstance(pred, dict) or not isinstance(pred.get("result"), list):
                skipped["prediction_malformed"] += 1
            else:
                version = str(pred.get("model_version") or NO_VERSION)
                result = pred["result"]
                sets = _span_sets(result, task.text, unit, skipped)
                # a prediction with no region predicts "no entities"; one with only other
                # controls' regions (Choices) predicts nothing about spans
                about_spans = not result or any(
                    isinstance(r, dict) and r.get("type") == "labels" for r in result
                )
                preds.append((task.pos, version, sets, about_spans))
    names = {n for *_, sets in usable for n in sets} | {n for _, _, sets, _ in preds for n in sets}
    controls = {name: _Collected() for name in sorted(names)}
    for name, control in controls.items():
        for pos, annotator, order, truth, sets in usable:
            votes = control.votes.setdefault(pos, {})
            if annotator in votes:
                control.skipped["duplicate_annotation"] += 1
                if votes[annotator][0] > order:
                    continue
            votes[annotator] = (order, truth, sets.get(name, frozenset()))
        for pos, version, sets, about_spans in preds:
            if not about_spans:
                continue
            per_task = control.predictions.setdefault(version, {})
            if pos in per_task:
                control.skipped["duplicate_prediction"] += 1
            per_task[pos] = sets.get(name, frozenset())
    return controls


def consensus_spans(votes: Sequence[tuple[Order, bool, SpanSet]]) -> tuple[SpanSet, bool] | None:
    """(the consensus span set, whether a tie was broken) of one task's votes, one per annotator.

    The label layer's rule (:mod:`labelloop.labelconfig.consensus`) on whole span sets: only
    ground-truth votes when there are any; most votes wins; a tie goes to the latest vote.
    """
    decided = consensus([Vote(spans, None, truth, order) for order, truth, spans in votes])
    return None if decided is None else (decided.label, decided.tie)


def _sorted_ids(ids: set[Hashable]) -> list[Hashable]:
    try:
        return sorted(ids)  # type: ignore[type-var]
    except TypeError:
        return sorted(ids, key=lambda a: (type(a).__name__, str(a)))


def _control(
    name: str, got: _Collected, n_tasks: int, task_ids: list[Any], texts: list[str | None]
) -> SpanControlData:
    rows = sorted(got.votes)
    annotators = _sorted_ids({a for votes in got.votes.values() for a in votes})
    column = {a: j for j, a in enumerate(annotators)}
    row_of = {pos: r for r, pos in enumerate(rows)}
    skipped = Counter(got.skipped)
    skipped["tasks_without_annotations"] = n_tasks - len(rows)
    consensus: list[SpanSet] = []
    ties = 0
    for pos in rows:
        decided = consensus_spans(list(got.votes[pos].values()))
        assert decided is not None  # every row has a vote
        consensus.append(decided[0])
        ties += decided[1]
    models: dict[str, tuple[SpanSet | None, ...]] = {}
    for version in sorted(got.predictions):
        per_row: list[SpanSet | None] = [None] * len(rows)
        for pos, spans in got.predictions[version].items():
            if pos not in row_of:
                skipped["prediction_on_task_without_annotations"] += 1
                continue
            per_row[row_of[pos]] = spans
        models[version] = tuple(per_row)
    seen = {
        s.label for votes in got.votes.values() for _, _, spans in votes.values() for s in spans
    }
    seen |= {s.label for per in got.predictions.values() for spans in per.values() for s in spans}
    return SpanControlData(
        name=name,
        task_ids=tuple(task_ids[pos] for pos in rows),
        texts=tuple(texts[pos] for pos in rows),
        annotators=tuple(annotators),
        annotations=tuple(
            {column[a]: spans for a, (_, _, spans) in got.votes[pos].items()} for pos in rows
        ),
        consensus=tuple(consensus),
        consensus_ties=ties,
        labels=tuple(sorted(seen)),
        models=models,
        skipped={reason: n for reason, n in sorted(skipped.items()) if n},
    )


@dataclass(frozen=True, eq=False)
class SpanExportData:
    n_tasks: int
    controls: dict[str, SpanControlData]
    offset_unit: OffsetUnit  # the unit the export's offsets were read in
    skipped: dict[str, int]


def read_span_export(tasks: list[Any]) -> SpanExportData:
    """Every span control of a parsed Label Studio export (none: an empty ``controls``)."""
    skipped: Counter[str] = Counter()
    usable, task_ids = _tasks(tasks, skipped)
    unit = offset_unit((t.text, _regions(t)) for t in usable if t.text is not None)
    collected = _collect(usable, unit, skipped)
    texts: list[str | None] = [None] * len(tasks)
    for t in usable:
        texts[t.pos] = t.text
    controls = {
        name: _control(name, got, len(tasks), task_ids, texts)
        for name, got in collected.items()
        if got.votes
    }
    return SpanExportData(len(tasks), controls, unit, dict(sorted(skipped.items())))
