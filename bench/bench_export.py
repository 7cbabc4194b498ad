"""Dataset export of 100,000 tasks: `labelloop export` and `GET /api/projects/{id}/dataset`.

Seeds a SQLite database in a temporary data dir (:func:`tests.quality.seed.seed_big_project`:
``--tasks`` tasks, ``--human`` of them human-labelled, an LLM label and a local-model prediction
on every task, so the export fits its stacked labels), then runs each export ``--runs`` times:

- *command line*: ``labelloop export --data-dir D --project 1 --format F --output FILE`` as a
  subprocess, timed from start to exit (interpreter start-up and imports included), its peak RSS
  from ``wait4``; once more with ``--card FILE``;
- *HTTP*: ``labelloop serve --no-worker`` on that data dir, started once; ``GET /api/projects/1/
  dataset?format=F`` streamed to a file by httpx, timed to the last byte; the server's peak RSS
  of that run (``VmHWM``, reset through ``/proc/PID/clear_refs`` before each run); and
  ``?card=1``.

Each output is checked (one line per task, a CSV header) before it counts. For scale, the peak
RSS of ``labelloop --help`` and of the idle server. Prints a markdown section; target 10 s.

    .venv/bin/python bench/bench_export.py [--tasks 100000] [--human 3000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import make_settings
from tests.e2e.ls_harness import LabelloopProcess
from tests.quality.seed import seed_big_project

from labelloop.storage.base import open_storage

EXE = ROOT / ".venv" / "bin" / "labelloop"
TARGET_S = 10.0
IMPORTS = "import labelloop.cli.main, labelloop.quality.dataset, labelloop.quality.dataset_card"


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mib: float
    size_mb: float


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("LABELLOOP_", "LABEL_STUDIO_", "OPENAI_"))}


# A child's peak RSS counts what it held before exec, i.e. a copy of the process that forked
# it; this benchmark holds the seeded project, so a small launcher forks the measured command.
LAUNCHER = ("import os, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
            "_, status, usage = os.wait4(p.pid, 0)\n"
            "print(os.waitstatus_to_exitcode(status), time.perf_counter() - t, usage.ru_maxrss)")


def run_child(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one subprocess, which must exit 0."""
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], env=_env(),
                          capture_output=True, text=True, check=False)
    try:
        code, took, kib = done.stdout.split()
    except ValueError:
        raise SystemExit(f"{cmd}: {done.stdout} {done.stderr[-2000:]}") from None
    if int(code):
        raise SystemExit(f"{cmd} exited {code}: {done.stderr[-2000:]}")
    return float(took), int(kib) / 1024  # KiB on Linux


def check(path: Path, fmt: str, n: int) -> float:
    """The file's size in MB, after checking it holds one line per task (and a CSV header)."""
    with path.open("rb") as f:
        lines = sum(1 for _ in f)
    want = n + (fmt == "csv")
    if lines != want:
        raise SystemExit(f"{path}: {lines} lines, expected {want}")
    return path.stat().st_size / 1e6


def cli_runs(data_dir: Path, out: Path, fmt: str, n: int, runs: int, *,
             card: bool = False) -> list[Run]:
    cmd = [str(EXE), "export", "--data-dir", str(data_dir), "--project", "1", "--format", fmt,
           "--output", str(out), *(["--card", str(out.with_suffix(".card.json"))] if card else [])]
    got = []
    for _ in range(runs):
        out.unlink(missing_ok=True)
        took, peak = run_child(cmd)
        got.append(Run(took, peak, check(out, fmt, n)))
    return got


def _vm(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def http_runs(server: LabelloopProcess, out: Path, fmt: str, n: int, runs: int, *,
              card: bool = False) -> list[Run]:
    assert server.proc is not None
    pid = server.proc.pid
    params = {"card": "1"} if card else {"format": fmt}
    got = []
    with httpx.Client(base_url=server.url, timeout=300) as http:
        for _ in range(runs):
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS := current RSS
            start = time.perf_counter()
            with http.stream("GET", "/api/projects/1/dataset", params=params) as r, \
                    out.open("wb") as f:
                r.raise_for_status()
                for chunk in r.iter_bytes():
                    f.write(chunk)
            took = time.perf_counter() - start
            size = out.stat().st_size / 1e6 if card else check(out, fmt, n)
            got.append(Run(took, _vm(pid, "VmHWM"), size))
    return got


def row(what: str, runs: list[Run]) -> str:
    s = [r.seconds for r in runs]
    med = statistics.median(s)
    verdict = "met" if med <= TARGET_S else "**missed**"
    return (f"| {what} | {med:.2f} s | {min(s):.2f}–{max(s):.2f} s | {len(s)} "
            f"| {max(r.peak_mib for r in runs):.0f} MiB | {runs[0].size_mb:.1f} MB | {verdict} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--human", type=int, default=3_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    n = args.tasks
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        settings = make_settings(data_dir)
        storage = open_storage(settings.resolved_database_url)
        t0 = time.perf_counter()
        seed_big_project(storage, n, n_human=args.human, model=True)
        storage.close()
        seeded_s = time.perf_counter() - t0
        out = Path(tmp) / "out"
        _, help_mib = run_child([str(EXE), "--help"])
        imports = [run_child([sys.executable, "-c", IMPORTS])[0] for _ in range(args.runs)]
        rows = []
        for fmt in ("jsonl", "csv"):
            rows.append(row(f"`labelloop export --format {fmt}`",
                            cli_runs(data_dir, out.with_suffix(f".{fmt}"), fmt, n, args.runs)))
        rows.append(row("`labelloop export --format jsonl --card FILE`",
                        cli_runs(data_dir, out.with_suffix(".jsonl"), "jsonl", n, args.runs,
                                 card=True)))
        server = LabelloopProcess(data_dir, env={"LABELLOOP_WORKER_MODE": "external"}).start()
        try:
            idle_mib = _vm(server.proc.pid, "VmRSS") if server.proc else float("nan")
            for fmt in ("jsonl", "csv"):
                rows.append(row(f"HTTP `GET /api/projects/1/dataset?format={fmt}`",
                                http_runs(server, out.with_suffix(f".{fmt}"), fmt, n,
                                          args.runs)))
            rows.append(row("HTTP `GET /api/projects/1/dataset?card=1`",
                            http_runs(server, out.with_suffix(".json"), "json", n, args.runs,
                                      card=True)))
        finally:
            server.stop()
    print(f"## Dataset export of {n:,} tasks (`bench/bench_export.py`)\n")
    print(f"A seeded SQLite project: {n:,} tasks, {args.human:,} human labels, an LLM label and a "
          "local-model prediction on every task (so the machine labels are the stacked fit). "
          "Command line: `labelloop export` as a subprocess, start to exit (start-up and imports "
          "included), peak RSS of the process. HTTP: `labelloop serve --no-worker` on the same "
          "data dir, the answer streamed to a file, time to the last byte, peak RSS of the "
          "server during that request. Target ≤ 10 s.\n")
    print("| export | median | min–max | runs | peak RSS | output | ≤ 10 s |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nFor scale: `labelloop --help` peaks at {help_mib:.0f} MiB, the idle server holds "
          f"{idle_mib:.0f} MiB; of the command line's time, {statistics.median(imports):.1f} s "
          "(median) is Python importing the CLI and the export's modules "
          f"(`python -c \"{IMPORTS}\"`). Seeding the database took {seeded_s:.0f} s; load "
          f"average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.")


if __name__ == "__main__":
    main()
