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
  (the population the audit estimate extrapolates to);
- ``consensus`` is each row's human label by the one consensus rule
  (:mod:`labelloop.labelconfig.consensus`, the label training uses: each annotator's latest
  vote, ground truth first, plurality, a tie to the tied label voted last; an annotation without
  annotator has no column but votes), ``consensus_tie`` where it rests on a tie-break.

Every result is read through the label layer (:func:`labelloop.labelconfig.kinds.read_label`).
Skipped, and counted in ``skipped`` (``<what>_<the layer's reason>``, ``without_label`` named
``without_choice``): cancelled annotations, annotations without annotator or without a choice
for the config's control, labels outside the config, several choice regions, a second
annotation by the same annotator on a task (their latest by ``updated_at``, then id, fills the
cell), LLM labels that failed.
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
from labelloop.labelconfig.classification import choices_label, region_choices
from labelloop.labelconfig.consensus import Vote, annotation_vote, consensus
from labelloop.labelconfig.kinds import Label, Unusable, read_label
from labelloop.quality.data import ProjectLabels
from labelloop.storage.records import Annotation

Combo = tuple[str, ...]
BoolArray = NDArray[np.bool_]
SKIP_KEYS = {"without_label": "without_choice"}  # the layer's reason -> this report's key


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
    consensus: FloatArray  # (n_rows,) the one consensus rule's class (labelconfig.consensus)
    consensus_tie: BoolArray  # (n_rows,) ... resting on a tie-break (the latest tied vote)
    skipped: dict[str, int]


def chosen(result: Any, from_name: str | None) -> Combo | None:
    """The sorted labels a result picks in control ``from_name``, with no config to check them
    against (:func:`~labelloop.labelconfig.classification.region_choices`); None when it picks
    none or holds several regions for the control (ambiguous). The report itself reads through
    the config (:func:`~labelloop.labelconfig.kinds.read_label`)."""
    if not isinstance(result, list):
        return None
    found = [r for r in result if isinstance(r, dict) and r.get("from_name") == from_name
             and r.get("type") == "choices"]
    picked = region_choices(found[0]) if len(found) == 1 else None
    return None if picked is None or isinstance(picked, Unusable) else tuple(sorted(picked))


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


def _combo(label: Label) -> Combo:
    return tuple(str(c) for c in label)


def _vote(a: Annotation, combo: Combo) -> Vote[Combo]:
    vote = annotation_vote(a, combo)
    return Vote(combo, vote.annotator, vote.ground_truth, vote.order)


def _reason(what: str, why: Unusable) -> str:
    return f"{what}_{SKIP_KEYS.get(why.reason, why.reason)}"


def align(data: ProjectLabels) -> Aligned:
    """The arrays of :class:`Aligned` from one project's records (see the module docstring)."""
    schema = data.schema
    labels = schema.labels
    order = {label: i for i, label in enumerate(labels)}
    skipped: Counter[str] = Counter()

    def usable(label: Label | Unusable, what: str) -> Combo | None:
        if isinstance(label, Unusable):
            skipped[_reason(what, label)] += 1
            return None
        return _combo(label)

    cells: dict[tuple[int, int], Vote[Combo]] = {}
    first: dict[int, tuple[Combo, int]] = {}
    votes: dict[int, list[Vote[Combo]]] = {}
    for a in data.annotations:  # ascending id: the first one seen is the first one made
        if a.was_cancelled:
            skipped["cancelled_annotation"] += 1
            continue
        label = read_label(schema, a.result, text=None)
        if a.completed_by is None:  # no column, but a vote (the one consensus rule)
            skipped["annotation_without_annotator"] += 1
            if not isinstance(label, Unusable):
                votes.setdefault(a.task_id, []).append(_vote(a, _combo(label)))
            continue
        combo = usable(label, "annotation")
        if combo is None:
            continue
        vote = _vote(a, combo)
        votes.setdefault(a.task_id, []).append(vote)
        cell = (a.task_id, a.completed_by)
        if cell in cells:
            skipped["repeat_annotation_same_annotator"] += 1
        if cell not in cells or vote.order > cells[cell].order:  # the annotator's latest
            cells[cell] = vote
        first.setdefault(a.task_id, (combo, a.completed_by))

    rows = sorted(first)
    n_ann = Counter(tid for tid, _ in cells)
    agreed = {tid: consensus(votes[tid]) for tid in rows}
    llm_combo: dict[int, Combo] = {}
    for tid, lab in data.llm.items():
        combo = usable(choices_label(schema, lab.labels) if lab.labels and not lab.failure
                       else Unusable("without_label"), "llm")
        if combo is not None:
            llm_combo[tid] = combo
    model_combo: dict[int, Combo] = {}
    for tid, pred in data.model.items():
        combo = usable(read_label(schema, pred.result, text=None), "model_prediction")
        if combo is not None:
            model_combo[tid] = combo

    if schema.multiple:
        seen = {v.label for v in cells.values()} | set(llm_combo.values()) \
            | set(model_combo.values()) | {c.label for c in agreed.values() if c is not None}
        combos = sorted(seen, key=lambda c: [order[x] for x in c])
    else:
        combos = [(label,) for label in labels]
    index = {c: i for i, c in enumerate(combos)}
    annotators = sorted({ann for _, ann in cells})
    col = {ann: j for j, ann in enumerate(annotators)}
    row = {tid: i for i, tid in enumerate(rows)}

    matrix = np.full((len(rows), len(annotators)), np.nan)
    for (tid, ann), vote in cells.items():
        matrix[row[tid], col[ann]] = index[vote.label]

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
        consensus=np.array([np.nan if (c := agreed[t]) is None else index[c.label]
                            for t in rows], dtype=np.float64),
        consensus_tie=np.array([bool(c is not None and c.tie) for c in agreed.values()],
                               dtype=np.bool_),
        skipped=dict(sorted(skipped.items())),
    )


def _choice_matrices(cells: dict[tuple[int, int], Vote[Combo]], rows: Sequence[int],
                     annotators: Sequence[int], labels: Sequence[str]) -> FloatArray | None:
    if not rows:
        return None
    records = [(tid, ann, vote.label) for (tid, ann), vote in cells.items()]
    return binary_matrices_from_records(records, labels=labels, items=rows,
                                        annotators=annotators).matrix
