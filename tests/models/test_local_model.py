"""The local model: full label set whatever the training data, calibration, speed, lineage."""

from __future__ import annotations

import time

import numpy as np
import pytest
from tests.selection.helpers import blobs

from labelloop.errors import InvalidInput
from labelloop.models import (
    InvalidTrainingData,
    fit_local_model,
    model_from_bytes,
    model_lineage,
    model_to_bytes,
    predict,
    predict_proba,
    train_hash,
    train_local_model,
    version_name,
)

LABELS = ["positive", "negative", "neutral", "mixed"]


def _data(n: int, n_classes: int = 4, seed: int = 0, spread: float = 0.6):
    return blobs(n, n_classes=n_classes, dim=32, seed=seed, spread=spread)


class TestFullLabelSet:
    def test_probabilities_cover_every_label_in_config_order(self) -> None:
        x, y = _data(200)
        model = fit_local_model(x, y, labels=LABELS)
        p = predict_proba(model, x)
        assert p.shape == (200, 4)
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
        assert (predict(model, x) == y).mean() > 0.9  # the order matches the labels

    def test_unseen_classes_get_a_small_floor(self) -> None:
        x, y = _data(100, n_classes=2)  # only positive and negative seen
        model = fit_local_model(x, y, labels=LABELS)
        p = predict_proba(model, x)
        np.testing.assert_allclose(p[:, 2:], 1.0 / (100 + 4))
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
        assert model.class_counts[2:] == (0, 0)

    def test_one_seen_class(self) -> None:
        x, _ = _data(5)
        model = fit_local_model(x, np.full(5, 2), labels=LABELS)
        p = predict_proba(model, x)
        assert (np.argmax(p, axis=1) == 2).all()
        np.testing.assert_allclose(p[:, 2], 1 - 3 / (5 + 4))

    def test_no_labels_at_all_is_uniform(self) -> None:
        model = fit_local_model(np.zeros((0, 8)), np.zeros(0, dtype=np.int64), labels=LABELS)
        np.testing.assert_allclose(predict_proba(model, np.ones((3, 8))), 0.25)

    def test_one_example_per_class(self) -> None:
        x, _ = _data(4)
        model = fit_local_model(x, np.arange(4), labels=LABELS)
        np.testing.assert_array_equal(predict(model, x), np.arange(4))

    def test_two_seen_classes_out_of_four(self) -> None:
        x, y = _data(60, n_classes=2, seed=3)
        model = fit_local_model(x, y * 3, labels=LABELS)  # classes 0 and 3
        assert set(predict(model, x).tolist()) <= {0, 3}
        assert (predict(model, x) == y * 3).mean() > 0.9

    def test_multiple_choice_one_vs_rest(self) -> None:
        x, y = _data(150, n_classes=3)
        t = np.zeros((150, 4), dtype=np.int8)
        t[np.arange(150), y] = 1
        t[:, 3] = 0  # never chosen
        t[:10, 1] = 1  # some items carry two labels
        model = fit_local_model(x, t, labels=LABELS, multi_label=True)
        p = predict_proba(model, x)
        assert p.shape == (150, 4) and ((p >= 0) & (p <= 1)).all()
        np.testing.assert_allclose(p[:, 3], 1 / 152)  # Laplace estimate of a never-used label
        assert (predict(model, x)[:, 0] == (y == 0)).mean() > 0.9


class TestTraining:
    def test_retrains_in_milliseconds(self) -> None:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((400, 384)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        y = rng.integers(0, 3, 400)
        fit_local_model(x, y, labels=LABELS[:3])  # warm-up
        best = min(_time_fit(x, y) for _ in range(3))
        assert best < 0.25, f"fit took {best * 1000:.0f} ms"

    def test_cross_validated_metrics(self) -> None:
        x, y = _data(120, n_classes=3, seed=1)
        result = train_local_model(x, y, labels=LABELS[:3], seed=0)
        assert result.metrics is not None
        assert result.metrics.n_folds == 5 and result.metrics.n_items == 120
        assert 0.8 < result.metrics.accuracy <= 1.0
        assert 0.8 < result.metrics.macro_f1 <= 1.0

    def test_random_labels_score_near_chance(self) -> None:
        x, _ = _data(300, n_classes=3, seed=2)
        y = np.random.default_rng(9).integers(0, 3, 300)
        result = train_local_model(x, y, labels=LABELS[:3])
        assert result.metrics is not None and result.metrics.accuracy < 0.5

    def test_too_few_labels_for_cross_validation(self) -> None:
        x, _ = _data(3)
        result = train_local_model(x, np.array([0, 1, 2]), labels=LABELS)
        assert result.metrics is None and result.model.temperature == 1.0

    def test_rare_classes_use_fewer_folds(self) -> None:
        x, y = _data(40, n_classes=3, seed=4)
        y[:] = 0
        y[:3] = 1
        y[3] = 2  # a singleton class
        result = train_local_model(x, y, labels=LABELS[:3])
        assert result.metrics is not None and result.metrics.n_folds == 3

    def test_calibration_does_not_worsen_log_loss(self) -> None:
        x, y = _data(400, n_classes=3, seed=5, spread=1.2)  # overlapping classes
        plain = train_local_model(x, y, labels=LABELS[:3], calibrate=False)
        tuned = train_local_model(x, y, labels=LABELS[:3], calibrate=True)
        assert plain.metrics is not None and tuned.metrics is not None
        assert tuned.model.temperature != 1.0
        assert tuned.metrics.log_loss <= plain.metrics.log_loss + 1e-9

    @pytest.mark.parametrize("bad_y, match", [
        (np.array([0, 1, 9]), r"\[0, 4\)"), (np.array([0, 1]), "3 integer"),
        (np.array([0.0, 1.0, 1.0]), "integer")])
    def test_bad_labels(self, bad_y: np.ndarray, match: str) -> None:
        with pytest.raises(InvalidTrainingData, match=match):
            fit_local_model(np.zeros((3, 4)), bad_y, labels=LABELS)

    def test_bad_embeddings(self) -> None:
        with pytest.raises(InvalidTrainingData, match="finite"):
            fit_local_model(np.full((2, 4), np.nan), np.array([0, 1]), labels=LABELS)
        model = fit_local_model(np.eye(4), np.arange(4), labels=LABELS)
        with pytest.raises(InvalidTrainingData, match=r"\(n, 4\)"):
            predict_proba(model, np.ones((2, 5)))
        assert issubclass(InvalidTrainingData, InvalidInput)


def _time_fit(x: np.ndarray, y: np.ndarray) -> float:
    t = time.perf_counter()
    fit_local_model(x, y, labels=LABELS[:3])
    return time.perf_counter() - t


class TestLineage:
    def test_artifact_round_trip(self) -> None:
        x, y = _data(80)
        model = train_local_model(x, y, labels=LABELS).model
        again = model_from_bytes(model_to_bytes(model))
        np.testing.assert_array_equal(predict_proba(model, x), predict_proba(again, x))
        assert again.labels == model.labels and again.temperature == model.temperature

    def test_garbage_is_not_an_artifact(self) -> None:
        with pytest.raises(InvalidInput):
            model_from_bytes(b"not a model")

    def test_train_hash_ignores_order_and_sees_changes(self) -> None:
        y = np.array([0, 1, 2])
        a = train_hash([10, 11, 12], y, embedder="m", params={"C": 1})
        assert a == train_hash([12, 10, 11], y[[2, 0, 1]], embedder="m", params={"C": 1})
        assert a != train_hash([10, 11, 12], np.array([0, 1, 1]), embedder="m", params={"C": 1})
        assert a != train_hash([10, 11, 12], y, embedder="other", params={"C": 1})

    def test_lineage_record(self) -> None:
        x, y = _data(60)
        result = train_local_model(x, y, labels=LABELS)
        lineage = model_lineage(result.model, result.metrics, task_ids=list(range(60)), y=y,
                                embedder="minilm", parent="labelloop-abc")
        assert lineage["parent"] == "labelloop-abc" and lineage["n_train"] == 60
        assert set(lineage["class_counts"]) == set(LABELS)
        assert lineage["cv"]["folds"] == 5 and 0 <= lineage["cv"]["macro_f1"] <= 1
        name = version_name("labelloop", lineage)
        assert name.startswith("labelloop-") and len(name) == len("labelloop-") + 12
