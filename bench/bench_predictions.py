"""Stored model predictions after repeated retrains, with and without superseding old versions.

Each "retrain" stores one model prediction per task of a 100,000-task pool (SQLite, as the
retrain job writes them); with superseding, a second transaction deletes the earlier versions'
rows of those tasks, as the retrain job does after publishing. Reported: both times per
retrain, the rows and database size after all retrains, and ``latest_predictions`` for every
task (what publishing and /predict read).

    .venv/bin/python bench/bench_predictions.py [--tasks 100000] [--retrains 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from labelloop.storage.base import open_storage
from labelloop.storage.records import Prediction

R = [{"from_name": "label", "to_name": "text", "type": "choices",
      "value": {"choices": ["positive"]}, "score": 0.5}]


def run(tmp: Path, *, tasks: int, retrains: int, supersede: bool) -> dict:
    path = tmp / f"{'on' if supersede else 'off'}.db"
    storage = open_storage(f"sqlite:///{path}")
    ids = list(range(1, tasks + 1))
    with storage.write() as tx:
        tx.save_project(1, title="bench")
        tx.upsert_tasks(1, [{"id": i, "data": {"text": f"task {i}"}} for i in ids])
    writes: list[float] = []
    deletes: list[float] = []
    for v in range(1, retrains + 1):
        version = f"labelloop-{v}"
        preds = [Prediction(i, 1, "model", version, R, 0.5,
                            {"probas": {"positive": 0.5, "negative": 0.5}}) for i in ids]
        t0 = time.perf_counter()
        with storage.write() as tx:
            tx.save_predictions(preds)
        writes.append(time.perf_counter() - t0)
        if supersede:  # as the retrain job does it: after publishing, a transaction of its own
            t0 = time.perf_counter()
            with storage.write() as tx:
                tx.supersede_predictions(1, source="model", version=version)
            deletes.append(time.perf_counter() - t0)
    reads = []
    for _ in range(3):
        t0 = time.perf_counter()
        with storage.read() as tx:
            latest = tx.latest_predictions(1, ids)
        reads.append(time.perf_counter() - t0)
    assert len(latest) == tasks and latest[1].model_version == f"labelloop-{retrains}"
    with storage.read() as tx:
        n = tx.conn.exec_driver_sql("SELECT COUNT(*) FROM predictions").scalar()
    storage.close()
    size = sum(p.stat().st_size for p in tmp.glob(f"{path.name}*"))
    return {"write": writes, "delete": deletes, "read": statistics.median(reads), "rows": n,
            "mib": size / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--retrains", type=int, default=10)
    args = ap.parse_args()
    print(f"## Stored predictions after {args.retrains} retrains of {args.tasks:,} tasks "
          "(`bench/bench_predictions.py`, SQLite)\n")
    print("| old versions | save per retrain, median s | supersede per retrain, median s | "
          "rows after | database MiB | latest_predictions, all tasks, s |")
    print("|---|---:|---:|---:|---:|---:|")
    for supersede in (False, True):
        with tempfile.TemporaryDirectory() as d:
            r = run(Path(d), tasks=args.tasks, retrains=args.retrains, supersede=supersede)
        deleted = f"{statistics.median(r['delete']):.2f}" if r["delete"] else "-"
        print(f"| {'superseded' if supersede else 'kept'} | {statistics.median(r['write']):.2f} "
              f"| {deleted} | {r['rows']:,} | {r['mib']:.0f} | {r['read']:.2f} |")


if __name__ == "__main__":
    main()
