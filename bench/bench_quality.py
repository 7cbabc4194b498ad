"""Label-quality service and dashboard speed on 10,000 labelled tasks x 5 annotators.

Seeds a SQLite database (``tests/quality/seed.py``: 10,000 human-labelled tasks, 5 annotators
of accuracy 0.95 .. 0.65 labelling 70 % of them each, plus 2,000 unreviewed tasks; LLM labels on
all 12,000, local-model predictions on the labelled ones, audit draws, lineage, jobs, LLM calls),
then times, median of ``--runs`` after one warm-up:

- the storage read (``read_project_labels``) and the pure report (``quality_from_labels``);
- ``project_quality`` (storage -> report), the whole service path;
- ``GET /api/projects/1/quality`` and ``GET /api/projects/1/dashboard`` on a real uvicorn server,
  *warm* (data unchanged: the app's ``ReportCache`` answers) and *changed* (one new annotation
  written before each request, so the report is computed again);
- the dashboard page in headless Chromium, from navigation start to the figures drawn
  (``window.labelloopRenderedAt``), warm and changed; the budget is 1 s. Skipped when chromium is
  not installed.

Prints markdown table rows.

    .venv/bin/python bench/bench_quality.py [--runs 5] [--header]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import make_settings
from tests.dashboard.browser import Chromium, LiveServer, chromium_path
from tests.quality.seed import annotation, seed_project

from labelloop.api.app import Overrides, create_app
from labelloop.quality.data import read_project_labels
from labelloop.quality.service import project_quality, quality_from_labels
from labelloop.storage.base import Storage, open_storage

N_LABELLED, N_REST, N_ANNOTATORS = 10_000, 2_000, 5
DATA = f"{N_LABELLED:,} labelled tasks x {N_ANNOTATORS} annotators (+{N_REST:,} unreviewed)"


def timed(fn: Callable[[], object], runs: int,
          before: Callable[[], object] = lambda: None) -> list[float]:
    """Seconds per run of ``fn`` (``before`` runs untimed ahead of each), after a warm-up."""
    fn()
    out = []
    for _ in range(runs):
        before()
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


class NewAnnotation:
    """Each call writes one more annotation (a changed project: the cache must recompute)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.next_id = 10_000_000

    def __call__(self) -> None:
        self.next_id += 1
        with self.storage.write() as tx:
            tx.upsert_annotations([annotation(self.next_id, 100_000 + self.next_id % 1000,
                                              99, "neutral")], source="webhook")


def row(name: str, times: list[float], budget: str, data: str = DATA) -> str:
    return (f"| {name} | {data} | {statistics.median(times):.3f} s | {min(times):.3f} s "
            f"| {max(times):.3f} s | {len(times)} | {budget} |")


def page_loads(url: str, runs: int,
               before: Callable[[], object] = lambda: None) -> tuple[float, list[float]]:
    """(first load, later loads) in seconds: navigation start -> dashboard drawn."""
    ready = ("document.body && document.body.dataset.state !== 'loading' && "
             "document.body.dataset.state")
    out = []
    with Chromium() as browser:
        page = browser.page()
        for _ in range(runs + 1):
            before()
            page.navigate(url)
            state = page.wait_for(ready, timeout=30)
            if state != "ready":
                raise SystemExit(f"dashboard failed: {page.problems()}")
            out.append(page.evaluate("window.labelloopRenderedAt") / 1000)
        if page.problems():
            raise SystemExit(f"dashboard console problems: {page.problems()}")
    return out[0], out[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--header", action="store_true", help="print the table header first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp))
        storage = open_storage(settings.resolved_database_url)
        t0 = time.perf_counter()
        seed_project(storage, n_tasks=N_LABELLED + N_REST, n_annotators=N_ANNOTATORS,
                     labelled_share=N_LABELLED / (N_LABELLED + N_REST), cell_share=0.7,
                     audit_share=0.05, seed=0)
        seeded_s = time.perf_counter() - t0
        if args.header:
            print("| benchmark | data | median | min | max | runs | budget |")
            print("|---|---|---|---|---|---|---|")

        def read() -> object:
            with storage.read() as tx:
                return read_project_labels(tx, 1)

        data = read()
        print(row("quality: storage read (`read_project_labels`)", timed(read, args.runs), "-"))
        print(row("quality: arrays + report (`quality_from_labels`)",
                  timed(lambda: quality_from_labels(data), args.runs), "-"))
        print(row("quality: storage -> report (`project_quality`)",
                  timed(lambda: project_quality(storage, 1), args.runs), "2 s"))
        app = create_app(settings, Overrides(storage=storage, start_worker=False))
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
            change = NewAnnotation(storage)
            for path in ("/api/projects/1/quality", "/api/projects/1/dashboard"):
                for state, before in (("warm", lambda: None), ("changed", change)):
                    times = timed(lambda p=path: http.get(p).raise_for_status(), args.runs,
                                  before)
                    print(row(f"HTTP `GET {path}`, {state}", times, "-"))
            if chromium_path():
                for state, before in (("warm", lambda: None), ("changed", change)):
                    first, loads = page_loads(f"{server.url}/", args.runs, before)
                    print(row(f"dashboard page in Chromium, {state}: navigation -> figures drawn",
                              loads, "1 s", f"{DATA}; first load {first:.3f} s"))
            else:
                print("| dashboard page in Chromium | skipped: chromium not installed |"
                      " - | - | - | 0 | 1 s |")
        storage.close()
    print(f"\n(seeding the database took {seeded_s:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
