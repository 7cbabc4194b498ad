"""The drift job: how far a project's recent stream traffic is from what was labelled (issue 17 §5).

Two questions, measured on the newest ``settings.drift_window`` stream items (any status):

1. **Do the texts look alike?** The items' embeddings against the labelled set's (the project's
   tasks with a human label; the project's tasks when fewer than :data:`MIN_ITEMS` have one),
   with the kernel two-sample test of :func:`labelloop.quality.drift.mmd_test` (MMD², RBF kernel,
   permutation threshold at ``settings.drift_alpha``). The reference is a uniform sample of at
   most :data:`REFERENCE_MAX` tasks: the test subsamples to that many anyway.
2. **Did the predicted labels move?** The screening model's labels stored at ingest
   (``model_label``; items without one are left out) against the labelled set's human labels,
   per class (:func:`labelloop.quality.drift.label_shift`: total variation and a chi-square p).

:func:`plan_drift` is pure (arrays in, a :class:`DriftRecord` out); :func:`handle_drift` reads,
embeds through the embedding cache (texts the embed job already encoded are not encoded again;
:func:`labelloop.embeddings.embed_each`, as :mod:`labelloop.loop.embed` does) and saves the
record. Its randomness is a Generator seeded from (project, items received), so a job run twice
on the same traffic saves the same figures. Fewer than :data:`MIN_ITEMS` items with text: a
logged skip, no record. Items and tasks without text are left out, never an error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from labelloop.embeddings import embed_each
from labelloop.events.projects import schema_of
from labelloop.jobs.context import JobContext
from labelloop.labelconfig.kinds import task_text
from labelloop.labelconfig.schema import LabelSchema
from labelloop.loop.dataset import load_project_data
from labelloop.quality.drift import label_shift, mmd_test
from labelloop.storage.records_stream import DriftRecord, StreamItem

log = logging.getLogger(__name__)

MIN_ITEMS = 50  # recent items measured at least; labelled tasks below which all tasks are used
REFERENCE_MAX = 1000  # reference tasks embedded (mmd_test's max_items)
ReferenceSet = Literal["labelled", "tasks"]


@dataclass(frozen=True)
class DriftInput:
    """What one measurement compares; positions only, no ids."""

    project_id: int
    recent: np.ndarray  # (n, d) embeddings of the recent items with text
    received_at: np.ndarray  # (n,) when each of them was received
    reference: np.ndarray  # (m, d) embeddings of the reference sample
    reference_items: int  # size of the reference set the sample was drawn from
    reference_set: ReferenceSet
    classes: tuple[str, ...]
    recent_labels: np.ndarray  # (k,) the recent items' screening-model labels, per class
    reference_labels: np.ndarray  # (k,) the labelled set's human labels, per class


def label_counts(labels: Iterable[Sequence[object] | str | None],
                 classes: Sequence[str]) -> np.ndarray:
    """(k,) how often each class occurs among ``labels`` (a label is a class name, a tuple of
    them, or ``"a|b"`` for several; unknown names, spans and None are left out)."""
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros(len(classes), dtype=np.int64)
    for lab in labels:
        if lab is None:
            continue
        parts = ([lab] if lab in index else lab.split("|")) if isinstance(lab, str) else lab
        for part in parts:
            if isinstance(part, str) and part in index:
                out[index[part]] += 1
    return out


def plan_drift(inp: DriftInput, *, permutations: int, alpha: float, now: float,
               rng: np.random.Generator) -> DriftRecord:
    """The drift record of one measurement (pure)."""
    test = mmd_test(inp.recent, inp.reference, permutations=permutations, alpha=alpha, rng=rng,
                    max_items=REFERENCE_MAX)
    shift: float | None = None
    shift_p: float | None = None
    if inp.recent_labels.sum() > 0 and inp.reference_labels.sum() > 0:
        shift, shift_p = label_shift(inp.reference_labels, inp.recent_labels)
    return DriftRecord(
        project_id=inp.project_id, measured_at=now, window_items=len(inp.recent),
        window_from=float(inp.received_at.min()), window_to=float(inp.received_at.max()),
        reference_items=inp.reference_items, statistic=float(test.statistic),
        threshold=float(test.threshold), p_value=float(test.p_value),
        drifting=bool(test.drifting), label_shift=shift, label_p_value=shift_p,
        details={
            "bandwidth": float(test.bandwidth), "reference_set": inp.reference_set,
            "recent_sample": min(len(inp.recent), REFERENCE_MAX),
            "reference_sample": min(len(inp.reference), REFERENCE_MAX),
            "permutations": permutations, "alpha": alpha,
            "labels": {
                "classes": list(inp.classes),
                "recent": [int(n) for n in inp.recent_labels],
                "reference": [int(n) for n in inp.reference_labels],
            },
        })


def reference_positions(labelled: np.ndarray, has_text: np.ndarray, *,
                        rng: np.random.Generator,
                        limit: int = REFERENCE_MAX) -> tuple[np.ndarray, ReferenceSet, int]:
    """(sorted positions of the reference sample, which set, the set's size): the tasks with
    text and a human label, or every task with text when fewer than :data:`MIN_ITEMS` have
    one; at most ``limit`` of them, drawn uniformly."""
    pool = np.flatnonzero(labelled & has_text)
    which: ReferenceSet = "labelled"
    if pool.size < MIN_ITEMS:
        pool, which = np.flatnonzero(has_text), "tasks"
    size = int(pool.size)
    if size > limit:
        pool = np.sort(rng.choice(pool, size=limit, replace=False))
    return pool, which, size


def handle_drift(ctx: JobContext) -> None:
    pid = ctx.project_id()
    s = ctx.settings
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
        schema = schema_of(project) if project else None
        if schema is None or not schema.supported:
            log.info("project %s: drift not measured: no supported labelling config", pid)
            return
        items = tx.recent_stream_items(pid, limit=s.drift_window)
        received = tx.stream_counts(pid).received
        data = load_project_data(tx, pid, schema) if len(items) >= MIN_ITEMS else None
    recent = _with_text(items, schema)
    if data is None or len(recent) < MIN_ITEMS:
        log.info("project %s: drift not measured: %d recent stream items with text, %d needed",
                 pid, len(recent), MIN_ITEMS)
        return
    rng = np.random.default_rng([pid, received])
    positions, which, size = reference_positions(data.labeled, data.has_text, rng=rng)
    if positions.size < 2:
        log.info("project %s: drift not measured: no task with text to compare with", pid)
        return
    ctx.progress(step="drift", items=len(recent), reference=int(positions.size))
    texts = [t for _, t in recent] + [data.texts[i] for i in positions.tolist()]
    emb = embed_each(texts, embedder=ctx.resources.embedder, store=ctx.storage)
    ok = emb.ok
    n = len(recent)
    new, ref = np.flatnonzero(ok[:n]), np.flatnonzero(ok[n:])
    if new.size < MIN_ITEMS or ref.size < 2:
        log.info("project %s: drift not measured: %d recent items and %d reference tasks could "
                 "be embedded", pid, new.size, ref.size)
        return
    classes = tuple(schema.labels)
    inp = DriftInput(
        project_id=pid, recent=emb.vectors[:n][new],
        received_at=np.array([recent[i][0].received_at for i in new.tolist()]),
        reference=emb.vectors[n:][ref], reference_items=size, reference_set=which,
        classes=classes,
        recent_labels=label_counts((it.model_label for it in items), classes),
        reference_labels=label_counts(data.labels, classes))
    record = plan_drift(inp, permutations=s.drift_permutations, alpha=s.drift_alpha,
                        now=time.time(), rng=rng)
    with ctx.storage.write() as tx:
        tx.save_drift(record)
    log.info("project %s: drift %s (MMD² %.4g, threshold %.4g, p %.3g; %d items vs %d %s)",
             pid, "drifting" if record.drifting else "stable", record.statistic,
             record.threshold, record.p_value, new.size, ref.size, which)


def _with_text(items: Sequence[StreamItem],
               schema: LabelSchema) -> list[tuple[StreamItem, str]]:
    """The items whose data has a non-blank text, with it (oldest first)."""
    out = []
    for it in sorted(items, key=lambda i: (i.received_at, i.id)):
        text = task_text(schema, it.data if isinstance(it.data, dict) else None)
        if text is not None and text.strip():
            out.append((it, text))
    return out
