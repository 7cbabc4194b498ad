"""Records to arrays: the label matrix and the LLM's and local model's labels on the same rows.

:func:`align` turns a :class:`~labelloop.quality.data.ProjectLabels` into an :class:`Aligned`:

- rows are the tasks with at least one usable human annotation (ascending task id); columns are
  annotator ids (ascending); ``matrix`` holds class indices, NaN = not labelled by that annotator
  (the :mod:`labelloop.agreement` convention);
- the classes (``categories``) are the config's labels, in config order. For a multiple-choice
  config a class is a *combination* of labels (``"A + B"``, exact-match view, as in
  :func:`labelloop.agreement.read_export`), and ``choice_matrices`` holds the per-label binary
  matrices for per-label agreement;
- ``first`` is the class of each row's first annotation (lowest annotation id), for the review
  list; ``llm`` and ``model`` are the LLM's and local model's labels on the rows with their
  confidence (the LLM label's ``confidence``; for the model, its region's ``score`` — a
  prediction's own ``score`` orders the queue and is not read as a confidence);
- ``unreviewed_llm`` is the LLM's class on every live task without a usable human annotation
  (the population the audit estimate extrapolates to).

Skipped, and counted in ``skipped``: cancelled annotations, annotations without annotator or
without a choice for the config's control, labels outside the config, a second annotation by the
same annotator on a task (the later one wins), LLM labels that failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from labelloop.agreement import ModelPredictions, binary_matrices_from_records
from labelloop.agreement.matrix import FloatArray
from labelloop.quality.data import ProjectLabels

Combo = tuple[str, ...]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Aligned:
    task_ids: tuple[int, ...]  # rows
    annotators: tuple[int, ...]  # columns
    categories: tuple[str, ...]  # class names of every array below
    multiple: bool
    matrix: FloatArray  # (n_rows, n_annotators)
    first: FloatArray  # (n_rows,) class of the first annotation
    first_annotator: tuple[int, ...]
    n_annotations: NDArray[np.int64]  # (n_rows,) usable annotations per row
    audit: BoolArray  # (n_rows,) drawn for the audit
    llm: ModelPredictions  # on the rows
    model: ModelPredictions  # on the rows
    model_versions: dict[str, int]  # local-model version -> rows it predicted
    unreviewed_llm: FloatArray  # LLM class of each live task without a usable annotation
    choices: tuple[str, ...]  # the config's labels
    choice_matrices: FloatArray | None  # (n_choices, n_rows, n_annotators), multiple choice only
    skipped: dict[str, int]


def chosen(result: Any, from_name: str | None) -> Combo | None:
    """The sorted labels a result picks in control ``from_name``; None when it picks none."""
    if not isinstance(result, list):
        return None
    found = None
    for r in result:
        if isinstance(r, dict) and r.get("from_name") == from_name and r.get("type") == "choices":
            if found is not None:
                return None  # several regions for one control: ambiguous
            found = r
    value = found.get("value") if found is not None else None
    picked = value.get("choices") if isinstance(value, dict) else None
    if not isinstance(picked, list) or not picked:
        return None
    if len(picked) == 1:  # the common case, without sorting
        return (picked[0],) if isinstance(picked[0], str) else None
    if not all(isinstance(c, str) for c in picked):
        return None
    return tuple(sorted(set(picked)))


def region_score(result: Any, from_name: str | None) -> float:
    """The ``score`` of a result's choices region for ``from_name`` (NaN when absent)."""
    for r in result if isinstance(result, list) else []:
        if isinstance(r, dict) and r.get("from_name") == from_name:
            s = r.get("score")
            if isinstance(s, (int, float)) and not isinstance(s, bool):
                return float(s)
    return float("nan")


def _name(combo: Combo) -> str:
    return " + ".join(combo)


def align(data: ProjectLabels) -> Aligned:
    """The arrays of :class:`Aligned` from one project's records (see the module docstring)."""
    schema = data.schema
    labels = schema.labels
    order = {label: i for i, label in enumerate(labels)}
    skipped: Counter[str] = Counter()

    checked: dict[tuple[Combo | None, str], tuple[Combo | None, str | None]] = {}

    def usable(combo: Combo | None, what: str) -> Combo | None:
        """``combo`` in config order, or None (counted in ``skipped``); memoised per combo."""
        key = (combo, what)
        if key not in checked:
            if combo is None:
                checked[key] = (None, f"{what}_without_choice")
            elif any(c not in order for c in combo):
                checked[key] = (None, f"{what}_label_not_in_config")
            elif not schema.multiple and len(combo) != 1:
                checked[key] = (None, f"{what}_several_choices_in_single_choice")
            else:
                checked[key] = (tuple(sorted(combo, key=order.__getitem__)), None)
        out, why = checked[key]
        if why is not None:
            skipped[why] += 1
        return out

    cells: dict[tuple[int, int], Combo] = {}
    first: dict[int, tuple[Combo, int]] = {}
    n_ann: Counter[int] = Counter()
    for a in data.annotations:  # ascending id: the first one seen is the first one made
        if a.was_cancelled:
            skipped["cancelled_annotation"] += 1
            continue
        if a.completed_by is None:
            skipped["annotation_without_annotator"] += 1
            continue
        combo = usable(chosen(a.result, schema.from_name), "annotation")
        if combo is None:
            continue
        if (a.task_id, a.completed_by) in cells:
            skipped["repeat_annotation_same_annotator"] += 1
        else:
            n_ann[a.task_id] += 1
        cells[(a.task_id, a.completed_by)] = combo
        first.setdefault(a.task_id, (combo, a.completed_by))

    rows = sorted(first)
    llm_combo: dict[int, Combo] = {}
    for tid, lab in data.llm.items():
        combo = usable(tuple(sorted(set(lab.labels))) if lab.labels and not lab.failure
                       else None, "llm")
        if combo is not None:
            llm_combo[tid] = combo
    model_combo: dict[int, Combo] = {}
    for tid, pred in data.model.items():
        combo = usable(chosen(pred.result, schema.from_name), "model_prediction")
        if combo is not None:
            model_combo[tid] = combo

    if schema.multiple:
        seen = set(cells.values()) | set(llm_combo.values()) | set(model_combo.values())
        combos = sorted(seen, key=lambda c: [order[x] for x in c])
    else:
        combos = [(label,) for label in labels]
    index = {c: i for i, c in enumerate(combos)}
    annotators = sorted({ann for _, ann in cells})
    col = {ann: j for j, ann in enumerate(annotators)}
    row = {tid: i for i, tid in enumerate(rows)}

    matrix = np.full((len(rows), len(annotators)), np.nan)
    for (tid, ann), combo in cells.items():
        matrix[row[tid], col[ann]] = index[combo]

    def on_rows(combo_of: dict[int, Combo], score_of: dict[int, float]) -> ModelPredictions:
        lab = np.full(len(rows), np.nan)
        score = np.full(len(rows), np.nan)
        for tid, combo in combo_of.items():
            if tid in row:
                lab[row[tid]] = index[combo]
                score[row[tid]] = score_of.get(tid, np.nan)
        return ModelPredictions(labels=lab, scores=score)

    llm_conf = {t: float(v.confidence) for t, v in data.llm.items() if v.confidence is not None}
    model_conf = {t: region_score(p.result, schema.from_name) for t, p in data.model.items()}
    versions = Counter(data.model[t].model_version for t in model_combo if t in row)
    unreviewed = [index[c] for t, c in sorted(llm_combo.items()) if t not in row]
    return Aligned(
        task_ids=tuple(rows),
        annotators=tuple(annotators),
        categories=tuple(_name(c) for c in combos),
        multiple=schema.multiple,
        matrix=matrix,
        first=np.array([index[first[t][0]] for t in rows], dtype=np.float64),
        first_annotator=tuple(first[t][1] for t in rows),
        n_annotations=np.array([n_ann[t] for t in rows], dtype=np.int64),
        audit=np.array([t in data.audit_ids for t in rows], dtype=np.bool_),
        llm=on_rows(llm_combo, llm_conf),
        model=on_rows(model_combo, model_conf),
        model_versions=dict(sorted(versions.items())),
        unreviewed_llm=np.array(unreviewed, dtype=np.float64),
        choices=tuple(labels),
        choice_matrices=_choice_matrices(cells, rows, annotators, labels)
        if schema.multiple else None,
        skipped=dict(sorted(skipped.items())),
    )


def _choice_matrices(cells: dict[tuple[int, int], Combo], rows: Sequence[int],
                     annotators: Sequence[int], labels: Sequence[str]) -> FloatArray | None:
    if not rows:
        return None
    records = [(tid, ann, combo) for (tid, ann), combo in cells.items()]
    return binary_matrices_from_records(records, labels=labels, items=rows,
                                        annotators=annotators).matrix
