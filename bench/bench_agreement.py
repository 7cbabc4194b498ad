"""Label-quality report speed: 10,000 tasks x 5 annotators, synthetic and seeded.

Times :func:`labelloop.agreement.quality_report` on a label matrix (4 classes, 30 % of cells
missing, two model versions with scores) and, for the offline CLI path, ``read_export`` +
``control_report`` on the same data as parsed Label Studio export JSON. Prints markdown table rows
(median of ``--runs`` runs, after one warm-up run); the budget for ``quality_report`` is 2 s.

    .venv/bin/python bench/bench_agreement.py [--runs 7] [--header]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from labelloop.agreement import ModelPredictions, control_report, quality_report, read_export

N_TASKS, N_ANNOTATORS, N_CLASSES, N_MODELS = 10_000, 5, 4, 2
LABELS = ["negative", "neutral", "positive", "mixed"]


def synthetic(seed: int = 0) -> tuple[NDArray[np.float64], dict[str, ModelPredictions]]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, N_CLASSES, N_TASKS)
    noise = rng.integers(0, N_CLASSES, (N_TASKS, N_ANNOTATORS))
    right = rng.random((N_TASKS, N_ANNOTATORS)) < 0.8
    matrix = np.where(right, truth[:, None], noise).astype(float)
    matrix[rng.random(matrix.shape) < 0.3] = np.nan
    models = {}
    for i in range(N_MODELS):
        hit = rng.random(N_TASKS) < 0.85
        labels = np.where(hit, truth, rng.integers(0, N_CLASSES, N_TASKS)).astype(float)
        models[f"llm-v{i}"] = ModelPredictions(labels=labels, scores=rng.random(N_TASKS))
    return matrix, models


def as_export(
    matrix: NDArray[np.float64], models: dict[str, ModelPredictions]
) -> list[dict[str, Any]]:
    """The same data in the shape of a Label Studio JSON export."""

    def region(k: float) -> dict[str, Any]:
        return {"from_name": "sentiment", "to_name": "text", "type": "choices",
                "value": {"choices": [LABELS[int(k)]]}}  # fmt: skip

    tasks = []
    for i, row in enumerate(matrix):
        annotations = [
            {"completed_by": j + 1, "was_cancelled": False, "result": [region(k)]}
            for j, k in enumerate(row)
            if not np.isnan(k)
        ]
        predictions = [
            {"model_version": v, "score": float(m.scores[i]), "result": [region(m.labels[i])]}
            for v, m in models.items()
        ]
        tasks.append({"id": i + 1, "annotations": annotations, "predictions": predictions})
    return tasks


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm-up: imports, caches
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def row(name: str, times: list[float], budget: str) -> str:
    median = statistics.median(times)
    return (
        f"| {name} | {N_TASKS:,} tasks x {N_ANNOTATORS} annotators, {N_MODELS} models "
        f"| {median:.3f} s | {min(times):.3f} s | {max(times):.3f} s | {len(times)} | {budget} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--header", action="store_true", help="print the table header first")
    args = parser.parse_args()
    matrix, models = synthetic()
    tasks = as_export(matrix, models)
    if args.header:
        print("| benchmark | data | median | min | max | runs | budget |")
        print("|---|---|---|---|---|---|---|")
    report_times = timed(lambda: quality_report(matrix, labels=LABELS, models=models), args.runs)
    print(row("agreement: `quality_report`", report_times, "2 s"))
    control = read_export(tasks).controls["sentiment"]
    export_times = timed(
        lambda: control_report(read_export(tasks).controls["sentiment"]), args.runs
    )
    print(row("agreement: `read_export` + `control_report` (parsed JSON)", export_times, "-"))
    labelled = matrix[~np.all(np.isnan(matrix), axis=1)]  # the reader drops unlabelled tasks
    recode = np.array([control.labels.index(label) for label in LABELS], dtype=float)
    expected = np.where(np.isnan(labelled), np.nan, recode[np.nan_to_num(labelled).astype(int)])
    if not np.array_equal(control.matrix, expected, equal_nan=True):
        raise SystemExit("the export round trip changed the label matrix")


if __name__ == "__main__":
    main()
