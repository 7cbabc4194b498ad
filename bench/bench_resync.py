"""Resync of a large project from a real Label Studio: time, memory, and resuming a walk.

Starts Label Studio 1.23.2 (e2e harness, SQLite, loopback), imports ``--tasks`` tasks (one in
every 1,000 annotated), then runs each resync in a fresh child process against a SQLite storage,
reading the child's peak RSS (``VmHWM``) next to its RSS before the walk:

* *first*: an empty storage pulls every task (what connecting a project costs);
* *again*: the same storage, nothing changed in Label Studio (the periodic resync);
* *interrupted* + *resumed*: a fresh storage; the walk is stopped after half the pages, then a
  second process resumes from the checkpoint the first one left (what a retried job does).

    .venv/bin/python bench/bench_resync.py --tasks 100000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class _Stop(Exception):
    pass


def _vm(field: str) -> int:
    """``VmRSS``/``VmHWM`` of this process in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(args: argparse.Namespace) -> None:
    """One resync in this process; prints a JSON line."""
    from labelloop.labelstudio.client import make_gateway
    from labelloop.labelstudio.sync import SyncReport, resync_project
    from labelloop.storage.base import open_storage

    storage = open_storage(f"sqlite:///{args.db}")
    gateway = make_gateway(args.url, args.token, timeout=120.0, max_retries=2)
    resume = SyncReport.resume(json.loads(Path(args.checkpoint).read_text())) \
        if args.resume else None
    checkpoint: dict = {}
    # the walk continues (mutates) the resumed report: what this process fetches is the rest
    start_seen, start_pages = (resume.tasks_seen, resume.pages) if resume else (0, 0)

    def on_page(r: SyncReport) -> None:
        checkpoint.update(r.checkpoint())
        if args.stop_after_pages and r.pages >= args.stop_after_pages:
            raise _Stop

    before = _vm("VmRSS")
    t0 = time.perf_counter()
    try:
        report = resync_project(storage, gateway, args.project, page_size=args.page_size,
                                on_page=on_page, resume=resume)
        seen, pages = report.tasks_seen, report.pages
    except _Stop:
        seen, pages = checkpoint["tasks_seen"], checkpoint["pages"]
        Path(args.checkpoint).write_text(json.dumps(checkpoint))
    seen, pages = seen - start_seen, pages - start_pages
    print(json.dumps({"seconds": time.perf_counter() - t0, "rss_before": before,
                      "peak": _vm("VmHWM"), "tasks_seen": seen, "pages": pages}))
    storage.close()


def run_child(*extra: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *extra], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--page-size", type=int, default=500)
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--url"), ap.add_argument("--token"), ap.add_argument("--db")
    ap.add_argument("--project", type=int), ap.add_argument("--checkpoint")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--stop-after-pages", type=int, default=0)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    from tests.e2e.ls_harness import LabelStudioServer, choice_result, create_text_project

    rows: list[tuple[str, dict]] = []
    with tempfile.TemporaryDirectory() as tmp:
        ls = LabelStudioServer(Path(tmp) / "ls").start()
        try:
            p = create_text_project(ls.sdk, args.tasks, title="bench resync")
            for tid in p.task_ids[::1000]:
                ls.sdk.annotations.create(id=tid, result=choice_result("positive"))
            common = ["--url", ls.url, "--token", ls.token, "--project", str(p.id),
                      "--page-size", str(args.page_size),
                      "--checkpoint", str(Path(tmp) / "checkpoint.json")]
            full = ["--db", str(Path(tmp) / "full.db")]
            rows.append(("first (empty storage)", run_child(*common, *full)))
            rows.append(("again (nothing changed)", run_child(*common, *full)))
            half = max(1, args.tasks // args.page_size // 2)
            part = ["--db", str(Path(tmp) / "part.db")]
            rows.append((f"interrupted after {half} pages",
                         run_child(*common, *part, "--stop-after-pages", str(half))))
            rows.append(("resumed from its checkpoint", run_child(*common, *part, "--resume")))
        finally:
            ls.stop()
    print(f"\n## Resync of {args.tasks:,} tasks (`bench/bench_resync.py`, pages of "
          f"{args.page_size})\n")
    print("| walk | s | tasks fetched | pages | RSS before MiB | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['seconds']:.1f} | {r['tasks_seen']:,} | {r['pages']} | "
              f"{r['rss_before']} | {r['peak']} |")


if __name__ == "__main__":
    main()
