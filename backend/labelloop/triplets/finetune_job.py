"""The ``triplet_finetune`` job: the encoder fine-tuned on the project's judged triplets,
measured on held-out items, adopted only when it does not get worse.

Queued when a project has ``triplet_finetune_every_n`` more human judgements than at its last
round (:func:`on_labels_changed`, called by the retrain a label change queues: handlers never train)
or by ``labelloop triplets finetune``; one per project (dedupe and serial key). A round:

1. reads the judgements (:mod:`labelloop.triplets.judgements`) and turns those that are not
   ties into ``(anchor, positive, negative)`` corpus positions
   (:func:`~labelloop.triplets.mining.training_triplets`);
2. picks what it is measured on: the held-out grouped corpus items (recall@10 and MRR among
   them, :mod:`labelloop.triplets.plan`) when there are any, else every fifth judged triplet
   (by id), kept out of training (triplet accuracy);
3. measures the project's current encoder, fine-tunes the process's base encoder on the
   training triplets within ``finetune_budget_s`` CPU seconds (always from the base, so a round
   depends only on the judgements), measures it;
4. saves it as a model version of kind ``encoder`` with its lineage (judgements, measures
   before and after, training stats); adopted — measured worse than the current encoder on
   none of recall@10 and MRR (or accuracy) — its manifest artefact is written in the same
   transaction, which makes it the project's encoder (:mod:`labelloop.loop.encoders`: the next
   mining round embeds with it; ``labelloop model export`` writes its folder). Not adopted, or
   nothing to measure on: the version records why and the folder is deleted;
5. queues the next mining round.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from labelloop.embeddings import SentenceTransformerEmbedder, bundled_model_path, embed_each
from labelloop.embeddings.finetune import save_encoder
from labelloop.events.projects import schema_of
from labelloop.jobs.context import JobContext
from labelloop.jobs.types import JobKind, JobSpec
from labelloop.loop.encoders import (
    ENCODER_KIND,
    EncoderManifest,
    encoder_version,
    encoders_dir,
    finetuned_name,
)
from labelloop.storage.base import Tx
from labelloop.triplets.finetune import fine_tune_on_triplets
from labelloop.triplets.judgements import JudgedTriplet, read_judgements
from labelloop.triplets.mine_job import is_triplet_schema, mine_spec
from labelloop.triplets.mining import Triplet, training_triplets
from labelloop.triplets.plan import adopt_encoder, finetune_due, group_ids, held_out_mask
from labelloop.triplets.retrieval import mean_reciprocal_rank, recall_at_k, triplet_accuracy

log = logging.getLogger(__name__)
# the step size, margin and passes bench/bench_triplets.py measured (lr 2e-5 moved nothing in
# 60 CPU-s; docs/benchmarks.md, hard-triplet active learning)
TUNE_LR, TUNE_MARGIN, TUNE_EPOCHS = 1e-4, 0.3, 2
TASK = "triplets"  # the lineage's "task" of a triplet round's encoder version
ACCURACY_EVERY = 5  # without groups: every fifth judged triplet measures, the rest train


def finetune_spec(project_id: int, *, force: bool = False) -> JobSpec:
    return JobSpec(JobKind.TRIPLET_FINETUNE, project_id,
                   payload={"force": True} if force else {},
                   dedupe_key=f"triplet_finetune:{project_id}",
                   serial_key=f"triplet_finetune:{project_id}")


def triplet_rounds(tx: Tx, project_id: int) -> list[dict[str, Any]]:
    """The lineage of every triplet fine-tune round of a project, oldest first."""
    return [dict(v.lineage, version=v.version, at=v.created_at)
            for v in tx.list_model_versions(project_id)
            if v.kind == ENCODER_KIND and (v.lineage or {}).get("task") == TASK]


def on_labels_changed(ctx: JobContext, project_id: int) -> bool:
    """The retrain's hook: True when the project is a triplet project (its judgements tune the
    encoder; there is no model to retrain), after queueing a fine-tune round if one is due."""
    with ctx.storage.read() as tx:
        project = tx.get_project(project_id)
        schema = schema_of(project) if project else None
        if schema is None or not is_triplet_schema(schema):
            return False
        judged = len(read_judgements(tx, project_id, schema, tx.get_triplet_tasks(project_id)))
        rounds = triplet_rounds(tx, project_id)
    last = int(rounds[-1].get("judgements", 0)) if rounds else None
    if finetune_due(judged, last, every_n=ctx.settings.triplet_finetune_every_n):
        ctx.enqueue(finetune_spec(project_id))
    return True


def _encode(model: Any, texts: Sequence[str]) -> np.ndarray:
    return np.asarray(model.encode(list(texts), batch_size=64, convert_to_numpy=True,
                                   normalize_embeddings=True, show_progress_bar=False),
                      dtype=np.float32)


def handle_triplet_finetune(ctx: JobContext) -> None:
    pid, s = ctx.project_id(), ctx.settings
    base = ctx.resources.embedder
    if not isinstance(base, SentenceTransformerEmbedder):
        log.info("project %s: no triplet fine-tune (the text embedder is not a "
                 "sentence-transformers model)", pid)
        return
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
        schema = schema_of(project) if project else None
        if schema is None or not is_triplet_schema(schema):
            return
        corpus = tx.get_corpus(pid)
        judged = read_judgements(tx, pid, schema, tx.get_triplet_tasks(pid))
        rounds = triplet_rounds(tx, pid)
        current_rounds = tx.triplet_counts(pid).rounds
    last = int(rounds[-1].get("judgements", 0)) if rounds else None
    force = bool(ctx.job.payload.get("force"))
    if not force and not finetune_due(len(judged), last, every_n=s.triplet_finetune_every_n):
        return
    started = time.perf_counter()
    texts = [c.text for c in corpus]
    position = {c.id: i for i, c in enumerate(corpus)}
    held = held_out_mask(pid, corpus, fraction=s.triplet_heldout)
    usable = [j for j in judged if {j.task.anchor_id, j.task.first_id, j.task.second_id}
              <= position.keys()]
    train, test = _split(usable, held, position)
    if not train:
        log.info("project %s: no judged triplet to train on (%d judged, ties dropped)", pid,
                 len(judged))
        return
    encoder = ctx.resources.project_text_embedder(ctx.storage, pid)
    ctx.progress(step="measure", judgements=len(judged), train=len(train))
    rows = np.flatnonzero(held) if held.any() else None
    groups = group_ids(corpus)

    def measure(vectors: np.ndarray) -> dict[str, float] | None:
        if rows is not None:
            g = groups[rows]
            return {"recall_at_10": recall_at_k(vectors, vectors, g, g, k=10, exclude_self=True),
                    "mrr": mean_reciprocal_rank(vectors, vectors, g, g, exclude_self=True)}
        if test:
            return {"triplet_accuracy": triplet_accuracy(vectors, test_local)}
        return None

    measured = sorted(rows.tolist()) if rows is not None else \
        sorted({i for t in test for i in t})
    local = {p: k for k, p in enumerate(measured)}
    test_local = [(local[a], local[p], local[n]) for a, p, n in test]
    before = measure(embed_each([texts[i] for i in measured], embedder=encoder,
                                store=ctx.storage).vectors) if measured else None
    ctx.progress(step="fine_tune", train=len(train))
    rng = np.random.default_rng([pid, len(judged)])
    model, stats = fine_tune_on_triplets(texts, train, base=base.model_path or
                                         bundled_model_path(), budget_s=s.finetune_budget_s,
                                         rng=rng, loss=s.triplet_loss,
                                         threads=s.embedding_threads, lr=TUNE_LR,
                                         margin=TUNE_MARGIN, epochs=TUNE_EPOCHS)
    after = measure(_encode(model, [texts[i] for i in measured])) if measured else None
    primary = "recall_at_10" if rows is not None else "triplet_accuracy"
    adopt = adopt_encoder(before, after)
    saved = save_encoder(model, encoders_dir(s, pid))
    name = finetuned_name(base.name, saved.sha256)
    lineage: dict[str, Any] = {
        "kind": ENCODER_KIND, "task": TASK, "round": len(rounds) + 1, "base": base.name,
        "base_path": str(base.model_path or bundled_model_path()), "name": name,
        "path": str(saved.path), "sha256": saved.sha256, "judgements": len(judged),
        "ties": sum(j.judgement == "tie" for j in judged), "train_triplets": len(train),
        "measured_on": ("held_out_items" if rows is not None else
                        "held_out_triplets" if test else None),
        "held_out": len(measured) if rows is not None else len(test),
        "primary": primary, "before": before, "after": after, "before_encoder": encoder.name,
        "adopted": adopt, "budget_s": s.finetune_budget_s, "loss": s.triplet_loss,
        "training": stats.to_json(), "seconds": round(time.perf_counter() - started, 3)}
    version = encoder_version(saved.sha256)
    with ctx.storage.write() as tx:
        tx.add_model_version(pid, version, kind=ENCODER_KIND, lineage=lineage)
        if adopt:  # the switch: the newest encoder artefact is the project's encoder
            tx.save_model_artifact(pid, version, ENCODER_KIND, EncoderManifest(
                name=name, path=str(saved.path), sha256=saved.sha256,
                base=base.name).to_bytes())
    if not adopt:
        shutil.rmtree(saved.path, ignore_errors=True)
    log.info("project %s: triplet round %d on %d judgements: %s %s -> %s (%s)", pid,
             lineage["round"], len(judged), primary, before, after,
             "adopted" if adopt else "not adopted")
    ctx.enqueue(mine_spec(pid, current_rounds + 1))


def _split(judged: Sequence[JudgedTriplet], held: np.ndarray, position: dict[int, int]
           ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """(training, measuring) ``(anchor, positive, negative)`` corpus positions: with held-out
    items every triplet not touching them trains; without, every fifth by id measures."""
    triplets = [Triplet(position[j.task.anchor_id], position[j.task.first_id],
                        position[j.task.second_id]) for j in judged]
    pairs = list(zip(judged, triplets))
    if held.any():
        keep = [(j, t) for j, t in pairs if not held[[t.anchor, t.first, t.second]].any()]
        return training_triplets([t for _, t in keep], [j.judgement for j, _ in keep]), []
    test = [(j, t) for j, t in pairs if j.task.id % ACCURACY_EVERY == 0]
    rest = [(j, t) for j, t in pairs if j.task.id % ACCURACY_EVERY != 0]
    return (training_triplets([t for _, t in rest], [j.judgement for j, _ in rest]),
            training_triplets([t for _, t in test], [j.judgement for j, _ in test]))
