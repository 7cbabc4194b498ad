"""The ``stream_decide`` job: decide the stream items a deferred ingest stored undecided
(``stream_decide="deferred"``, the default; docs/stream.md).

Ingest cannot embed 2,000 items a second on a CPU, and the screening model it can afford picks
no better than uniform (docs/benchmarks.md, *Production stream*); so in deferred mode ingest
stores each new item as ``deciding`` and queues this job, which a few seconds later decides them
with the local model on their embeddings. One run, for one project (one at a time: the serial
key):

1. read the oldest ``stream_decide_chunk`` undecided items (arrival order), the project and
   the newest version's local model (``"local"`` artefact; none yet: uniform draws);
2. with a model, embed the items :func:`~labelloop.stream.decide_plan.sample_to_embed` picks
   (all of them, or a uniform ``stream_decide_max_embed`` of a larger backlog) with the encoder
   the model was trained on (as ``/classify`` does: a fine-tuned one when the model's lineage
   names it), through the embedding cache, as retrain and drift do — the selected items' vectors are already cached
   when they come back as Label Studio tasks;
3. in one write transaction under the project's stream-state lock: the items still undecided
   (a second run skips those decided), :func:`~labelloop.stream.decide_plan.plan_decisions`
   over all of them, each decision stored (:meth:`~labelloop.storage.base.Tx.
   decide_stream_items`), the state saved, ``stream_export`` queued when anything was selected
   (and Label Studio access exists), ``drift`` when the decided count crossed a multiple of
   ``drift_every_n``, and this job again when the chunk was full (more may wait).

Its randomness comes from (project, first item id, chunk size): a run interrupted before its
commit decides the same items the same way when it runs again.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from labelloop.embeddings import embed_each
from labelloop.errors import UnknownProject, UnsupportedConfig
from labelloop.jobs.context import JobContext
from labelloop.labelconfig.kinds import task_text
from labelloop.labelconfig.schema import LabelSchema
from labelloop.loop.encoders import encoder_named, served_embedder_name
from labelloop.models.artifact import load_local_model
from labelloop.models.logistic import LocalModel
from labelloop.selection.stream import Budget
from labelloop.storage.base import Tx
from labelloop.storage.records_stream import StreamDecision, StreamItem
from labelloop.stream.decide_plan import DecidePlan, plan_decisions, sample_to_embed
from labelloop.stream.ingest import (
    drift_spec,
    load_state,
    stream_decide_spec,
    stream_export_spec,
    stream_schema_of,
)
from labelloop.text import clean_json

log = logging.getLogger(__name__)
KIND = "local"


def handle_stream_decide(ctx: JobContext) -> None:
    pid = ctx.project_id()
    s = ctx.settings
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
        items = tx.get_stream_items(pid, status="deciding", limit=s.stream_decide_chunk)
        served = _model(tx, pid) if items else None
        # the encoder the model was trained on, as /classify embeds (a fine-tuned one stays in
        # use until a retrain on the next encoder replaces the model: loop/encoders.py)
        name = served_embedder_name(_lineage(tx, pid, served[0])) if served else None
        tuned = encoder_named(tx, pid, name) if name else None
    if not items:
        return
    try:
        schema = stream_schema_of(project, pid)
    except (UnknownProject, UnsupportedConfig) as exc:
        log.warning("project %s: %d stream items wait undecided: %s", pid, len(items), exc)
        return
    rng = np.random.default_rng([pid, items[0].id, len(items)])
    model = served[1] if served is not None else None
    positions = np.zeros(0, dtype=np.int64)
    x = np.zeros((0, 0), dtype=np.float32)
    if model is not None:
        positions = sample_to_embed(len(items), max_embed=s.stream_decide_max_embed, rng=rng)
        ctx.progress(step="stream_decide", items=len(items), embedding=int(positions.size))
        texts = [_text(schema, items[i]) for i in positions.tolist()]
        emb = embed_each(texts, embedder=ctx.resources.text_encoder(tuned), store=ctx.storage)
        if emb.vectors.shape[1] != model.dim:
            log.warning("project %s: the local model takes %d-dimensional embeddings, the "
                        "embedder gives %d: stream items decided without a model", pid,
                        model.dim, emb.vectors.shape[1])
            model = served = None
        else:
            ok = emb.ok
            positions, x = positions[ok], emb.vectors[ok]
    scorer = "local" if served is not None else None
    exportable = ctx.gateways.credentials(project) is not None if project else False
    with ctx.storage.write() as tx:
        raw = tx.lock_stream_state(pid)
        still = {it.id for it in tx.get_stream_items(pid, status="deciding",
                                                     ids=[it.id for it in items])}
        keep = np.array([it.id in still for it in items], dtype=bool)
        if not keep.any():
            return
        if not keep.all():  # another run decided some: positions among those left
            new_at = np.cumsum(keep) - 1
            positions, x = new_at[positions[keep[positions]]], x[keep[positions]]
            items = [it for it, k in zip(items, keep, strict=True) if k]
        state = load_state(pid, raw)
        before = state.seen
        plan = plan_decisions(
            x, positions, np.array([it.feedback in ("negative", "correction") for it in items],
                                   dtype=bool),
            state, model=model, scorer=scorer, budget=Budget.from_settings(s),
            received_at=np.array([it.received_at for it in items]), rng=rng,
            production=_production(items, model))
        decided = tx.decide_stream_items(pid, _decisions(items, plan, model, served),
                                         at=max(it.received_at for it in items))
        tx.save_stream_state(pid, plan.state.to_json())
        selected = sum(c.selected for c in plan.choices)
        if selected and exportable:
            tx.enqueue(stream_export_spec(pid))
        if plan.state.seen // s.drift_every_n > before // s.drift_every_n:
            tx.enqueue(drift_spec(pid))
        if len(items) >= s.stream_decide_chunk:
            tx.enqueue(stream_decide_spec(pid))
    ctx.wake()
    log.info("project %s: %d stream items decided (%d selected; %d embedded, scorer %s)",
             pid, decided, selected, positions.size, scorer or "uniform draws")


def _model(tx: Tx, pid: int) -> tuple[str, LocalModel] | None:
    """The newest version's local model (what /classify serves), None before any."""
    version = tx.latest_model_artifact_version(pid, KIND)
    blob = tx.get_model_artifact(pid, version, KIND) if version is not None else None
    return (version, load_local_model(blob)) if version is not None and blob else None


def _lineage(tx: Tx, pid: int, version: str) -> dict[str, Any] | None:
    got = tx.get_model_version(pid, version)
    return got.lineage if got is not None else None


def _text(schema: LabelSchema, item: StreamItem) -> str:
    """The item's text, prepared as a retrain prepares a task's (and /classify an item's)."""
    cleaned, _ = clean_json(item.data)
    return task_text(schema, cleaned if isinstance(cleaned, dict) else None) or ""


def _production(items: list[StreamItem], model: LocalModel | None) -> np.ndarray | None:
    if model is None:
        return None
    position = {label: k for k, label in enumerate(model.labels)}
    return np.array([position.get(it.prediction[0], -1)
                     if it.prediction is not None and len(it.prediction) == 1 else -1
                     for it in items], dtype=np.int64)


def _decisions(items: list[StreamItem], plan: DecidePlan, model: LocalModel | None,
               served: tuple[str, LocalModel] | None) -> list[StreamDecision]:
    out = []
    for j, (it, c) in enumerate(zip(items, plan.choices, strict=True)):
        k = int(plan.label[j])
        scored = model is not None and k >= 0
        out.append(StreamDecision(
            id=it.id, selected=c.selected, reason=c.reason, utility=float(c.utility),
            threshold=c.threshold,
            model_label=model.labels[k] if scored and model is not None else None,
            model_p=float(plan.probability[j]) if scored else None,
            model_version=served[0] if scored and served is not None else None))
    return out


__all__ = ["handle_stream_decide"]
