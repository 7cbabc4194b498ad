"""The realistic simulated LLM: accuracy and AUROC on target, errors on the hard items."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from labelloop.errors import InvalidInput
from labelloop.simulate.realistic_llm import realistic_llm


def gaussian_classes(n: int, *, k: int = 3, d: int = 16, sep: float = 0.6,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``k`` overlapping gaussian classes: a linear model gets most but not all right."""
    r = np.random.default_rng(seed)
    means = r.normal(size=(k, d)) * sep
    y = r.integers(0, k, n)
    return means[y] + r.normal(size=(n, d)), y


def independent_cv(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Out-of-fold probabilities from other folds than the simulator's own."""
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=12345)
    return cross_val_predict(LogisticRegression(max_iter=1000), x, y, cv=folds,
                             method="predict_proba")


@pytest.mark.parametrize("accuracy", [0.85, 0.7])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accuracy_and_auroc_on_target(accuracy: float, seed: int) -> None:
    x, y = gaussian_classes(2000, seed=seed)
    llm = realistic_llm(x, y, n_classes=3, accuracy=accuracy, rng=np.random.default_rng(seed))
    right = llm.labels == y
    assert abs(right.mean() - accuracy) <= 0.02
    assert abs(roc_auc_score(right, llm.confidence) - 0.8) <= 0.05


def test_other_auroc_targets() -> None:
    x, y = gaussian_classes(3000, seed=3)
    for target in (0.65, 0.9):
        llm = realistic_llm(x, y, n_classes=3, accuracy=0.8, auroc=target,
                            rng=np.random.default_rng(3))
        assert abs(roc_auc_score(llm.labels == y, llm.confidence) - target) <= 0.05


def test_errors_fall_on_items_a_text_model_gets_wrong() -> None:
    x, y = gaussian_classes(2000, seed=4)
    cv = independent_cv(x, y)
    cv_right = cv.argmax(axis=1) == y
    assert 0.6 < cv_right.mean() < 0.97  # the data has hard items, but not only hard ones
    llm = realistic_llm(x, y, n_classes=3, accuracy=0.85, rng=np.random.default_rng(4))
    wrong = llm.labels != y
    assert wrong[~cv_right].mean() > 2 * wrong[cv_right].mean()
    # A wrong answer is the text model's confusion: its most plausible other class.
    masked = cv.copy()
    masked[np.arange(y.size), y] = -1.0
    assert (llm.labels[wrong] == masked.argmax(axis=1)[wrong]).mean() > 0.8


def test_probas_are_distributions_with_the_answer_on_top() -> None:
    x, y = gaussian_classes(800, k=4, seed=5)
    llm = realistic_llm(x, y, n_classes=4, accuracy=0.75, rng=np.random.default_rng(5))
    assert llm.probas.shape == (800, 4)
    assert np.allclose(llm.probas.sum(axis=1), 1.0)
    assert (llm.probas >= 0).all()
    assert (llm.probas.argmax(axis=1) == llm.labels).all()
    assert np.allclose(llm.probas[np.arange(800), llm.labels], llm.confidence)
    assert ((llm.confidence > 0.25) & (llm.confidence < 1.0)).all()
    assert abs(llm.confidence.mean() - 0.75) < 0.01  # calibrated on average


def test_a_class_absent_from_y_is_never_answered() -> None:
    x, y = gaussian_classes(600, k=3, seed=6)
    llm = realistic_llm(x, y, n_classes=4, accuracy=0.8, rng=np.random.default_rng(6))
    assert llm.probas.shape == (600, 4)
    assert not (llm.labels == 3).any()


def test_seeded_determinism() -> None:
    x, y = gaussian_classes(500, seed=7)
    a = realistic_llm(x, y, n_classes=3, accuracy=0.8, rng=np.random.default_rng(11))
    b = realistic_llm(x, y, n_classes=3, accuracy=0.8, rng=np.random.default_rng(11))
    c = realistic_llm(x, y, n_classes=3, accuracy=0.8, rng=np.random.default_rng(12))
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.probas, b.probas)
    assert not np.array_equal(a.confidence, c.confidence)


@pytest.mark.parametrize(("n_classes", "accuracy", "auroc"),
                         [(3, 1.2, 0.8), (3, 0.8, 1.0), (3, 0.8, 0.3), (1, 0.8, 0.8)])
def test_invalid_options(n_classes: int, accuracy: float, auroc: float) -> None:
    x, y = gaussian_classes(100, k=1 if n_classes == 1 else 3, seed=8)
    with pytest.raises(InvalidInput):
        realistic_llm(x, y, n_classes=n_classes, accuracy=accuracy, auroc=auroc,
                      rng=np.random.default_rng(0))


def test_labels_out_of_range_are_rejected() -> None:
    x, y = gaussian_classes(100, seed=9)
    with pytest.raises(InvalidInput):
        realistic_llm(x, y + 1, n_classes=3, accuracy=0.8, rng=np.random.default_rng(0))
