"""Label Studio's prediction import: cost per request, and what annotators feel meanwhile.

A real Label Studio 1.23.2 (e2e harness) with a 10,000-task project: imports 10,000 predictions
per version in one request or in requests of 2,000, while a thread posts an annotation every
0.3 s; prints the import time, the annotation latencies and any failures. The figures behind
the default ``LABELLOOP_PUBLISH_BATCH_SIZE`` (see docs/benchmarks.md, *Publishing*).

    .venv/bin/python bench/bench_ls_import.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.ls_harness import LabelStudioServer, choice_result, create_text_project


def main(n: int = 10_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ls = LabelStudioServer(Path(tmp) / "ls").start()
        try:
            p = create_text_project(ls.sdk, n, title="bench import")
            ids = p.task_ids
            next_task = iter(ids)
            failures: list[str] = []

            def imp(version: str, batch: int) -> None:
                for i in range(0, len(ids), batch):
                    ls.gateway.import_predictions(p.id, [
                        {"task": t, "result": choice_result("positive"), "score": 0.5,
                         "model_version": version} for t in ids[i:i + batch]])

            imp("v0", n)  # the project holds one version already, as in service
            print("## Label Studio's prediction import (`bench/bench_ls_import.py`)\n")
            print(f"Real Label Studio 1.23.2 (SQLite), {n:,}-task project holding one version; "
                  f"each version imported as {n:,} predictions, in one request or in requests "
                  "of 2,000, while an annotation is posted every 0.3 s.\n")
            print("| version | predictions per request | import s | annotations posted "
                  "| median s | max s | failed |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            for version, batch in [("v1", n), ("v2", 2_000), ("v3", n), ("v4", 2_000)]:
                stop = threading.Event()
                lat: list[float] = []
                errors: list[str] = []

                def annotate(stop: threading.Event = stop, lat: list[float] = lat,
                             errors: list[str] = errors) -> None:
                    while not stop.is_set():
                        t = time.perf_counter()
                        try:
                            ls.sdk.annotations.create(id=next(next_task),
                                                      result=choice_result("negative"))
                            lat.append(time.perf_counter() - t)
                        except Exception as exc:  # noqa: BLE001 - counted and shown
                            errors.append(f"{type(exc).__name__}: {str(exc)[:80]}")
                        stop.wait(0.3)

                th = threading.Thread(target=annotate)
                th.start()
                t0 = time.perf_counter()
                imp(version, batch)
                took = time.perf_counter() - t0
                stop.set()
                th.join()
                print(f"| {version} | {batch:,} | {took:.1f} | {len(lat)} | "
                      f"{statistics.median(lat) if lat else float('nan'):.2f} | "
                      f"{max(lat) if lat else float('nan'):.2f} | {len(errors)} |")
                failures.extend(errors[:3])
            for e in failures:
                print(f"\nfailure: {e}")
            print("\nAnnotators wait about as long per submission with either request size, "
                  "but small requests keep Label Studio in that state several times as long.\n")
        finally:
            ls.stop()


if __name__ == "__main__":
    main()
