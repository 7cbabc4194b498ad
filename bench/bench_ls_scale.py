"""What Label Studio's own calls cost on a 100,000-task project, with and without its
memory-efficient prediction import.

Label Studio 1.23.2's ``POST /api/projects/{id}/import/predictions`` has two code paths behind
the feature flag ``fflag_fix_back_4620_memory_efficient_predictions_import_08012025_short``
(off by default; an environment variable of that name turns it on). The default path recounts
every task of the project after each request; the flagged one recounts only the tasks it touched.
This starts a real Label Studio (e2e harness, SQLite, loopback), imports ``--tasks`` tasks once,
then restarts it with the flag off and on and times, side by side, the calls a publish makes:
an import of 1,000 and of 20,000 predictions, the PATCH that switches the queue, ``/next/``, an
annotation, and deleting a version.

    .venv/bin/python bench/bench_ls_scale.py --tasks 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.ls_harness import EFFICIENT_IMPORT as FLAG
from tests.e2e.ls_harness import LabelStudioServer, choice_result, create_text_project

from labelloop.labelstudio.gateway import LabelStudioGateway


def timed(fn, *args, **kwargs) -> float:
    t = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=100_000)
    args = ap.parse_args()
    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "ls"
        ls = LabelStudioServer(data, extra_env={FLAG: "false"}).start()
        try:
            t0 = time.perf_counter()
            p = create_text_project(ls.sdk, args.tasks, title="bench scale")
            print(f"imported {args.tasks:,} tasks in {time.perf_counter() - t0:.0f} s",
                  flush=True)
        finally:
            ls.stop()
        ids = p.task_ids
        offset = 0
        for mode, flag in (("default import", "false"), ("flag on", "true")):
            ls = LabelStudioServer(data, token=ls.token, username=ls.username,
                                   password=ls.password, extra_env={FLAG: flag}).start()
            try:
                gw = ls.gateway

                def imp(version: str, n: int, gw: LabelStudioGateway = gw) -> float:
                    nonlocal offset
                    chunk = ids[offset:offset + n]
                    offset += n
                    return timed(gw.import_predictions, p.id, [
                        {"task": t, "result": choice_result("positive"), "score": i / n,
                         "model_version": version} for i, t in enumerate(chunk)])

                tag = "on" if flag == "true" else "off"
                rows.append((mode, "import 1,000 predictions", imp(f"{tag}-a", 1_000)))
                rows.append((mode, "import 20,000 predictions", imp(f"{tag}-b", 20_000)))
                rows.append((mode, "PATCH model_version + sampling", timed(
                    gw.update_project, p.id, model_version=f"{tag}-a",
                    sampling="Uncertainty sampling")))
                rows.append((mode, "GET /next/", timed(gw.next_task, p.id)))
                served = gw.next_task(p.id)
                rows.append((mode, "POST an annotation", timed(
                    ls.sdk.annotations.create, id=served["id"],
                    result=choice_result("negative"))))
                rows.append((mode, "DELETE a 20,000-prediction version", timed(
                    gw.delete_model_version, p.id, f"{tag}-b")))
                rows.append((mode, "DELETE a 1,000-prediction version", timed(
                    gw.delete_model_version, p.id, f"{tag}-a")))
                for r in rows[-7:]:
                    print(f"{r[0]:>15} | {r[1]:<36} | {r[2]:7.2f} s", flush=True)
            finally:
                ls.stop()
    print(f"\n## Label Studio's calls on a {args.tasks:,}-task project (`bench/bench_ls_scale.py`)"
          "\n")
    print(f"| call | default import s | `{FLAG}=true` s |")
    print("|---|---:|---:|")
    by = {(m, c): s for m, c, s in rows}
    for call in dict.fromkeys(c for _, c, _ in rows):
        print(f"| {call} | {by[('default import', call)]:.2f} | {by[('flag on', call)]:.2f} |")


if __name__ == "__main__":
    main()
