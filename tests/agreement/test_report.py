"""The JSON quality report, and its speed on 10,000 tasks x 5 annotators."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from labelloop.agreement import (
    ModelPredictions,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
    quality_report,
)
from labelloop.errors import InvalidInput

nan = np.nan
REQUIRED = {
    "n_tasks",
    "annotators",
    "percent_agreement",
    "fleiss_kappa",
    "krippendorff_alpha",
    "pairwise_cohen_kappa",
    "per_annotator",
    "models",
}


def synthetic(n_tasks: int, n_annotators: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Annotators right 80 % of the time, 30 % of cells missing; returns (matrix, truth)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, n_tasks)
    noise = rng.integers(0, 4, (n_tasks, n_annotators))
    m = np.where(rng.random((n_tasks, n_annotators)) < 0.8, truth[:, None], noise).astype(float)
    m[rng.random(m.shape) < 0.3] = nan
    return m, truth


def test_report_holds_every_statistic_and_is_strict_json() -> None:
    m, truth = synthetic(400, 4, seed=1)
    preds = np.where(np.arange(400) % 5 == 0, (truth + 1) % 4, truth).astype(float)
    scores = np.full(400, 0.8)
    report = quality_report(
        m,
        labels=["a", "b", "c", "d"],
        annotators=["u1", "u2", "u3", "u4"],
        models={"v1": ModelPredictions(labels=preds, scores=scores)},
    )
    assert REQUIRED <= set(report)
    json.dumps(report, allow_nan=False)
    assert report["n_tasks"] == 400 and report["annotators"] == ["u1", "u2", "u3", "u4"]
    assert report["percent_agreement"] == pytest.approx(percent_agreement(m))
    assert report["fleiss_kappa"] == pytest.approx(fleiss_kappa(m))
    assert report["krippendorff_alpha"] == pytest.approx(krippendorff_alpha(m))
    assert {(p["a"], p["b"]) for p in report["pairwise_cohen_kappa"]} == {
        ("u1", "u2"), ("u1", "u3"), ("u1", "u4"), ("u2", "u3"), ("u2", "u4"), ("u3", "u4")
    }  # fmt: skip
    assert [a["annotator"] for a in report["per_annotator"]] == ["u1", "u2", "u3", "u4"]
    v1 = report["models"]["v1"]
    assert v1["coverage"] == 1.0
    # Majority of 80 %-accurate humans is mostly the truth, and the model is right 80 % of the time.
    assert 0.7 < v1["accuracy"] < 0.9
    assert set(v1["per_class"]) == {"a", "b", "c", "d"}
    assert v1["calibration"]["n"] == v1["n"] and 0 <= v1["calibration"]["ece"] < 0.1
    assert report["notes"] == []


def test_undefined_values_become_null_with_a_note() -> None:
    m = np.array([[0, nan], [nan, 1], [1, nan]])  # nobody overlaps
    model = ModelPredictions(labels=np.array([0, 0, 0.0]), scores=np.array([nan, 3.0, 0.2]))
    report = quality_report(m, labels=["x", "y"], models={"m": model})
    json.dumps(report, allow_nan=False)
    for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "fleiss_subset"):
        assert report[key] is None
    assert report["pairwise_cohen_kappa"] == [] and report["per_annotator"] == []
    assert len(report["notes"]) == 6  # five statistics + the model's scores
    assert any("scores outside [0, 1]" in note for note in report["notes"])
    assert report["models"]["m"]["accuracy"] == pytest.approx(1 / 3)  # consensus 0, 1, 1
    assert report["models"]["m"]["calibration"] is None
    assert report["consensus"] == {"n_tasks": 3, "ties": 0}


def test_model_without_overlap_and_undefined_kappa() -> None:
    m = np.array([[0, 0], [0, 0.0]])
    none = ModelPredictions(labels=np.full(2, nan), scores=np.full(2, nan))
    report = quality_report(m, labels=["x", "y"], models={"none": none})
    assert report["models"]["none"]["n"] == 0 and report["models"]["none"]["accuracy"] is None
    assert report["pairwise_cohen_kappa"] == [{"a": 0, "b": 1, "n": 2, "kappa": None}]
    assert report["krippendorff_alpha"] is None and report["percent_agreement"] == 1.0


def test_per_label_block_for_multiple_choice() -> None:
    binary = np.array([[[1, 1], [0, 0]], [[0, 1], [1, 1.0]]])
    report = quality_report(
        np.array([[0, 1], [1, 1.0]]),
        labels=["a", "a + b"],
        choice_matrices=binary,
        choices=["a", "b"],
    )
    assert [row["label"] for row in report["per_label"]] == ["a", "b"]
    assert report["per_label"][0]["percent_agreement"] == 1.0


def test_annotator_ids_must_match_columns() -> None:
    with pytest.raises(InvalidInput, match="2 annotator ids for 3"):
        quality_report(np.zeros((2, 3)), labels=["a"], annotators=["u", "v"])


def test_ten_thousand_tasks_by_five_annotators_within_two_seconds() -> None:
    m, truth = synthetic(10_000, 5, seed=2)
    rng = np.random.default_rng(3)
    models = {
        f"v{i}": ModelPredictions(
            labels=np.where(rng.random(10_000) < 0.85, truth, rng.integers(0, 4, 10_000)).astype(
                float
            ),
            scores=rng.random(10_000),
        )
        for i in range(2)
    }
    start = time.perf_counter()
    report = quality_report(m, labels=list("abcd"), models=models)
    assert time.perf_counter() - start < 2.0
    assert report["n_tasks"] == 10_000 and len(report["pairwise_cohen_kappa"]) == 10
