"""A realistic simulated LLM, built from the data: its mistakes fall on hard items.

An LLM whose errors land on random items flatters every method that combines it with a text
model: the model then fixes the LLM exactly where it is wrong. Real LLMs are wrong where the text
is hard, which is also where a text model is unsure, and their confidence separates right from
wrong only moderately. :func:`realistic_llm` simulates that regime from embeddings and gold
labels alone:

1. **Hardness.** A logistic regression on the embeddings, cross-validated (5 stratified folds,
   :func:`sklearn.model_selection.cross_val_predict`), gives every item an out-of-fold
   probability of its gold class ``p_gold``. Hard items have low ``p_gold``.
2. **Errors.** Exactly ``round((1 - accuracy) * n)`` items are answered wrongly: the ones with
   the highest ``logit(1 - p_gold) + noise`` (``noise`` standard Gumbel times ``spread``, so that
   errors mostly but not only hit the hardest items). A wrong answer is the class the
   cross-validated model finds most plausible after the gold one (its confusion).
3. **Confidence.** Binormal: a latent score ``N(0, 1)`` for wrong answers and ``N(d, 1)`` for
   right ones with ``d = sqrt(2) * Phi^-1(auroc)``, so that the AUROC of confidence for
   "answer is right" is ``auroc`` in expectation. The score goes through a sigmoid with an offset
   found by bisection so that the mean confidence equals ``accuracy`` (calibrated on average,
   not per item), and is mapped into ``(1/k, 1)``.
4. **Distribution.** ``probas`` puts the confidence on the answer and spreads the rest over the
   other classes in proportion to the cross-validated model's probabilities (mixed towards
   uniform where needed, so that the answer stays the argmax).

Everything random comes from ``rng``; the same generator state gives the same LLM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from labelloop.errors import InvalidInput


@dataclass(frozen=True)
class SimulatedLlm:
    """One simulated LLM answer per item: ``labels`` ``(n,)`` class index, ``confidence``
    ``(n,)`` the probability put on it, ``probas`` ``(n, k)`` rows summing to 1."""

    labels: np.ndarray
    confidence: np.ndarray
    probas: np.ndarray


def cross_validated_probas(x: np.ndarray, y: np.ndarray, *, n_classes: int,
                           rng: np.random.Generator, n_folds: int = 5) -> np.ndarray:
    """``(n, n_classes)`` out-of-fold probabilities of a logistic regression on ``x``; classes
    absent from ``y`` get probability 0."""
    present = np.unique(y)
    smallest = int(np.bincount(y)[present].min())
    folds = StratifiedKFold(n_splits=max(2, min(n_folds, smallest)), shuffle=True,
                            random_state=int(rng.integers(2**31 - 1)))
    oof = cross_val_predict(LogisticRegression(max_iter=1000), x, y, cv=folds,
                            method="predict_proba")
    out = np.zeros((y.size, n_classes))
    out[:, present] = oof
    return out


def _confidence(right: np.ndarray, *, accuracy: float, auroc: float, n_classes: int,
                rng: np.random.Generator) -> np.ndarray:
    d = np.sqrt(2.0) * norm.ppf(auroc)
    score = rng.standard_normal(right.size) + d * right
    floor = 1.0 / n_classes
    target = min(max(accuracy, floor + 1e-3), 1.0 - 1e-3)
    lo, hi = -20.0, 20.0
    for _ in range(60):  # bisection on the offset: mean confidence = accuracy
        mid = (lo + hi) / 2.0
        if floor + (1.0 - floor) * expit(score + mid).mean() < target:
            lo = mid
        else:
            hi = mid
    conf = floor + (1.0 - floor) * expit(score + (lo + hi) / 2.0)
    return np.clip(conf, floor + 1e-6, 1.0 - 1e-6)


def _spread(answer: np.ndarray, conf: np.ndarray, cv: np.ndarray) -> np.ndarray:
    n, k = cv.shape
    rows = np.arange(n)
    others = cv.copy()
    others[rows, answer] = 0.0
    total = others.sum(axis=1, keepdims=True)
    uniform = np.full((n, k), 1.0 / (k - 1))
    uniform[rows, answer] = 0.0
    q = np.where(total > 1e-12, others / np.maximum(total, 1e-12), uniform)
    # Largest share any other class may take so that the answer stays the (strict) argmax.
    u = 1.0 / (k - 1)
    cap = u + 0.99 * (conf / (1.0 - conf) - u)
    q_max = q.max(axis=1)
    lam = np.where(q_max > cap, (cap - u) / np.maximum(q_max - u, 1e-12), 1.0)
    q = np.clip(lam, 0.0, 1.0)[:, None] * q + (1.0 - np.clip(lam, 0.0, 1.0))[:, None] * uniform
    out = q * (1.0 - conf)[:, None]
    out[rows, answer] = conf
    return out


def realistic_llm(x: np.ndarray, y: np.ndarray, *, n_classes: int, accuracy: float,
                  auroc: float = 0.8, rng: np.random.Generator,
                  spread: float = 1.0) -> SimulatedLlm:
    """A simulated LLM right on ``accuracy`` of the items (exactly, up to rounding), wrong on
    the hard ones, whose confidence tells right from wrong with AUROC about ``auroc``."""
    t = np.asarray(y, dtype=np.int64)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != t.size or t.ndim != 1:
        raise InvalidInput("x must be (n, d) and y (n,)")
    if n_classes < 2 or t.size == 0 or t.min() < 0 or t.max() >= n_classes:
        raise InvalidInput("y must hold class indices in [0, n_classes), n_classes >= 2")
    if not 0.0 <= accuracy <= 1.0 or not 0.5 <= auroc < 1.0 or spread < 0.0:
        raise InvalidInput("accuracy must be in [0, 1], auroc in [0.5, 1), spread >= 0")
    if np.unique(t).size < 2:
        raise InvalidInput("y must hold at least two classes")
    n = t.size
    cv = cross_validated_probas(x, t, n_classes=n_classes, rng=rng)
    rows = np.arange(n)
    p_gold = np.clip(cv[rows, t], 1e-6, 1.0 - 1e-6)
    score = logit(1.0 - p_gold) + spread * rng.gumbel(size=n)
    n_wrong = round((1.0 - accuracy) * n)
    wrong = np.zeros(n, dtype=bool)
    wrong[np.argsort(-score, kind="stable")[:n_wrong]] = True
    confusion = cv.copy()
    confusion[rows, t] = -1.0
    answer = np.where(wrong, confusion.argmax(axis=1), t)
    conf = _confidence(~wrong, accuracy=accuracy, auroc=auroc, n_classes=n_classes, rng=rng)
    return SimulatedLlm(labels=answer, confidence=conf, probas=_spread(answer, conf, cv))
