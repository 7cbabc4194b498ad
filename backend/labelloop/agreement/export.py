"""Read a Label Studio JSON export into label matrices, one per ``Choices`` control.

Input: the parsed JSON of a Label Studio export (*Export → JSON*): a list of tasks, each with
``annotations`` (``completed_by`` is a user id or ``{"id": …}``; ``result`` is a list of regions;
``was_cancelled``) and ``predictions`` (``model_version``, ``result``, ``score``). Only regions of
``type == "choices"`` count; each control is keyed by the region's ``from_name``.

:func:`read_export` gives an :class:`ExportData`. Per control (:class:`ControlData`):

- rows are the tasks with at least one usable annotation for that control, in export order;
  columns are annotator ids, sorted;
- the vocabulary is every choice seen in annotations and predictions, sorted. When some annotation
  or prediction ticks several choices, the control is ``multiple``: ``matrix`` then holds one
  category per distinct *combination* (an exact-match view, labels like ``"A + B"``) and
  ``choice_matrices`` the per-choice binary matrices for
  :func:`~labelloop.agreement.metrics.per_label_agreement`;
- ``models`` holds, per ``model_version``, the predicted category per row (NaN when that version
  did not predict the task) and its score: the region's ``score`` (the confidence in the label it
  chose), else the prediction's ``score`` (which labelloop also uses to order the queue); NaN when
  neither is there.

Nothing malformed inside a task stops the read; it is skipped and counted in ``skipped`` (export-
wide reasons) or ``ControlData.skipped`` (per control): cancelled annotations, annotations without
annotator or without choices, tasks without any choices for the control, several choices regions
for one control in one annotation (per-region choices are not supported), duplicates (an
annotator's latest annotation is kept: ``updated_at``, else ``created_at``, then id, then place).
``consensus`` is each row's human label by the label layer's one rule
(:mod:`labelloop.labelconfig.consensus`: ground truth first, most votes, a tie to the latest
vote), which the models are scored against, as in training and the quality endpoint. A multiple-choice annotation that ticked nothing has no region in Label Studio, so it is
counted as "annotation without choices" too. The export itself being the wrong shape, or holding no
choices annotation at all, raises :class:`~labelloop.agreement.errors.MalformedExport`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labelloop.agreement.errors import MalformedExport
from labelloop.agreement.matrix import FloatArray, binary_matrices_from_records, matrix_from_records
from labelloop.labelconfig.consensus import Order, Vote, consensus

NO_VERSION = "(no model_version)"
Choice = tuple[str, ...]


@dataclass(frozen=True, eq=False)
class ModelPredictions:
    """One model version's predictions, aligned with the rows of a label matrix."""

    labels: FloatArray  # (n_items,) class indices, NaN = no prediction
    scores: FloatArray  # (n_items,) the region's score, else the prediction's; NaN = none


@dataclass(frozen=True, eq=False)
class ControlData:
    name: str
    task_ids: tuple[Hashable, ...]
    annotators: tuple[Hashable, ...]
    labels: tuple[str, ...]  # the categories of ``matrix``
    matrix: FloatArray  # (n_tasks, n_annotators)
    multiple: bool
    choices: tuple[str, ...]  # single choices; equal to ``labels`` when not multiple
    choice_matrices: FloatArray | None  # (n_choices, n_tasks, n_annotators) when multiple
    models: dict[str, ModelPredictions]
    skipped: dict[str, int]
    # per row, the category the one consensus rule gives (NaN: none); models are scored against it
    consensus: FloatArray | None = None
    consensus_ties: int = 0  # rows whose consensus rests on the most-recent tie-break


@dataclass(frozen=True, eq=False)
class ExportData:
    n_tasks: int
    controls: dict[str, ControlData]
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass
class _Collected:
    annotations: dict[tuple[int, Hashable], Choice] = field(default_factory=dict)
    # when each kept annotation was made (later = larger) and whether it is ground truth
    votes: dict[tuple[int, Hashable], tuple[Order, bool]] = field(default_factory=dict)
    predictions: dict[str, dict[int, tuple[Choice, float]]] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)


def annotator_id(completed_by: Any) -> Hashable | None:
    """An export's annotator: ``completed_by`` as an id, or ``{"id"}`` / ``{"email"}``."""
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("id", completed_by.get("email"))
    if isinstance(completed_by, bool) or not isinstance(completed_by, (int, str)):
        return None
    return completed_by


def _number(value: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok else float("nan")


def _choices_regions(result: list[Any], skipped: Counter[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for region in result:
        if not isinstance(region, dict) or region.get("type") != "choices":
            continue
        value = region.get("value")
        chosen = value.get("choices") if isinstance(value, dict) else None
        name = region.get("from_name")
        if not isinstance(name, str) or not isinstance(chosen, list):
            skipped["malformed_choices_region"] += 1
            continue
        found.setdefault(name, []).append(region)
    return found


def _choice_tuple(region: dict[str, Any]) -> Choice | None:
    chosen = region["value"]["choices"]
    if not chosen or not all(isinstance(c, str) for c in chosen):
        return None
    return tuple(sorted(set(chosen)))


def _add_annotations(
    pos: int, annotations: list[Any], controls: dict[str, _Collected], skipped: Counter[str]
) -> None:
    for i, ann in enumerate(annotations):
        if not isinstance(ann, dict):
            skipped["annotation_not_object"] += 1
            continue
        if ann.get("was_cancelled"):
            skipped["cancelled_annotation"] += 1
            continue
        annotator = annotator_id(ann.get("completed_by"))
        if annotator is None:
            skipped["annotation_without_annotator"] += 1
            continue
        result = ann.get("result")
        regions = _choices_regions(result, skipped) if isinstance(result, list) else {}
        if not regions:
            skipped["annotation_without_choices"] += 1
        for name, found in regions.items():
            got = controls.setdefault(name, _Collected())
            chosen = _choice_tuple(found[0]) if len(found) == 1 else None
            if chosen is None:
                got.skipped["several_regions" if len(found) > 1 else "empty_choices"] += 1
                continue
            key, order = (pos, annotator), _order(ann, i)
            if key in got.annotations:
                got.skipped["duplicate_annotation"] += 1
                if got.votes[key][0] > order:  # an annotator's latest annotation is their vote
                    continue
            got.annotations[key] = chosen
            got.votes[key] = (order, bool(ann.get("ground_truth")))


def _order(ann: dict[str, Any], i: int) -> Order:
    """When an annotation was made, as the consensus rule compares it: Label Studio's
    ``updated_at`` (else ``created_at``), its id, then its place in the task."""
    stamp = ann.get("updated_at") or ann.get("created_at")
    ann_id = ann.get("id")
    number = ann_id if isinstance(ann_id, int) and not isinstance(ann_id, bool) else 0
    return (stamp if isinstance(stamp, str) else "", number, i)


def _consensus(got: _Collected, rows: list[int],
               category: dict[Choice, int]) -> tuple[FloatArray, int]:
    """Per row, the category of the one consensus rule (:mod:`labelloop.labelconfig.consensus`)
    over the annotators' kept votes; and how many rows a tie-break decided."""
    votes: dict[int, list[Vote[Choice]]] = {}
    for (pos, annotator), chosen in got.annotations.items():
        order, truth = got.votes[(pos, annotator)]
        votes.setdefault(pos, []).append(Vote(chosen, None, truth, order))
    out = np.full(len(rows), np.nan)
    ties = 0
    for r, pos in enumerate(rows):
        decided = consensus(votes.get(pos, []))
        if decided is not None:
            out[r] = category[decided.label]
            ties += decided.tie
    return out, ties


def _add_predictions(
    pos: int, predictions: list[Any], controls: dict[str, _Collected], skipped: Counter[str]
) -> None:
    for pred in predictions:
        if isinstance(pred, int) and not isinstance(pred, bool):
            # Label Studio's quick export (the Export button) lists prediction ids only
            skipped["prediction_id_only"] += 1
            continue
        if not isinstance(pred, dict) or not isinstance(pred.get("result"), list):
            skipped["prediction_malformed"] += 1
            continue
        version = str(pred.get("model_version") or NO_VERSION)
        for name, found in _choices_regions(pred["result"], skipped).items():
            got = controls.setdefault(name, _Collected())
            chosen = _choice_tuple(found[0]) if len(found) == 1 else None
            if chosen is None:
                got.skipped["prediction_without_usable_choices"] += 1
                continue
            score = _number(found[0].get("score"))  # the chosen label's own confidence
            if np.isnan(score):
                score = _number(pred.get("score"))
            per_task = got.predictions.setdefault(version, {})
            if pos in per_task:
                got.skipped["duplicate_prediction"] += 1
            per_task[pos] = (chosen, score)


def _collect(tasks: list[Any]) -> tuple[dict[str, _Collected], Counter[str], list[Hashable]]:
    skipped: Counter[str] = Counter()
    controls: dict[str, _Collected] = {}
    task_ids: list[Hashable] = []
    for pos, task in enumerate(tasks):
        if not isinstance(task, dict):
            skipped["task_not_object"] += 1
            task_ids.append(pos)
            continue
        task_id = task.get("id", pos)
        task_ids.append(task_id if isinstance(task_id, (int, str)) else pos)
        annotations = task.get("annotations") or []
        predictions = task.get("predictions") or []
        if not isinstance(annotations, list) or not isinstance(predictions, list):
            skipped["task_malformed"] += 1
            continue
        _add_annotations(pos, annotations, controls, skipped)
        _add_predictions(pos, predictions, controls, skipped)
    return controls, skipped, task_ids


def _sorted_ids(ids: set[Hashable]) -> list[Hashable]:
    try:
        return sorted(ids)  # type: ignore[type-var]
    except TypeError:
        return sorted(ids, key=lambda a: (type(a).__name__, str(a)))


def _control(name: str, got: _Collected, n_tasks: int, task_ids: list[Hashable]) -> ControlData:
    rows = sorted({pos for pos, _ in got.annotations})
    annotators = _sorted_ids({a for _, a in got.annotations})
    seen = set(got.annotations.values())
    for per_task in got.predictions.values():
        seen.update(chosen for chosen, _ in per_task.values())
    choices = sorted({c for combo in seen for c in combo})
    multiple = any(len(combo) != 1 for combo in seen)
    order = {c: i for i, c in enumerate(choices)}
    combos = sorted(seen, key=lambda combo: [order[c] for c in combo])
    labels = [" + ".join(combo) for combo in combos]
    category = {combo: i for i, combo in enumerate(combos)}
    records = [(pos, a, category[chosen]) for (pos, a), chosen in got.annotations.items()]
    lm = matrix_from_records(
        records, labels=list(range(len(combos))), items=rows, annotators=annotators
    )
    binary = None
    if multiple:
        binary = binary_matrices_from_records(
            [(pos, a, chosen) for (pos, a), chosen in got.annotations.items()],
            labels=choices,
            items=rows,
            annotators=annotators,
        ).matrix
    row_of = {pos: r for r, pos in enumerate(rows)}
    models: dict[str, ModelPredictions] = {}
    skipped = Counter(got.skipped)
    skipped["tasks_without_choices"] = n_tasks - len(rows)
    for version in sorted(got.predictions):
        pred = np.full(len(rows), np.nan)
        scores = np.full(len(rows), np.nan)
        for pos, (chosen, score) in got.predictions[version].items():
            if pos not in row_of:
                skipped["prediction_on_task_without_annotations"] += 1
                continue
            pred[row_of[pos]] = category[chosen]
            scores[row_of[pos]] = score
        models[version] = ModelPredictions(labels=pred, scores=scores)
    agreed, ties = _consensus(got, rows, category)
    return ControlData(
        name=name,
        task_ids=tuple(task_ids[pos] for pos in rows),
        annotators=tuple(annotators),
        labels=tuple(labels),
        matrix=lm.matrix,
        multiple=multiple,
        choices=tuple(choices),
        choice_matrices=binary,
        models=models,
        skipped={reason: n for reason, n in sorted(skipped.items()) if n},
        consensus=agreed,
        consensus_ties=ties,
    )


def read_export(tasks: Any) -> ExportData:
    """Parse a Label Studio JSON export (already ``json.load``-ed) into per-control matrices."""
    if isinstance(tasks, dict) and isinstance(tasks.get("annotations"), list):
        tasks = [tasks]  # a single task
    if not isinstance(tasks, list):
        raise MalformedExport(
            f"a Label Studio JSON export is a list of tasks; got a JSON {type(tasks).__name__}"
        )
    collected, skipped, task_ids = _collect(tasks)
    controls = {
        name: _control(name, got, len(tasks), task_ids)
        for name, got in sorted(collected.items())
        if got.annotations
    }
    if not controls:
        raise MalformedExport(
            f"the export's {len(tasks)} tasks hold no usable choices annotation "
            f"(skipped: {dict(skipped) or 'nothing'})"
        )
    return ExportData(n_tasks=len(tasks), controls=controls, skipped=dict(sorted(skipped.items())))
