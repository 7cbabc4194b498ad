"""The ``fine_tune`` job: tune the project's text encoder on its human labels, re-embed, switch.

Queued by a retrain when :func:`~labelloop.loop.finetune_plan.finetune_due` says so (never by a
request handler); one per project at a time (its own serial key: a round takes minutes, and the
retrains it would otherwise hold up keep using the current encoder). A round:

1. reads the project's consensus human labels (single-choice text classification only);
2. in ``auto`` mode, the cross-fitted comparison (:func:`~labelloop.loop.finetune_plan.
   cross_fitted_gate`): an encoder per fold tuned without that fold's labels;
3. fine-tunes the base encoder (always the process's model, never an earlier round's) on every
   label within ``finetune_budget_s`` CPU seconds, and saves it under the data dir by content
   hash (:mod:`labelloop.embeddings.finetune`);
4. adopted: embeds every task with it into the cache under its own name, then writes its model
   version and its manifest artefact in one transaction — the switch
   (:mod:`labelloop.loop.encoders`) — and queues a retrain; not adopted: records the version
   (its lineage holds the comparison) and deletes the folder.
"""

from __future__ import annotations

import logging
import shutil
import time

import numpy as np

from labelloop.embeddings import (
    Embedder,
    SentenceTransformerEmbedder,
    bundled_model_path,
    embed_each,
)
from labelloop.embeddings.finetune import FineTuneStats, fine_tune_encoder, save_encoder
from labelloop.events.projects import schema_of
from labelloop.jobs.context import JobContext
from labelloop.jobs.triggers import retrain_spec
from labelloop.jobs.types import JobKind, JobSpec
from labelloop.labelconfig.kinds import task_input
from labelloop.labelconfig.schema import LabelSchema
from labelloop.loop.dataset import load_project_data
from labelloop.loop.encoders import (
    ENCODER_KIND,
    EncoderManifest,
    encoder_version,
    encoders_dir,
    finetuned_name,
    last_round_labels,
)
from labelloop.loop.finetune_plan import GateResult, cross_fitted_gate, finetune_due

log = logging.getLogger(__name__)


def finetune_spec(project_id: int) -> JobSpec:
    return JobSpec(JobKind.FINE_TUNE, project_id, dedupe_key=f"fine_tune:{project_id}",
                   serial_key=f"fine_tune:{project_id}")


def fine_tunable(schema: LabelSchema) -> bool:
    return schema.task_type == "text_classification" and schema.modality == "text" \
        and not schema.multiple


def queue_finetune_if_due(ctx: JobContext, project_id: int, schema: LabelSchema,
                          n_labels: int) -> bool:
    """The retrain's hook: queue a round when one is due (see the module docstring)."""
    s = ctx.settings
    if s.finetune == "off" or not fine_tunable(schema) or n_labels < s.finetune_min_labels:
        return False
    with ctx.storage.read() as tx:
        last = last_round_labels(tx, project_id)
    if not finetune_due(n_labels, last, mode=s.finetune, min_labels=s.finetune_min_labels,
                        every_n=s.finetune_every_n):
        return False
    ctx.enqueue(finetune_spec(project_id))
    return True


def _encode(model: object, texts: list[str]) -> np.ndarray:
    return np.asarray(model.encode(texts, batch_size=64, convert_to_numpy=True,  # type: ignore[attr-defined]
                                   normalize_embeddings=True, show_progress_bar=False),
                      dtype=np.float32)


def handle_fine_tune(ctx: JobContext) -> None:
    pid, s = ctx.project_id(), ctx.settings
    base = ctx.resources.embedder
    if s.finetune == "off" or not isinstance(base, SentenceTransformerEmbedder):
        log.info("project %s: no fine-tuning (off, or the text embedder is not a "
                 "sentence-transformers model)", pid)
        return
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
        schema = schema_of(project) if project else None
        if schema is None or not schema.supported or not fine_tunable(schema):
            return
        data = load_project_data(tx, pid, schema)
        last = last_round_labels(tx, pid)
    rows = np.flatnonzero(data.labeled & data.has_text)
    texts, y = [data.texts[i] for i in rows.tolist()], data.label_index()[rows]
    if not finetune_due(rows.size, last, mode=s.finetune, min_labels=s.finetune_min_labels,
                        every_n=s.finetune_every_n) or np.unique(y).size < 2:
        return
    started = time.perf_counter()
    base_path = base.model_path or bundled_model_path()
    rng = np.random.default_rng([pid, int(rows.size)])
    threads = s.embedding_threads

    def tune(idx: np.ndarray) -> tuple[object, FineTuneStats]:
        return fine_tune_encoder([texts[i] for i in idx.tolist()], y[idx], base=base_path,
                                 rng=rng, budget_s=s.finetune_budget_s, threads=threads)

    gate: GateResult | None = None
    if s.finetune == "auto":
        ctx.progress(step="compare", labels=int(rows.size))
        frozen = embed_each(texts, embedder=base, store=ctx.storage).vectors
        gate = cross_fitted_gate(y, frozen, lambda idx: _encode(tune(idx)[0], texts),
                                 mode="auto", rng=rng)
    ctx.progress(step="fine_tune", labels=int(rows.size))
    model, stats = tune(np.arange(rows.size))
    saved = save_encoder(model, encoders_dir(s, pid))
    adopt = gate is None or gate.adopt
    name = finetuned_name(base.name, saved.sha256)
    lineage = {"kind": ENCODER_KIND, "base": base.name, "base_path": str(base_path),
               "name": name, "path": str(saved.path), "sha256": saved.sha256,
               "labels": int(rows.size), "mode": s.finetune, "adopted": adopt,
               "budget_s": s.finetune_budget_s, "loss": "CosineSimilarityLoss",
               "training": stats.to_json(), "gate": gate.to_json() if gate else None}
    version = encoder_version(saved.sha256)
    if not adopt:
        with ctx.storage.write() as tx:
            tx.add_model_version(pid, version, kind=ENCODER_KIND, lineage=lineage)
        shutil.rmtree(saved.path, ignore_errors=True)
        log.info("project %s: fine-tuned encoder not adopted (out-of-fold accuracy %.3f vs "
                 "frozen %.3f)", pid, gate.tuned if gate else 0.0, gate.frozen if gate else 0.0)
        return
    manifest = EncoderManifest(name=name, path=str(saved.path), sha256=saved.sha256,
                               base=base.name)
    encoder = ctx.resources.text_encoder(manifest)
    embedded = _embed_project(ctx, pid, schema, encoder)
    lineage["seconds"] = round(time.perf_counter() - started, 3)
    lineage["embedded"] = embedded
    with ctx.storage.write() as tx:  # the switch: the newest encoder artefact is the current one
        tx.add_model_version(pid, version, kind=ENCODER_KIND, lineage=lineage)
        tx.save_model_artifact(pid, version, ENCODER_KIND, manifest.to_bytes())
    log.info("project %s: encoder %s adopted (%d labels, %d steps in %.0f CPU-s; %d tasks "
             "embedded)", pid, name, rows.size, stats.steps, stats.cpu_seconds, embedded)
    ctx.enqueue(retrain_spec(pid, s, delay_s=0.0))


def _embed_project(ctx: JobContext, pid: int, schema: LabelSchema,
                   encoder: Embedder) -> int:
    """Embed every task's text with ``encoder`` into the cache; a second pass takes the tasks
    that arrived meanwhile. How many texts have a vector."""
    done: set[str] = set()
    for _ in range(2):
        with ctx.storage.read() as tx:
            values = [got.value for task in tx.get_tasks(pid)
                      if (got := task_input(schema, task.data)) and got.value]
        todo = [v for v in dict.fromkeys(values) if v not in done]
        if not todo:
            break
        count = 0

        def progress(n: int, total: int = len(todo)) -> None:
            nonlocal count
            count += n
            ctx.progress(step="embed", encoded=count, tasks=total)

        made = embed_each(todo, embedder=encoder, store=ctx.storage, progress=progress)
        done.update(t for i, t in enumerate(todo) if i not in made.failed)
    return len(done)
