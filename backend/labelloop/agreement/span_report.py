"""The quality report of a span (NER) control: annotators among themselves, models vs humans.

:func:`span_control_report` turns a :class:`~labelloop.agreement.span_export.SpanControlData`
into plain JSON (undefined numbers are ``None``; a statistic without enough data is ``None`` with
the reason in ``notes``):

- ``pairwise_span_f1``: per pair of annotators (ids, ``a < b``) that annotated at least one task
  in common, ``{"a", "b", "n", "f1"}``: exact-match micro F1 (spans compared as ``(start, end,
  label)``) over the ``n`` tasks both annotated; a task both left empty counts in ``n`` and adds
  nothing to the pooled true/false positives and false negatives
  (:func:`~labelloop.agreement.spans.span_prf`). ``pairwise_span_f1_overlap``: the same with
  overlap matching (same label, any character in common, one-to-one);
- ``span_f1``: every pair's counts pooled, exact and overlap; ``per_label``: the same per label,
  with the label's token-level agreement (ticked or not per token);
- ``tokens``: the token view (:mod:`labelloop.agreement.span_tokens`): percent agreement,
  Krippendorff's alpha and Cohen's kappa per pair on one label per token (``"O"`` included);
- ``models``: per ``model_version``, span precision / recall / F1 against the human consensus
  (:func:`~labelloop.agreement.span_export.consensus_spans`), exact and overlap, per label.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, TypedDict, TypeVar

from labelloop.agreement.errors import InsufficientData
from labelloop.agreement.metrics import (
    krippendorff_alpha,
    pairwise_cohen_kappa,
    per_label_agreement,
    percent_agreement,
)
from labelloop.agreement.report import nan_to_none
from labelloop.agreement.span_export import SpanControlData
from labelloop.agreement.span_tokens import token_matrices
from labelloop.agreement.spans import (
    PRF,
    PRFDict,
    SpanMatch,
    item_counts,
    span_prf,
    span_prf_per_label,
)
from labelloop.labelconfig.spans import Span

T = TypeVar("T")
MATCHES: tuple[SpanMatch, ...] = ("exact", "overlap")


class PairSpanF1(TypedDict):
    a: Any  # annotator id
    b: Any
    n: int
    f1: float


class SpanModelReport(TypedDict):
    n: int  # tasks with both a prediction and a human consensus
    coverage: float  # share of the control's tasks this version predicted
    exact: PRFDict
    overlap: PRFDict
    per_label: dict[str, PRFDict]  # exact match


class _Pooled:
    """True/false positives and false negatives pooled over pairs and tasks, overall and per
    label."""

    def __init__(self) -> None:
        self.counts: dict[tuple[SpanMatch, str | None], list[int]] = {}
        self.n = 0

    def add(self, a: Collection[Span], b: Collection[Span], labels: Sequence[str]) -> None:
        self.n += 1
        for match in MATCHES:
            for label in (None, *labels):
                keep_a = a if label is None else {s for s in a if s.label == label}
                keep_b = b if label is None else {s for s in b if s.label == label}
                got = item_counts(keep_a, keep_b, match=match)
                total = self.counts.setdefault((match, label), [0, 0, 0])
                for i in range(3):
                    total[i] += got[i]

    def prf(self, match: SpanMatch, label: str | None = None) -> PRF:
        tp, fp, fn = self.counts.get((match, label), [0, 0, 0])
        return PRF.from_counts(tp=tp, fp=fp, fn=fn, n=self.n)


def _pairs(control: SpanControlData, pooled: _Pooled) -> tuple[list[PairSpanF1], list[PairSpanF1]]:
    exact: list[PairSpanF1] = []
    overlap: list[PairSpanF1] = []
    n_annotators = len(control.annotators)
    for a in range(n_annotators):
        for b in range(a + 1, n_annotators):
            both = [row for row in control.annotations if a in row and b in row]
            if not both:
                continue
            pair = _Pooled()
            for row in both:
                pair.add(row[a], row[b], ())
                pooled.add(row[a], row[b], control.labels)
            ids = control.annotators[a], control.annotators[b]
            n = len(both)
            exact.append({"a": ids[0], "b": ids[1], "n": n, "f1": pair.prf("exact").f1})
            overlap.append({"a": ids[0], "b": ids[1], "n": n, "f1": pair.prf("overlap").f1})
    return exact, overlap


def _model(
    control: SpanControlData, predicted: Sequence[frozenset[Span] | None]
) -> SpanModelReport:
    rows = [r for r, p in enumerate(predicted) if p is not None]
    true = [control.consensus[r] for r in rows]
    pred = [predicted[r] or frozenset() for r in rows]
    per = span_prf_per_label(true, pred, labels=control.labels)
    return {
        "n": len(rows),
        "coverage": len(rows) / len(predicted) if predicted else 0.0,
        "exact": span_prf(true, pred).as_dict(),
        "overlap": span_prf(true, pred, match="overlap").as_dict(),
        "per_label": {label: prf.as_dict() for label, prf in per.items()},
    }


def span_control_report(control: SpanControlData) -> dict[str, Any]:
    """Everything above for one span control, JSON-able. Every pair of annotators with a task
    in common is reported (span F1 and token kappa alike)."""
    notes: list[str] = []

    def attempt(what: str, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except InsufficientData as exc:
            notes.append(f"{what}: {exc.message}")
            return None

    pooled = _Pooled()
    exact_pairs, overlap_pairs = _pairs(control, pooled)
    if not exact_pairs:
        notes.append("pairwise_span_f1: no two annotators annotated a task in common")
    labels = list(control.labels)
    n_annotators = len(control.annotators)
    matrix, unit_labels, binary = token_matrices(
        control.texts, control.annotations, n_annotators=n_annotators, span_labels=labels
    )
    k = len(unit_labels)
    token_pairs = attempt(
        "tokens.pairwise_cohen_kappa",
        lambda: pairwise_cohen_kappa(matrix, n_classes=k, min_overlap=1),
    )
    per_label_tokens = {
        row["label"]: row
        for row in attempt("tokens.per_label", lambda: per_label_agreement(binary)) or []
    }
    with_text = sum(text is not None for text in control.texts)
    unit = "token" if with_text == len(control.texts) else "character" if not with_text else "mixed"
    spans_per_label: dict[str, int] = dict.fromkeys(labels, 0)
    for row in control.annotations:
        for spans in row.values():
            for s in spans:
                spans_per_label[s.label] += 1
    per_label: dict[str, Any] = {}
    for i, label in enumerate(labels):
        tok = per_label_tokens.get(i)
        per_label[label] = {
            "n_spans": spans_per_label[label],
            "f1": pooled.prf("exact", label).f1 if pooled.n else None,
            "f1_overlap": pooled.prf("overlap", label).f1 if pooled.n else None,
            "token_krippendorff_alpha": tok["krippendorff_alpha"] if tok else None,
            "token_percent_agreement": tok["percent_agreement"] if tok else None,
        }
    models = {version: _model(control, pred) for version, pred in control.models.items()}
    for version, m in models.items():
        if not m["n"]:
            notes.append(f"model {version!r}: no task has both its prediction and annotations")
    report = {
        "control": control.name,
        "kind": "spans",
        "n_tasks": len(control.task_ids),
        "n_annotations": sum(len(row) for row in control.annotations),
        "annotators": list(control.annotators),
        "labels": labels,
        "label_counts": spans_per_label,
        "pairwise_span_f1": exact_pairs,
        "pairwise_span_f1_overlap": overlap_pairs,
        "span_f1": {
            "exact": pooled.prf("exact").f1 if pooled.n else None,
            "overlap": pooled.prf("overlap").f1 if pooled.n else None,
            "n_pairs_tasks": pooled.n,
        },
        "per_label": per_label,
        "tokens": {
            "unit": unit,
            "n_units": int(matrix.shape[0]),
            "labels": unit_labels,
            "percent_agreement": attempt(
                "tokens.percent_agreement", lambda: percent_agreement(matrix, n_classes=k)
            ),
            "krippendorff_alpha": attempt(
                "tokens.krippendorff_alpha", lambda: krippendorff_alpha(matrix, n_classes=k)
            ),
            "pairwise_cohen_kappa": [
                {
                    "a": control.annotators[p["a"]],
                    "b": control.annotators[p["b"]],
                    "n": p["n"],
                    "kappa": p["kappa"],
                }
                for p in token_pairs or []
            ],
        },
        "consensus": {"n_tasks": len(control.consensus), "ties": control.consensus_ties},
        "models": models,
        "notes": notes,
        "skipped": control.skipped,
    }
    return nan_to_none(report)
