"""The ``triplet_mine`` job: a round of triplets the project's encoder is least sure about,
pre-judged by the LLM, created as Label Studio tasks.

Queued by ``POST /api/projects/{id}/triplets/corpus``, ``labelloop triplets mine`` and after
every fine-tune round, with the round it is to mine in its payload (``{"round": n}``; one queued
per round: its dedupe key), on the project's own serial key. A run:

1. settles and sends the triplets an earlier run left behind (:mod:`labelloop.triplets.outbox`);
2. mines round ``n`` unless the project has it already (so a run again after its tasks were
   created mines nothing twice): the corpus items not held out (:mod:`labelloop.triplets.plan`)
   embedded with the project's current encoder (the fine-tuned one once adopted; vectors
   cached under its name), :func:`~labelloop.triplets.mining.mine_hard_triplets` with the
   triplets asked before excluded (either candidate order);
3. asks the LLM for its judgement of each (when one is configured; :mod:`.judge`) and stores
   the triplets, ``pending``, with it, in one transaction;
4. sends them (step 1's code).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from labelloop.embeddings import embed_each
from labelloop.errors import PermanentJobError
from labelloop.events.projects import schema_of
from labelloop.jobs.context import JobContext
from labelloop.jobs.types import JobKind, JobSpec
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelconfig.triplets import TRIPLETS_TYPE
from labelloop.storage.records_triplets import CorpusItem, TripletTaskRow
from labelloop.triplets.judge import PreJudgement, prejudge
from labelloop.triplets.mining import Triplet, mine_hard_triplets
from labelloop.triplets.outbox import recover, send_pending
from labelloop.triplets.plan import held_out_mask

log = logging.getLogger(__name__)


def mine_spec(project_id: int, round_: int) -> JobSpec:
    """Mine round ``round_`` (one queued per round: asking for the next round while this one
    waits queues it too; the serial key runs them one after the other)."""
    return JobSpec(JobKind.TRIPLET_MINE, project_id, payload={"round": round_},
                   dedupe_key=f"triplet_mine:{project_id}:{round_}",
                   serial_key=f"triplets:{project_id}")


def is_triplet_schema(schema: LabelSchema | None) -> bool:
    return schema is not None and schema.supported and schema.task_type == TRIPLETS_TYPE


def handle_triplet_mine(ctx: JobContext) -> None:
    pid = ctx.project_id()
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
        schema = schema_of(project) if project else None
        corpus = tx.get_corpus(pid)
        rounds = tx.triplet_counts(pid).rounds
    if project is None or schema is None or not is_triplet_schema(schema):
        log.info("project %s: not a triplet project; nothing mined", pid)
        return
    gateway = ctx.gateways.for_project(project)
    if gateway is None:
        raise PermanentJobError(f"triplet tasks cannot be created: {ctx.gateways.why_not()}")
    texts = {c.id: c.text for c in corpus}
    recover(ctx, pid, gateway)
    send_pending(ctx, pid, schema, gateway, texts)
    wanted = int(ctx.job.payload.get("round", rounds + 1))
    if wanted <= rounds:
        return
    rows = mine_round(ctx, pid, schema, corpus, round_=rounds + 1)
    if not rows:
        log.info("project %s: no triplet left to mine (corpus of %d)", pid, len(corpus))
        return
    with ctx.storage.write() as tx:
        tx.add_triplet_tasks(pid, rows, at=time.time())
    created = send_pending(ctx, pid, schema, gateway, texts)
    log.info("project %s: triplet round %d: %d mined, %d tasks created", pid, rounds + 1,
             len(rows), created)


def mine_round(ctx: JobContext, pid: int, schema: LabelSchema, corpus: list[CorpusItem], *,
               round_: int) -> list[TripletTaskRow]:
    """Round ``round_``'s triplets (corpus ids), with the LLM's pre-judgements."""
    s = ctx.settings
    pool = np.flatnonzero(~held_out_mask(pid, corpus, fraction=s.triplet_heldout))
    if pool.size < 3:
        return []
    ctx.progress(step="embed", items=int(pool.size))
    encoder = ctx.resources.project_text_embedder(ctx.storage, pid)
    made = embed_each([corpus[i].text for i in pool.tolist()], embedder=encoder,
                      store=ctx.storage)
    pool, x = pool[made.ok], made.vectors[made.ok]
    ids = [corpus[i].id for i in pool.tolist()]
    position = {cid: p for p, cid in enumerate(ids)}
    with ctx.storage.read() as tx:
        asked = tx.get_triplet_tasks(pid)
    exclude = [Triplet(position[t.anchor_id], position[t.first_id], position[t.second_id])
               for t in asked
               if {t.anchor_id, t.first_id, t.second_id} <= position.keys()]
    ctx.progress(step="mine", items=len(ids), asked=len(asked))
    rng = np.random.default_rng([pid, round_])
    mined = mine_hard_triplets(x, s.triplet_batch, rng=rng, neighbours=s.triplet_neighbours,
                               exclude=exclude, spread=s.triplet_spread)
    triplets = [(ids[m.triplet.anchor], ids[m.triplet.first], ids[m.triplet.second])
                for m in mined]
    judged: list[PreJudgement | None] = [None] * len(triplets)
    version = None
    labeler = ctx.resources.labeler(ctx.storage)
    if labeler is not None and triplets:
        ctx.progress(step="prejudge", triplets=len(triplets))
        text = {c.id: c.text for c in corpus}
        judged, version = prejudge(labeler, schema,
                                   [(text[a], text[f], text[b]) for a, f, b in triplets])
    return [TripletTaskRow(a, f, b, round=round_, hardness=float(m.hardness),
                           llm_judgement=j.judgement if j else None,
                           llm_confidence=j.confidence if j else None,
                           llm_version=version if j else None)
            for (a, f, b), m, j in zip(triplets, mined, judged)]
