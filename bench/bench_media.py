"""The *Media* section of docs/benchmarks.md (issue 19), measured side by side in one run: media
embedding throughput against the bare encoder (``bench_media_embed.py``), video sampling and
embedding (``bench_media_video.py``), and active learning on the digits
(``bench_media_simulate.py``), one after another (never in parallel: they share the cores).

    .venv/bin/python bench/bench_media.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = [
    ("Image and audio embedding throughput against the bare encoder",
     ["bench/bench_media_embed.py"], ["--runs", "2", "--photos", "40", "--clips", "40"]),
    ("Video: frames sampled by PyAV, embedded by the built-in image embedder, pooled",
     ["bench/bench_media_video.py"], ["--clips", "4"]),
    ("Active learning on an offline image set (digits)",
     ["bench/bench_media_simulate.py"], ["--seeds", "2"]),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs, clips and seeds")
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "backend"), str(ROOT)])}
    print("## Media (issue 19: `bench/bench_media.py`)\n")
    print(f"On {time.strftime('%Y-%m-%d')}, commit "
          + subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                           capture_output=True, check=False).stdout.strip()
          + f", {os.cpu_count()} cores shared with other work (load average at the start "
          f"{os.getloadavg()[0]:.1f}).")
    failed = 0
    for title, cmd, quick in PARTS:
        argv = [*cmd, *(quick if args.quick else [])]
        start = time.time()
        proc = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, text=True,
                              capture_output=True, check=False)
        print(f"\n### {title} (`{' '.join(argv)}`, {time.time() - start:.0f} s, load average "
              f"after {os.getloadavg()[0]:.1f})\n")
        if proc.returncode != 0:
            failed += 1
            print(f"FAILED (exit {proc.returncode}):\n\n```\n{proc.stderr[-2000:]}\n```")
            continue
        print(proc.stdout.rstrip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
