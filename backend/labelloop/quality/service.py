"""The label-quality report of a project: storage -> arrays -> :func:`labelloop.agreement`.

:func:`project_quality` reads one consistent snapshot (:func:`~labelloop.quality.data.
read_project_labels`) and hands it to :func:`quality_from_labels`, which is pure. The answer is
plain JSON (undefined numbers are ``None``):

- ``agreement``: the annotators among themselves — percent agreement, Fleiss' kappa,
  Krippendorff's alpha, pairwise Cohen's kappa, each annotator vs the majority of the others,
  per-label agreement for multiple choice (:func:`labelloop.agreement.quality_report`);
- ``llm`` / ``model``: the LLM's and the local model's labels against the human consensus (the
  one rule, :mod:`labelloop.labelconfig.consensus`; ``consensus`` says on how many tasks, and
  how many rest on a tie-break) — accuracy, kappa, per-class precision/recall/F1, confusion matrix (rows = human, columns =
  machine), and the calibration of their confidences (reliability curve, ECE);
- ``audit``: the LLM's accuracy on the unreviewed tasks (:mod:`labelloop.quality.audit`);
- ``review``: tasks whose first human label disagrees with both machines
  (:mod:`labelloop.quality.review`).

A span (NER) project (``task_type == "text_spans"``) gets the span report instead
(:mod:`labelloop.quality.spans`): ``agreement`` holds pairwise span F1 between annotators (exact
and overlap), per label, and token-level Cohen's kappa and Krippendorff's alpha; ``llm`` and
``model`` their span precision / recall / F1 against the human consensus, overall and per label;
``audit`` is None and ``review`` empty (both are about single labels).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labelloop.agreement import quality_report
from labelloop.quality.align import Aligned, align
from labelloop.quality.audit import audit_estimate
from labelloop.quality.data import ProjectLabels, read_project_labels
from labelloop.quality.jsonable import jsonable
from labelloop.quality.review import review_items
from labelloop.quality.spans import span_quality
from labelloop.storage.base import Storage

DEFAULT_REVIEW_LIMIT = 50


def consensus_of(aligned: Aligned) -> np.ndarray:
    """The human consensus class per row: the one rule of :mod:`labelloop.labelconfig.consensus`
    (the label training uses; a tie goes to the tied label voted last), computed by
    :func:`~labelloop.quality.align.align` from the records (NaN: none)."""
    return aligned.consensus


def quality_from_labels(data: ProjectLabels, *, review_limit: int | None = DEFAULT_REVIEW_LIMIT,
                        n_bins: int = 10) -> dict[str, Any]:
    """The quality report of one project's records (pure; see the module docstring)."""
    if data.schema.task_type == "text_spans":
        return jsonable(span_quality(data, review_limit=review_limit))
    a = align(data)
    consensus = consensus_of(a)
    full = quality_report(
        a.matrix, labels=list(a.categories), annotators=list(a.annotators),
        models={"llm": a.llm, "model": a.model}, choice_matrices=a.choice_matrices,
        choices=list(a.choices) if a.multiple else None, n_bins=n_bins, consensus=consensus)
    models, notes = full["models"], full["notes"]
    report = {k: v for k, v in full.items() if k not in ("models", "notes")}
    total, items = review_items(a, consensus, limit=review_limit)
    llm_conf = a.llm.scores[~np.isnan(a.llm.scores)]
    return jsonable({
        "project": data.project_id,
        "task_type": data.schema.task_type,
        "labels": list(a.categories),
        "choices": list(a.choices),
        "multiple": a.multiple,
        "n_tasks": len(data.task_ids),
        "n_human_labelled": len(a.task_ids),
        "n_llm_labelled": int((~np.isnan(a.llm.labels)).sum()) + len(a.unreviewed_llm),
        "agreement": report,
        "llm": {**models["llm"], "mean_confidence": float(llm_conf.mean())
                if llm_conf.size else None},
        "model": {**models["model"], "versions": a.model_versions},
        "audit": audit_estimate(a, consensus, drawn=len(data.audit_ids)),
        "review": {"total": total, "limit": review_limit, "items": items},
        "consensus": {"n_tasks": int((~np.isnan(consensus)).sum()),
                      "tie_broken": int(a.consensus_tie.sum())},
        "skipped": a.skipped,
        "notes": [n.replace("model 'llm'", "llm").replace("model 'model'", "model")
                  for n in notes],
    })


def project_quality(storage: Storage, project_id: int, *,
                    review_limit: int | None = DEFAULT_REVIEW_LIMIT) -> dict[str, Any]:
    """Read a project's labels in one transaction and compute its quality report."""
    with storage.read() as tx:
        data = read_project_labels(tx, project_id)
    return quality_from_labels(data, review_limit=review_limit)
