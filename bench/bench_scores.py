"""How well the published score reads as a confidence: after one retrain of a synthetic
text-classification project (the retrain job itself, a fake Label Studio, the toy embedder of
tests/loop/test_retrain.py, 30 % of the texts mixing two classes' words), the distance between
each queued task's published ``score`` and its pre-label's own confidence (the region's
``score``), against the rank-based score published before (``rank / n``).

    .venv/bin/python bench/bench_scores.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "backend"), str(ROOT)]

import numpy as np
from tests.conftest import CONFIG, make_settings
from tests.fakes.label_studio import FakeGateway
from tests.loop.test_retrain import WORDS, label, run_retrain

from labelloop.storage.base import open_storage


def one(n: int, n_labelled: int) -> str:
    d = Path(tempfile.mkdtemp())
    storage = open_storage(make_settings(d).resolved_database_url)
    ls = FakeGateway()
    ls.add_project(1, CONFIG)
    rng = np.random.default_rng(n + n_labelled)
    words = list(WORDS.values())
    for i in range(1, n + 1):
        text = f"{words[i % 3]} movie number {i}" if rng.random() > 0.3 \
            else f"{words[i % 3]} {words[(i + 1) % 3]} film {i}"
        ls.add_task(1, i, {"text": text})
    label(ls, storage, list(range(1, n_labelled + 1)))
    version, queue = run_retrain(storage, ls, d)
    storage.close()
    pub = {p["task"]: p for p in ls.predictions if p["model_version"] == version.version}
    score = np.array([pub[e.task_id]["score"] for e in queue])
    own = np.array([pub[e.task_id]["result"][0]["score"] for e in queue])
    rank = np.arange(len(queue)) / len(queue)
    diff = np.abs(score - own)
    assert (np.diff(score) > 0).all()
    return (f"| {n} | {n_labelled} | {version.lineage['strategy']} | {diff.mean():.3f} | "
            f"{np.median(diff):.3f} | {(diff <= 0.05).mean():.0%} | "
            f"{np.abs(rank - own).mean():.3f} |")


def main() -> None:
    print("| tasks | labels | strategy | mean abs(score - own) | median | within 0.05 | "
          "mean abs(rank/n - own), before |")
    print("|---|---|---|---|---|---|---|")
    for n, n_labelled in ((300, 12), (300, 60), (1000, 100)):
        print(one(n, n_labelled))


if __name__ == "__main__":
    main()
