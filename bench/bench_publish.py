"""Publishing the queue to a real Label Studio 1.23.2: 1,000 and 10,000 task scores.

Starts Label Studio from the e2e harness (its cached virtualenv, a fresh data dir, loopback),
creates a project per size, stores the tasks in labelloop's storage, and times `publish_queue`
(bulk import of one prediction per task + PATCH of model_version/sampling). Then times the
clean-up of the superseded version (off the critical path in the service), and checks that
`/next/` serves the lowest score. Each size is published with the default batch size (one
import request up to 20,000 predictions) and, side by side, with batches of 2,000.

    .venv/bin/python bench/bench_publish.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.ls_harness import TEXT_CONFIG, LabelStudioServer, create_text_project

from labelloop.labelstudio.publish import publish_queue
from labelloop.settings import Settings
from labelloop.storage import open_storage


def main(sizes: tuple[int, ...] = (1_000, 10_000), repeats: int = 3,
         batches: tuple[int | None, ...] = (None, 2_000)) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ls = LabelStudioServer(Path(tmp) / "ls").start()
        try:
            default = Settings(_env_file=None, data_dir=Path(tmp) / "ll")
            storage = open_storage(default.resolved_database_url)
            for n, batch in [(n, b) for n in sizes for b in batches]:
                settings = default if batch is None else default.model_copy(
                    update={"publish_batch_size": batch})
                p = create_text_project(ls.sdk, n, title=f"bench publish {n}")
                with storage.write() as tx:
                    tx.save_project(p.id, label_config=TEXT_CONFIG)
                    tx.upsert_tasks(p.id, [{"id": tid, "data": {"text": f"t{tid}"}}
                                           for tid in p.task_ids])
                times, cleanup = [], []
                for r in range(repeats):
                    scores = {tid: ((i * 7919 + r) % n) / n for i, tid in enumerate(p.task_ids)}
                    t = time.perf_counter()
                    rep = publish_queue(storage, ls.gateway, p.id, scores, settings=settings)
                    times.append(time.perf_counter() - t)
                    if rep.stored_by_label_studio != n:
                        raise SystemExit(f"LS stored {rep.stored_by_label_studio} of {n}")
                    first = min(scores, key=scores.__getitem__)
                    # LS locks a served task to its user and serves it again: check run 0 only
                    served = ls.gateway.next_task(p.id) if r == 0 else {"id": first}
                    if served is None or served["id"] != first:
                        raise SystemExit(f"/next/ served {served and served['id']}, not {first}")
                    old = [v for v in ls.gateway.list_model_versions(p.id) if v != rep.version]
                    t = time.perf_counter()
                    for v in old:
                        ls.gateway.delete_model_version(p.id, v)
                    if old:
                        cleanup.append(time.perf_counter() - t)
                rows.append((n, settings.publish_batch_size, batch is None, times, cleanup))
            storage.close()
        finally:
            ls.stop()
    print("## Publishing the queue to Label Studio (`bench/bench_publish.py`)\n")
    print("Real Label Studio 1.23.2 (SQLite) and labelloop on the same 2 cores. *Publish* is the "
          "critical path: bulk import of one prediction per task, then the PATCH that switches "
          "`model_version` and `sampling` (the queue follows at once; `/next/` verified to serve "
          "the lowest score after the first run: a served task stays locked to its user). *Clean-up* deletes the superseded version, which "
          "the service runs as a separate job.\n")
    print("| tasks | predictions per request | import requests | publish median s "
          "| publish runs s | clean-up median s |")
    print("|---:|---|---:|---:|---|---:|")
    for n, batch, is_default, times, cleanup in rows:
        label = f"{batch:,}" + (" (default)" if is_default else "")
        print(f"| {n:,} | {label} | {-(-n // batch)} | {statistics.median(times):.2f} | "
              f"{', '.join(f'{x:.2f}' for x in times)} | "
              f"{statistics.median(cleanup):.2f} |" if cleanup else
              f"| {n:,} | {label} | {-(-n // batch)} | {statistics.median(times):.2f} | - | - |")
    print("\nLabel Studio 1.23.2 recounts the counters of every task of the project after each "
          "prediction import request (its code; ~5.4 s per request on 10,000 tasks whatever the "
          "request's size: see docs/label-studio-findings.md), so the number of requests, not "
          "their size, sets the time. The default (`LABELLOOP_PUBLISH_BATCH_SIZE=20000`) sends "
          "up to 20,000 predictions per request; Label Studio's body limit is 250 MB. What "
          "annotators feel during an import: *Label Studio's prediction import* below.")
    print()


if __name__ == "__main__":
    main()
