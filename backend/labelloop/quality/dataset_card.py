"""The dataset card: what the exported dataset holds, what it cost and how good it is.

``GET /api/projects/{id}/dataset?card=1`` and ``labelloop export --card FILE`` answer
:func:`dataset_card` (plain JSON, undefined numbers None):

- ``size`` (live tasks), ``labelled`` (rows with a label), ``by_source`` and
  ``label_distribution`` (classification: rows per class; spans: spans per label and
  ``tasks_without_entities``);
- ``human``: annotations stored (skips included) and tasks with a human label;
- ``llm``: tokens and cost of this project's stored LLM labels (``project``: the newest of each
  live task, as its labeler recorded them), of every logged call made for this project
  (``project_calls``: retries, errors and labels since replaced included, cache hits cost
  nothing; records older than the retention window are gone) and, for reference, of every
  logged call of this labelloop (``all_projects``);
- ``estimated_accuracy``: overall and per class, with a 95 % interval and ``method`` in words.
  Human labels count as right. For machine labels, where an audit exists (classification): the
  dataset's machine label compared with the human consensus on the uniform audit sample, Wilson
  95 % finite-population corrected and mapped to the unreviewed tasks
  (:func:`labelloop.agreement.estimate_audit_accuracy`, the method of :mod:`labelloop.quality.
  audit`); per class = that label's precision. With enough audited tasks it is post-stratified
  by the LLM's confidence (:mod:`labelloop.quality.stratified`; ``p_correct`` where the LLM did
  not label nearly every task): the audit's hit rates per bin, weighted as the unreviewed tasks
  fall in the bins, because a queue aimed at machine
  errors leaves the easy tasks unreviewed and the plain audit rate then runs low. Otherwise the mean ``p_correct`` of the machine
  rows with a normal 95 % interval of the number right (it holds only if ``p_correct`` is
  calibrated, and says so; a machine row of unknown ``p_correct`` counts at that mean).
- ``accepted``: audited auto-accept (``LABELLOOP_ACCEPT_PRECISION``): the rows whose machine
  label is accepted, the target, per class the threshold, state and reason, and the audit's
  precision of the accepted set with a Wilson 95 % interval
  (:func:`labelloop.quality.dataset_accept.accept_summary`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from labelloop.agreement import estimate_audit_accuracy
from labelloop.quality.dataset import USAGE_KEYS, Export, add_usage, pages, prepare_export
from labelloop.quality.dataset_accept import accept_summary
from labelloop.quality.dataset_labels import ClassArrays, ClassLabels
from labelloop.quality.dataset_rows import SOURCES
from labelloop.quality.jsonable import jsonable
from labelloop.quality.stratified import stratified_accuracy
from labelloop.storage.base import Storage
from labelloop.storage.records_llm import LlmUsage

Z95 = 1.959963984540054
HUMAN = "human labels are taken as right (p_correct 1)"
NO_ACCEPT = {"count": 0, "target": None, "enabled": False,
             "reason": "span projects: no calibrated p_correct per task yet, so nothing is "
                       "auto-accepted"}


def mix(n_human: int, n_machine: int, acc: float, low: float, high: float) -> dict[str, Any]:
    """Accuracy of ``n_human`` rows taken as right plus ``n_machine`` at ``acc`` [low, high]."""
    n = n_human + n_machine
    if n == 0:
        return {"n": 0, "accuracy": None, "low": None, "high": None}
    if n_machine == 0:
        return {"n": n, "accuracy": 1.0, "low": 1.0, "high": 1.0}
    return {"n": n, "accuracy": (n_human + n_machine * acc) / n,
            "low": (n_human + n_machine * low) / n, "high": (n_human + n_machine * high) / n}


def expected_accuracy(p: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high) of the share right among rows right with probabilities ``p``."""
    p = p[np.isfinite(p)]
    if p.size == 0:
        return float("nan"), 0.0, 1.0
    half = Z95 * float(np.sqrt(np.sum(p * (1 - p)))) / p.size
    mean = float(p.mean())
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def _names(a: ClassArrays) -> list[str]:
    return [" + ".join(c) for c in a.classes]


def _strata_key(a: ClassArrays, lab: ClassLabels) -> np.ndarray | None:
    """What the audit is stratified by: the LLM's confidence where it labelled nearly every
    task (it means the same on audited and unreviewed tasks: the LLM never sees a human label),
    else the machines' ``p_correct``."""
    if np.isfinite(a.llm_conf).mean() >= 0.9:
        return a.llm_conf
    return lab.machine_p


def class_accuracy(a: ClassArrays, lab: ClassLabels) -> dict[str, Any]:
    """The estimated accuracy of a classification dataset (see the module docstring)."""
    names = _names(a)
    k = len(names)
    label, p_correct, machine = lab.label, lab.p_correct, lab.machine
    human_row = a.human >= 0
    machine_row = ~human_row & (label >= 0)
    audited = a.audit & human_row & (machine >= 0)
    h_counts = np.bincount(label[human_row], minlength=k)
    m_counts = np.bincount(label[machine_row], minlength=k)
    if audited.any() and machine_row.any():
        counts = np.bincount(machine[audited], minlength=k) + m_counts
        est = estimate_audit_accuracy(machine[audited], a.human[audited], names,
                                      population_counts=counts.astype(np.int64))
        o: dict[str, Any] = dict(est["overall"])
        per_est: dict[str, dict[str, Any]] = {c: dict(e) for c, e in est["per_class"].items()}
        strata = 0
        key = _strata_key(a, lab)
        if key is not None:
            hit = machine[audited] == a.human[audited]
            pa = key[audited]
            got = stratified_accuracy(hit, pa, key[machine_row])
            if got is not None:
                o |= {"accuracy": got.accuracy, "low": got.low, "high": got.high}
                strata = got.bins
            for i, c in enumerate(names):
                in_c = machine[audited] == i
                got = stratified_accuracy(hit[in_c], pa[in_c], key[machine_row & (label == i)])
                if got is not None:
                    per_est[c] |= {"accuracy": got.accuracy, "low": got.low, "high": got.high}
        per = {c: mix(int(h_counts[i]), int(m_counts[i]), e["accuracy"], e["low"], e["high"])
               | {"audited": e["n"]} for i, (c, e) in enumerate(per_est.items())}
        how = (f"post-stratified by {'the LLM confidence' if key is a.llm_conf else 'p_correct'} "
               f"into {strata} bins (the audit's hit rate per bin, "
               "weighted by the unreviewed tasks' share of it), normal 95 % interval"
               if strata else "Wilson 95 % interval, finite-population corrected")
        return {"basis": "audit", "audited": int(audited.sum()),
                "overall": mix(int(human_row.sum()), int(machine_row.sum()), o["accuracy"],
                               o["low"], o["high"]),
                "per_class": per,
                "method": f"{HUMAN}; machine labels: compared with the human consensus on "
                          f"{int(audited.sum())} tasks of the uniform audit sample, {how}, "
                          "mapped to the unreviewed tasks; per class: the machine label's "
                          "precision on that class"}
    per = {c: mix(int(h_counts[i]), int(m_counts[i]),
                  *expected_accuracy(p_correct[machine_row & (label == i)]))
           for i, c in enumerate(names)}
    return {"basis": "p_correct", "audited": int(audited.sum()),
            "overall": mix(int(human_row.sum()), int(machine_row.sum()),
                           *expected_accuracy(p_correct[machine_row])),
            "per_class": per, "method": _p_method(bool(machine_row.any()))}


def _p_method(any_machine: bool) -> str:
    if not any_machine:
        return f"{HUMAN}; no machine label in the dataset"
    return (f"{HUMAN}; no audit to measure the machine labels on, so their accuracy is the mean "
            "p_correct with a normal 95 % interval of the number right: an estimate that holds "
            "only as far as p_correct is calibrated (not audited)")


def _span_summary(export: Export) -> dict[str, Any]:
    spans: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    empty, humans = 0, 0
    p: list[float] = []
    for row in export.rows():
        if row.source is None:
            continue
        sources[row.source] += 1
        if row.source in ("human", "consensus"):
            humans += 1
        else:
            p.append(np.nan if row.p_correct is None else row.p_correct)
        label = row.label if isinstance(row.label, list) else []
        empty += not label
        spans.update(str(s["label"]) for s in label if isinstance(s, dict))
    mean, low, high = expected_accuracy(np.asarray(p, dtype=np.float64))
    return {"by_source": dict(sources), "human_tasks": humans,
            "label_distribution": {"spans": {lab: spans[lab] for lab in export.schema.labels},
                                   "tasks_without_entities": empty},
            "estimated_accuracy": {
                "basis": "p_correct", "audited": 0,
                "overall": mix(humans, len(p), mean, low, high), "per_class": None,
                "method": _p_method(bool(p)) + "; span projects have no audit yet, and a "
                          "row is right only when its whole span set is"}}


def _usage(storage: Storage, project_id: int, task_ids: list[int],
           summed: dict[str, float] | None) -> dict[str, Any]:
    """``summed``: the stored labels' usage the export already added up (None: read here)."""
    total = dict.fromkeys(USAGE_KEYS, 0.0)
    with storage.read() as tx:
        if summed is not None:
            total |= summed
        else:
            for chunk in pages(task_ids, 1000):
                for lab in tx.get_llm_labels(project_id, task_ids=chunk).values():
                    add_usage(total, lab.usage)
        everything = tx.llm_usage()
        calls = tx.llm_usage(project_id=project_id)
        annotations = tx.count_annotations(project_id)
    project = {k: (v if k == "cost_usd" else int(v)) for k, v in total.items()}
    return {"annotations": annotations, "llm": {
        "project": {**project, "tokens": project["prompt_tokens"] + project["completion_tokens"],
                    "scope": "the stored LLM label of each live task"},
        "project_calls": _calls(calls, "every logged LLM call made for this project (records "
                                       "older than the retention window are deleted)"),
        "all_projects": _calls(everything, "every logged LLM call")}}


def _calls(usage: LlmUsage, scope: str) -> dict[str, Any]:
    return {"calls": usage.calls, "errors": usage.errors, "tokens": usage.tokens,
            "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "cost_usd": usage.cost_usd, "scope": scope}


def dataset_card(storage: Storage, project_id: int, *,
                 export: Export | None = None) -> dict[str, Any]:
    """The card of a project's dataset (raises UnknownProject / UnsupportedConfig); ``export``:
    the project's prepared export, when the caller has it (its labels are then not read again)."""
    export = export if export is not None else prepare_export(storage, project_id)
    ids = export.task_ids.tolist()
    usage = _usage(storage, project_id, ids, export.llm_usage)
    card: dict[str, Any] = {"project": project_id, "task_type": export.schema.task_type,
                            "size": len(ids), "format_version": 1}
    a, lab = export.arrays, export.labels
    if a is None or lab is None:
        summary = _span_summary(export)
        card |= {"labelled": sum(summary["by_source"].values()), **summary}
    else:
        names = _names(a)
        has = lab.label >= 0
        card |= {
            "labelled": int(has.sum()),
            "by_source": {s: int((lab.source == i).sum()) for i, s in enumerate(SOURCES)
                          if (lab.source == i).any()},
            "label_distribution": {c: int(n) for c, n in zip(
                names, np.bincount(lab.label[has], minlength=len(names)))},
            "human_tasks": int((a.human >= 0).sum()),
            "labels_method": lab.method, "notes": list(lab.notes),
            "estimated_accuracy": class_accuracy(a, lab)}
    # audited auto-accept (quality/dataset_accept.py): what is accepted, and the audit's measure
    card["accepted"] = NO_ACCEPT if a is None or export.machine is None or \
        export.accepted is None else accept_summary(a, export.machine, export.accepted)
    card["human"] = {"annotations": usage["annotations"], "tasks": card.pop("human_tasks")}
    card["llm"] = usage["llm"]
    return jsonable(card)
