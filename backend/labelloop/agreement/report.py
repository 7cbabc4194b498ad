"""One JSON-able quality report for a labelled control: humans among themselves, models vs humans.

:func:`quality_report` runs every statistic of :mod:`labelloop.agreement` on a label matrix and
returns plain dicts, lists, strings, ints and floats — undefined numbers become ``None`` (not NaN,
which is not JSON), and a statistic that needs more data than there is appears as ``None`` with the
reason in ``notes``. :func:`control_report` does the same for a control read from a Label Studio
export (:mod:`labelloop.agreement.export`) and adds what the reader skipped.

Models are scored against the human *consensus*: the majority label of each task
(:func:`~labelloop.agreement.consensus.majority_vote`, ties = no consensus, so tied tasks are left
out; a task with one annotation counts, its label being its own majority). A model's scores
(:class:`~labelloop.agreement.export.ModelPredictions`) are read as its confidence in the label it
chose: the calibration block is there only when they lie in [0, 1]. Whether that reading is right
depends on who wrote the predictions (a queue-priority score is not a confidence).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, TypedDict

import numpy as np
from numpy.typing import ArrayLike

from labelloop.agreement.calibration import (
    ReliabilityBin,
    expected_calibration_error,
    reliability_curve,
)
from labelloop.agreement.consensus import majority_vote
from labelloop.agreement.errors import InsufficientData
from labelloop.agreement.export import ControlData, ModelPredictions
from labelloop.agreement.matrix import FloatArray, check_label_matrix, class_counts
from labelloop.agreement.metrics import (
    annotator_vs_consensus,
    fleiss_kappa,
    krippendorff_alpha,
    modal_rater_count,
    pairwise_cohen_kappa,
    per_label_agreement,
    percent_agreement,
)
from labelloop.agreement.reference import ClassScores, compare_to_reference
from labelloop.errors import InvalidInput


class CalibrationReport(TypedDict):
    n: int
    ece: float
    bins: list[ReliabilityBin]


class ModelReport(TypedDict):
    n: int  # tasks with both a prediction and a human consensus
    coverage: float  # share of the report's tasks this version predicted
    accuracy: float | None
    kappa: float | None
    per_class: dict[str, ClassScores]
    confusion: list[list[int]]
    calibration: CalibrationReport | None


class QualityReport(TypedDict):
    n_tasks: int
    n_annotations: int
    labels: list[str]
    annotators: list[Hashable]
    annotations_per_task: dict[str, int]
    label_counts: dict[str, int]
    percent_agreement: float | None
    fleiss_kappa: float | None
    fleiss_subset: dict[str, int] | None  # {"n_tasks", "n_raters"} Fleiss' kappa was computed on
    krippendorff_alpha: float | None
    pairwise_cohen_kappa: list[dict[str, Any]]  # {"a", "b"} annotator ids, "n", "kappa"
    per_annotator: list[dict[str, Any]]  # agreement with the majority of the others
    consensus: dict[str, int]  # {"n_tasks" with a majority, "ties"}
    per_label: list[dict[str, Any]] | None  # multiple choice only
    models: dict[str, ModelReport]
    notes: list[str]


def nan_to_none(value: Any) -> Any:
    if isinstance(value, float):
        return None if np.isnan(value) else value
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_to_none(v) for v in value]
    return value


def _model_report(
    model: ModelPredictions, consensus: FloatArray, labels: Sequence[str], n_bins: int
) -> tuple[ModelReport, list[str]]:
    notes: list[str] = []
    coverage = float(np.mean(~np.isnan(model.labels))) if model.labels.size else 0.0
    try:
        cmp = compare_to_reference(model.labels, consensus, labels)
    except InsufficientData:
        empty: ModelReport = {
            "n": 0,
            "coverage": coverage,
            "accuracy": None,
            "kappa": None,
            "per_class": {},
            "confusion": [],
            "calibration": None,
        }
        return empty, ["no task has both its prediction and a human consensus"]
    both = ~np.isnan(model.labels) & ~np.isnan(consensus)
    conf = model.scores[both]
    hit = model.labels[both] == consensus[both]
    has = ~np.isnan(conf)
    calibration: CalibrationReport | None = None
    if np.any(has) and np.all((conf[has] >= 0) & (conf[has] <= 1)):
        calibration = {
            "n": int(has.sum()),
            "ece": expected_calibration_error(conf[has], hit[has], n_bins=n_bins),
            "bins": reliability_curve(conf[has], hit[has], n_bins=n_bins),
        }
    elif np.any(has):
        notes.append("scores outside [0, 1] are not confidences: no calibration")
    report: ModelReport = {
        "n": cmp["n"],
        "coverage": coverage,
        "accuracy": cmp["accuracy"],
        "kappa": cmp["kappa"],
        "per_class": cmp["per_class"],
        "confusion": cmp["confusion"],
        "calibration": calibration,
    }
    return report, notes


def quality_report(
    matrix: ArrayLike,
    *,
    labels: Sequence[str],
    annotators: Sequence[Hashable] | None = None,
    models: Mapping[str, ModelPredictions] | None = None,
    choice_matrices: ArrayLike | None = None,
    choices: Sequence[str] | None = None,
    min_overlap: int = 2,
    n_bins: int = 10,
    consensus: ArrayLike | None = None,
) -> QualityReport:
    """Agreement, per-annotator and per-model statistics of a label matrix, JSON-able.

    ``labels`` names the classes of ``matrix``; ``annotators`` its columns (default: positions).
    ``models`` maps a model version to its predictions on the same rows. ``choice_matrices``
    (with ``choices`` naming its first axis) adds per-label agreement for multiple choice.
    ``consensus`` (class per row, NaN = none) is what models are scored against when the caller
    has the records' consensus (labelloop's quality service: the one rule of
    :mod:`labelloop.labelconfig.consensus`); default: the matrix majority, ties left out. The
    ``consensus`` block counts the matrix majority either way.
    """
    arr, k = check_label_matrix(matrix, n_classes=max(len(labels), 1))
    ids: list[Hashable] = list(range(arr.shape[1])) if annotators is None else list(annotators)
    if len(ids) != arr.shape[1]:
        raise InvalidInput(f"{len(ids)} annotator ids for {arr.shape[1]} matrix columns")
    counts = class_counts(arr, k)
    per_task = np.bincount(counts.sum(axis=1))
    notes: list[str] = []

    def attempt(what: str, fn: Any) -> Any:
        try:
            return fn()
        except InsufficientData as exc:
            notes.append(f"{what}: {exc.message}")
            return None

    fleiss = attempt("fleiss_kappa", lambda: fleiss_kappa(arr, n_classes=k))
    n_raters = modal_rater_count(arr) if fleiss is not None else None
    pairs = attempt(
        "pairwise_cohen_kappa",
        lambda: pairwise_cohen_kappa(arr, n_classes=k, min_overlap=min_overlap),
    )
    per_annotator = attempt("per_annotator", lambda: annotator_vs_consensus(arr, n_classes=k))
    per_label = None
    if choice_matrices is not None:
        rows = attempt("per_label", lambda: per_label_agreement(choice_matrices)) or []
        names: list[Any] = list(choices) if choices is not None else list(range(len(rows)))
        per_label = [{**r, "label": names[r["label"]]} for r in rows]
    majority = majority_vote(arr, n_classes=k, ties="missing")
    reference = majority if consensus is None else np.asarray(consensus, dtype=np.float64)
    if reference.shape != (arr.shape[0],):
        raise InvalidInput(f"consensus has shape {reference.shape}; expected ({arr.shape[0]},)")
    model_reports: dict[str, ModelReport] = {}
    for version, model in (models or {}).items():
        model_reports[version], model_notes = _model_report(model, reference, labels, n_bins)
        notes.extend(f"model {version!r}: {note}" for note in model_notes)
    agreement = attempt("percent_agreement", lambda: percent_agreement(arr, n_classes=k))
    alpha = attempt("krippendorff_alpha", lambda: krippendorff_alpha(arr, n_classes=k))
    n_labels = counts.sum(axis=1)
    report: QualityReport = {
        "n_tasks": int(arr.shape[0]),
        "n_annotations": int(counts.sum()),
        "labels": [str(label) for label in labels],
        "annotators": ids,
        "annotations_per_task": {str(n): int(c) for n, c in enumerate(per_task) if c},
        "label_counts": {str(labels[c]): int(n) for c, n in enumerate(counts.sum(axis=0))},
        "percent_agreement": agreement,
        "fleiss_kappa": fleiss,
        "fleiss_subset": None
        if n_raters is None
        else {"n_tasks": int(np.sum(n_labels == n_raters)), "n_raters": n_raters},
        "krippendorff_alpha": alpha,
        "pairwise_cohen_kappa": [
            {"a": ids[p["a"]], "b": ids[p["b"]], "n": p["n"], "kappa": p["kappa"]}
            for p in pairs or []
        ],
        "per_annotator": [{**r, "annotator": ids[r["annotator"]]} for r in per_annotator or []],
        "consensus": {
            "n_tasks": int(np.sum(~np.isnan(majority))),
            "ties": int(np.sum((n_labels > 0) & np.isnan(majority))),
        },
        "per_label": per_label,
        "models": model_reports,
        "notes": notes,
    }
    return nan_to_none(report)


def control_report(
    control: ControlData, *, min_overlap: int = 2, n_bins: int = 10
) -> dict[str, Any]:
    """:func:`quality_report` for a control read from an export, with its name and skip counts."""
    report = quality_report(
        control.matrix,
        labels=control.labels,
        annotators=control.annotators,
        models=control.models,
        choice_matrices=control.choice_matrices,
        choices=control.choices,
        min_overlap=min_overlap,
        n_bins=n_bins,
        consensus=control.consensus,
    )
    return {
        "control": control.name,
        "multiple": control.multiple,
        **report,
        "skipped": control.skipped,
    }
