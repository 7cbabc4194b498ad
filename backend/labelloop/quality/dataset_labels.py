"""The dataset label of every task of a classification project, from its arrays (pure).

:func:`class_labels` keeps each human consensus as given (source ``human`` for one annotator,
``consensus`` for two or more) and takes every other task's label from the machines
(:func:`machine_labels`):

- **single choice**: :func:`labelloop.quality.best_label.best_labels` over the LLM's and the local
  model's probabilities (a stacked model fitted on the human labels, calibrated ``p_correct``;
  the better member by measured agreement while few human labels exist). The tasks drawn for the
  audit are held out of that fit, so the machine label of an audited task is what the same
  machine says on unreviewed tasks, and the audit measures it without bias (the card's estimate,
  :mod:`labelloop.quality.dataset_card`);
- **multiple choice**: the LLM's label where it gave one, else the model's, each with its own
  confidence as ``p_correct`` (best_labels is for single labels).

A member's probabilities are its stored distribution (the LLM's ``distribution``, the model's
``extra.probas``); where only a label and a confidence are stored, the confidence goes to the
label and the rest is spread evenly over the other classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from labelloop.quality.best_label import best_labels
from labelloop.quality.dataset_rows import SOURCES

Combo = tuple[str, ...]
IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
FALLBACK_METHOD = ("the LLM's label where it gave one, else the local model's, each with its own "
                   "confidence as p_correct (multiple choice: not fitted on the human labels)")


@dataclass(frozen=True, eq=False)
class ClassArrays:
    """A classification project's labels on its live tasks (positions = ``task_ids``)."""

    task_ids: IntArray  # ascending
    classes: tuple[Combo, ...]  # class index -> output values (single choice: config order)
    multiple: bool
    human: IntArray  # consensus class, -1: none
    voters: IntArray  # votes the consensus counted (one per annotator)
    n_annotations: IntArray  # usable human annotations
    audit: NDArray[np.bool_]  # drawn for the audit
    llm: IntArray  # the LLM's class, -1: none
    llm_conf: FloatArray  # its confidence (NaN: unknown)
    llm_probas: FloatArray  # (n, k) its distribution, NaN rows where none (single choice)
    model: IntArray
    model_conf: FloatArray
    model_probas: FloatArray


@dataclass(frozen=True, eq=False)
class ClassLabels:
    """The dataset label of every task (class, -1: none), its ``p_correct`` and source (index
    into SOURCES, -1: no label); ``machine``: the machines' label of every task, human-labelled
    ones included, each made without that task's own human label: the audited ones held out of
    the fit, the others out of fold (``p_correct`` alike). Humans' labels are the dataset's;
    ``machine`` on a human-labelled task is evidence of how the machines do, never a row's
    label (the card's estimate reads the audited ones only: they are a uniform sample)."""

    label: IntArray
    p_correct: FloatArray
    source: NDArray[np.int8]
    machine: IntArray
    method: str
    notes: tuple[str, ...] = ()
    machine_p: FloatArray | None = None  # ``machine``'s p_correct (human-labelled tasks too)


def member_probas(probas: FloatArray, label: IntArray, conf: FloatArray) -> FloatArray | None:
    """A member's ``(n, k)`` probabilities: its stored rows, else its label with its confidence
    (unknown: 1) and the rest spread evenly; NaN rows where it gave nothing (None: nowhere)."""
    k = probas.shape[1]
    out = probas.copy()
    fill = np.isnan(out).any(axis=1) & (label >= 0)
    if fill.any() and k >= 2:
        top = np.clip(np.nan_to_num(conf[fill], nan=1.0), 1.0 / k, 1.0)
        out[fill] = ((1 - top) / (k - 1))[:, None]
        out[np.flatnonzero(fill), label[fill]] = top
    return None if np.isnan(out).any(axis=1).all() else out


def _fallback(a: ClassArrays) -> tuple[IntArray, FloatArray, NDArray[np.int8]]:
    has_llm = a.llm >= 0
    label = np.where(has_llm, a.llm, a.model).astype(np.int64)
    p = np.where(has_llm, a.llm_conf, np.where(a.model >= 0, a.model_conf, np.nan))
    source = np.where(has_llm, SOURCES.index("llm"),
                      np.where(a.model >= 0, SOURCES.index("model"), -1)).astype(np.int8)
    return label, p.astype(np.float64), source


def machine_labels(a: ClassArrays, *, min_fit: int = 30,
                   rng: np.random.Generator) -> ClassLabels:
    """The machines' label of every task (humans aside; see the module docstring)."""
    if a.multiple or len(a.classes) < 2:
        label, p, source = _fallback(a)
        return ClassLabels(label, p, source, label, FALLBACK_METHOD, machine_p=p)
    human = np.where(a.human >= 0, a.human, np.nan).astype(np.float64)
    human[a.audit] = np.nan  # held out: the audit measures the machines on unseen tasks
    got = best_labels(human, a.voters, member_probas(a.llm_probas, a.llm, a.llm_conf),
                      member_probas(a.model_probas, a.model, a.model_conf),
                      min_fit=min_fit, rng=rng)
    machine = np.where(np.isnan(human), got.labels, -1).astype(np.int64)
    source = np.array([SOURCES.index(s) if s in SOURCES else -1 for s in got.source],
                      dtype=np.int8)
    source[~np.isnan(human)] = -1
    p = np.where(machine >= 0, got.p_correct, np.nan).astype(np.float64)
    if got.oof_labels is not None and got.oof_p_correct is not None:
        # the fitted human-labelled tasks: their out-of-fold machine label (evidence only)
        fitted = got.oof_labels >= 0
        machine[fitted] = got.oof_labels[fitted]
        p[fitted] = got.oof_p_correct[fitted]
    method = f"best_labels: {got.method}"
    notes = got.notes
    held = int((a.audit & (a.human >= 0)).sum())
    if held:
        why = (f"{held} audited human labels held out of the fit, so the audit measures the "
               "machine labels on unseen tasks")
        notes += (why,)
    return ClassLabels(machine, p, source, machine, method, notes, machine_p=p)


def class_labels(a: ClassArrays, *, min_fit: int = 30,
                 rng: np.random.Generator) -> ClassLabels:
    """The dataset label of every task: the human consensus as given (p_correct 1), else the
    machines' (:func:`machine_labels`)."""
    return with_humans(a, machine_labels(a, min_fit=min_fit, rng=rng))


def with_humans(a: ClassArrays, m: ClassLabels) -> ClassLabels:
    """The machines' labels ``m`` with every human consensus put over them (p_correct 1)."""
    has = a.human >= 0
    source = np.where(has, np.where(a.voters >= 2, SOURCES.index("consensus"),
                                    SOURCES.index("human")), m.source).astype(np.int8)
    return ClassLabels(np.where(has, a.human, m.label), np.where(has, 1.0, m.p_correct),
                       source, m.machine, m.method, m.notes, m.machine_p)
