"""The stopping signal (quality/stopping.py): κ of successive models on the stop set, the learning
curve's slope, expected wrong machine labels, and the verdict in words."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score

from labelloop.labelconfig.spans import Span
from labelloop.quality.stopping import (
    RetrainPoint,
    StoppingOptions,
    label_key,
    machine_label_record,
    point_of,
    recent_slope,
    retrain_points,
    stop_set_kappa,
    stop_set_positions,
    stopping_signal,
)
from labelloop.storage.records import ModelVersion

IDS = tuple(range(1, 501))


def point(n: int, labels: np.ndarray, score: float | None = 0.8, **kw: object) -> RetrainPoint:
    return RetrainPoint(f"m{n}", n, score, IDS, tuple(str(v) for v in labels), **kw)  # type: ignore[arg-type]


def flipped(base: np.ndarray, share: float, rng: np.random.Generator, k: int = 3) -> np.ndarray:
    """``base`` with ``share`` of the labels moved to another class."""
    out = base.copy()
    which = rng.choice(base.size, size=round(share * base.size), replace=False)
    out[which] = (out[which] + rng.integers(1, k, which.size)) % k
    return out


def test_stop_set_is_deterministic_bounded_and_stable_as_tasks_arrive() -> None:
    ids = np.arange(1000, 3000)
    pos = stop_set_positions(ids)
    assert pos.size == 500 and np.all(np.diff(pos) > 0)
    assert np.array_equal(pos, stop_set_positions(ids.copy()))
    chosen = set(ids[pos].tolist())
    grown = np.arange(1000, 3100)  # 100 new tasks
    now = set(grown[stop_set_positions(grown)].tolist())
    assert len(chosen - now) <= 100 and len(now - chosen) <= 100 and len(chosen & now) >= 400
    assert not np.array_equal(ids[pos], np.arange(1000, 1500))  # by hash, not the first ids
    small = np.array([5, 9, 2])
    assert stop_set_positions(small).tolist() == [0, 1, 2]


def test_label_keys_for_choices_and_span_sets() -> None:
    assert label_key(("positive",)) == "positive" and label_key(("a", "b")) == "a|b"
    assert label_key(None) is None
    a = (Span(0, 4, "PER"), Span(10, 15, "LOC"))
    assert label_key(a) == label_key(tuple(a)) and label_key(a) != label_key(a[:1])
    assert label_key(a).startswith("spans:") and label_key(()) == ""  # type: ignore[union-attr]


def test_stop_set_kappa_matches_scikit_learn_on_the_shared_tasks() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, 500)
    y = flipped(x, 0.2, rng)
    a, b = point(10, x), point(20, y)
    kappa, n = stop_set_kappa(a, b)
    assert n == 500 and kappa == pytest.approx(cohen_kappa_score(x, y))
    assert stop_set_kappa(b, a)[0] == pytest.approx(kappa)  # symmetric
    assert stop_set_kappa(a, a) == (1.0, 500)
    const = point(30, np.zeros(500, dtype=int))
    assert stop_set_kappa(const, const)[0] == 1.0  # κ's 0/0: full agreement
    # only the tasks both labelled count
    half = RetrainPoint("h", 40, None, IDS[:250], tuple(str(v) for v in y[:250]))
    k2, n2 = stop_set_kappa(a, half)
    assert n2 == 250 and k2 == pytest.approx(cohen_kappa_score(x[:250], y[:250]))
    assert stop_set_kappa(a, RetrainPoint("z", 1, None, (9999,), ("0",))) == (None, 0)


def test_verdict_flips_when_successive_models_stop_changing() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 500)
    points: list[RetrainPoint] = []
    verdicts = []
    shares = [0.3, 0.2, 0.1, 0.05, 0.02, 0.004, 0.002, 0.0, 0.002]
    for step, share in enumerate(shares):
        labels = flipped(labels, share, rng)
        points.append(point(20 * (step + 1), labels, 0.85))
        verdicts.append(stopping_signal(points).verdict)
    assert verdicts[:3] == ["not_enough_retrains"] * 3  # 3 κ values need 4 retrains
    flip = verdicts.index("stop")
    assert set(verdicts[3:flip]) == {"keep_labelling"} and set(verdicts[flip:]) == {"stop"}
    s = stopping_signal(points)
    assert s.stable and s.window_kappa is not None and s.window_kappa >= 0.99
    assert s.window_kappa == pytest.approx(np.mean([k.kappa for k in s.kappas[-3:]]))
    assert s.message.startswith("labels have stopped paying: ")
    before = stopping_signal(points[:flip])
    assert not before.stable and before.window_kappa < 0.99  # type: ignore[operator]
    assert before.message.startswith("keep labelling: the model's predictions still change")


def test_a_still_rising_learning_curve_keeps_labelling_despite_stable_predictions() -> None:
    labels = np.arange(500) % 3
    rising = [point(100 * i, labels, 0.6 + 0.03 * i) for i in range(1, 6)]
    s = stopping_signal(rising)
    assert s.stable and s.slope_per_100 == pytest.approx(0.03)
    assert s.verdict == "keep_labelling" and "+3.00 points per 100 labels" in s.message
    flat = stopping_signal(rising, options=StoppingOptions(flat_slope=0.05))
    assert flat.verdict == "stop"


def test_retrains_without_new_labels_are_not_new_models() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 3, 500)
    b = flipped(a, 0.3, rng)
    # the same 40 labels retrained three times (a resync): one model, not three stable ones
    same = [point(20, a), point(40, b), point(40, b), point(40, b), point(40, b)]
    s = stopping_signal(same)
    assert s.verdict == "not_enough_retrains" and len(s.kappas) == 1 and s.n_retrains == 2
    assert "not enough retrains yet: 1 of the 3" in s.message


def test_expected_wrong_labels_are_read_from_the_last_retrain() -> None:
    assert machine_label_record([0.9, None, 0.6, 1.2]) == {"n": 3, "expected_wrong":
                                                          pytest.approx(0.5)}
    labels = np.arange(500) % 3
    pts = [point(20 * i, labels, 0.9, n_machine_labelled=1000, expected_wrong=40.0 - i)
           for i in range(1, 6)]
    s = stopping_signal(pts)
    assert s.expected_wrong == 35.0 and s.n_machine_labelled == 1000
    assert "about 35 of the 1,000 machine-labelled tasks are expected wrong" in s.message
    assert s.to_json()["expected_wrong"] == 35.0


def test_lineage_is_read_leniently() -> None:
    versions = [
        ModelVersion(1, "m0", "retrain", {"n_labeled": 0, "strategy": "cold_start",
                                          "stop_set": {"task_ids": [], "labels": []}}, 1.0,
                     None, None),
        ModelVersion(1, "q0", "queue", {"model": "m0"}, 2.0, None, None),
        ModelVersion(1, "m1", "retrain", {"n_labeled": 30, "cv_accuracy": 0.7,
                                          "stop_set": {"task_ids": [1, 2], "labels": ["a", "b"]},
                                          "machine_labelled": {"n": 70, "expected_wrong": 9.5}},
                     3.0, None, None),
        ModelVersion(1, "m2", "retrain", {"n_labeled": "many", "cv_accuracy": float("nan"),
                                          "stop_set": {"task_ids": [1], "labels": []}},
                     4.0, None, None),
    ]
    pts = retrain_points(versions)
    assert [p.version for p in pts] == ["m0", "m1", "m2"]
    assert pts[1] == RetrainPoint("m1", 30, 0.7, (1, 2), ("a", "b"), 70, 9.5)
    assert pts[2].n_labeled is None and pts[2].score is None and pts[2].stop_ids == ()
    spans = point_of("s", {"task_type": "text_spans", "span_f1": 0.4, "cv_accuracy": 0.9})
    assert spans.score == 0.4
    assert stopping_signal([]).verdict == "not_enough_retrains"
    assert recent_slope(pts, window=4) == (None, 1)


def test_a_simulated_loop_stops_near_the_plateau_with_labels_to_spare() -> None:
    """Logistic regression retrained on 40 more random labels each time: κ between successive
    models on the stop set rises, the verdict flips to stop, and it does so near the plateau
    with most of the pool still unlabelled."""
    x, y = make_classification(n_samples=4000, n_features=20, n_informative=8, n_classes=3,
                               n_clusters_per_class=1, random_state=0)
    ids = np.arange(1, 3001)
    stop, test = stop_set_positions(ids), np.arange(3000, 4000)
    order = np.random.default_rng(0).permutation(3000)
    points: list[RetrainPoint] = []
    signals = []
    for n in range(40, 2001, 40):
        m = LogisticRegression(max_iter=1000).fit(x[order[:n]], y[order[:n]])
        acc = float((m.predict(x[test]) == y[test]).mean())
        points.append(RetrainPoint(f"m{n}", n, acc, tuple(ids[stop].tolist()),
                                   tuple(map(str, m.predict(x[stop])))))
        signals.append(stopping_signal(points))
    windows = [s.window_kappa for s in signals if s.window_kappa is not None]
    assert np.mean(windows[:5]) < 0.95 and np.mean(windows[-5:]) > 0.99
    first = next(i for i, s in enumerate(signals) if s.verdict == "stop")
    assert all(s.verdict == "keep_labelling" for s in signals[3:first])
    assert signals[-1].verdict == "stop"
    stopped_at, final = points[first], points[-1]
    assert stopped_at.n_labeled is not None and stopped_at.n_labeled <= 1500
    assert stopped_at.score is not None and final.score is not None
    assert final.score - stopped_at.score <= 0.01  # labels after it bought ≤ 1 point
