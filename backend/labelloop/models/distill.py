"""Learning from the LLM's labels: human labels plus the LLM's answers on unreviewed items.

The local model can learn from the LLM's labels of the tasks no human has labelled yet, as
extra training rows with a weight below a human label's. Whether that helps depends on the LLM
and on the project, so each retrain decides it by cross-validation on the *human* labels only:

1. **Reliability.** The LLM's answer on an item is right with probability ``p_right``,
   calibrated from its stated confidence on the human-labelled items it also answered (a
   one-feature logistic fit on ``logit(confidence)``: :func:`llm_reliability`; with few or
   uninformative items it shrinks to the LLM's measured accuracy there).
2. **Weights.** An LLM row weighs ``scale × evidence × (k·p_right − 1) / (k − 1)`` (clipped to
   [0, 1]): 0 for an answer no better than chance among ``k`` classes, below 1 (a human label's
   weight) always (:func:`llm_row_weights`). ``evidence`` (:func:`better_than_chance`) is how
   much of the LLM's measured lead over chance survives the uncertainty of a few labels: the
   lower end of a one-sided 95 % Wilson interval of its accuracy, as a share of the estimate
   (0 when that lower end is at chance: an LLM not shown to beat chance teaches nothing).
3. **Choice.** The same folds over the human-labelled items score the human-only model and,
   per ``scale`` in ``options.scales``, a model whose training folds also hold the LLM rows
   (reliability re-measured on each training fold, so nothing of a test fold leaks into it).
   The LLM rows are used only when the best of them is *strictly* more accurate out of fold
   than human-only; ties and too few human labels to cross-validate give human-only.

:func:`distill_local_model` returns the chosen model (calibrated on its own out-of-fold
predictions) and a :class:`DistillChoice` to store in the version's lineage. Pure: arrays in,
records out, randomness only from ``rng``. Single choice only (multiple choice: human-only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from labelloop.errors import InvalidInput
from labelloop.models.logistic import DEFAULT_C, LocalModel, check_training_data, fit_local_model
from labelloop.models.training import (
    FitOnRows,
    TrainResult,
    calibrated_result,
    cv_folds_of,
    out_of_fold,
    train_local_model,
)

DistillMode = Literal["auto", "off"]


@dataclass(frozen=True)
class DistillOptions:
    """``mode``: ``off`` never uses the LLM's labels. ``scales``: the LLM rows' weight scales
    tried. ``max_llm``: at most this many LLM rows (a random sample: keeps a retrain of a large
    pool fast). ``min_human``: fewer human labels than this → human-only. ``cv_folds``: folds
    of the choice (and of the model's calibration)."""

    mode: DistillMode = "auto"
    scales: tuple[float, ...] = (0.3, 1.0)
    max_llm: int = 2000
    min_human: int = 10
    cv_folds: int = 5


@dataclass(frozen=True)
class DistillChoice:
    """What a retrain decided about the LLM's labels (the lineage's ``llm_distillation``)."""

    used: bool
    cv_human_only: float | None  # out-of-fold accuracy on the human labels, human-only model
    cv_with_llm: float | None  # the same folds, the best model with the LLM rows
    n_llm: int  # LLM rows in the training set (0 when not used)
    weight: float | None  # mean weight of an LLM row in the best model tried (human: 1)
    scale: float | None  # the scale that model used
    llm_accuracy: float | None  # the LLM's accuracy on the human-labelled items it answered
    reason: str

    def to_json(self) -> dict[str, object]:
        return {"used": self.used, "cv_human_only": self.cv_human_only,
                "cv_with_llm": self.cv_with_llm, "n_llm": self.n_llm, "weight": self.weight,
                "scale": self.scale, "llm_accuracy": self.llm_accuracy, "reason": self.reason}


@dataclass(frozen=True)
class Distilled:
    result: TrainResult
    choice: DistillChoice


def llm_reliability(llm_on_human: np.ndarray, y: np.ndarray, confidence: np.ndarray
                    ) -> np.ndarray:
    """The probability that each answer with ``confidence`` ``(m,)`` is right, calibrated on the
    LLM's distributions on human-labelled items ``(n, k)`` (NaN rows: not answered) against their
    labels ``y`` ``(n,)``. No answered items: the confidence as stated."""
    from scipy.special import logit
    from sklearn.linear_model import LogisticRegression

    conf = np.asarray(confidence, dtype=np.float64)
    answered = ~np.isnan(llm_on_human).any(axis=1)
    if not answered.any():
        return conf.copy()
    p = llm_on_human[answered]
    right = (np.argmax(p, axis=1) == y[answered]).astype(np.int64)
    if right.min() == right.max():  # all right or all wrong: Laplace's rule
        return np.full(conf.shape, (right.sum() + 1.0) / (right.size + 2.0))
    z_h = logit(np.clip(p.max(axis=1), 1e-4, 1 - 1e-4))
    mu, sd = float(z_h.mean()), float(z_h.std()) or 1.0
    lr = LogisticRegression(C=1.0).fit(((z_h - mu) / sd)[:, None], right)
    z = logit(np.clip(conf, 1e-4, 1 - 1e-4))
    return lr.predict_proba(((z - mu) / sd)[:, None])[:, 1]


def better_than_chance(n_right: int, n: int, *, n_classes: int, z: float = 1.645) -> float:
    """In [0, 1]: the lower end of the Wilson interval of ``n_right / n``, as a share of the
    estimate, both measured above chance (``1 / n_classes``); 0 without evidence."""
    if n <= 0:
        return 0.0
    chance, acc = 1.0 / n_classes, n_right / n
    if acc <= chance:
        return 0.0
    centre = (acc + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(acc * (1 - acc) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(np.clip((centre - half - chance) / (acc - chance), 0.0, 1.0))


def llm_row_weights(p_right: np.ndarray, *, n_classes: int, scale: float,
                    evidence: float = 1.0) -> np.ndarray:
    """``scale × evidence × (k·p_right − 1) / (k − 1)``, the last factor clipped to [0, 1]: 0 at
    chance, below a human label's 1."""
    k = float(n_classes)
    return scale * evidence * np.clip((k * np.asarray(p_right) - 1.0) / (k - 1.0), 0.0, 1.0)


def _weights(llm_on_human: np.ndarray, t: np.ndarray, conf: np.ndarray, *, n_classes: int,
             scale: float) -> np.ndarray:
    """The LLM rows' weights as measured on the human-labelled items ``t`` (steps 1-2)."""
    answered = ~np.isnan(llm_on_human).any(axis=1)
    right = int((np.argmax(llm_on_human[answered], axis=1) == t[answered]).sum())
    evidence = better_than_chance(right, int(answered.sum()), n_classes=n_classes)
    if evidence == 0.0:
        return np.zeros(conf.shape)
    return llm_row_weights(llm_reliability(llm_on_human, t, conf), n_classes=n_classes,
                           scale=scale, evidence=evidence)


def llm_rows(llm_probas: np.ndarray, *, max_llm: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the rows the LLM answered (no NaN), at most ``max_llm`` of them (a uniform
    sample, in order). A caller with a large pool can slice its arrays with it first."""
    rows = np.flatnonzero(~np.isnan(llm_probas).any(axis=1))
    if rows.size > max_llm:
        rows = np.sort(rng.choice(rows, size=max_llm, replace=False))
    return rows


def _check(x: np.ndarray, y: np.ndarray, llm_on_human: np.ndarray, x_llm: np.ndarray,
           llm_probas: np.ndarray, k: int, options: DistillOptions
           ) -> tuple[np.ndarray, np.ndarray]:
    xh, t = check_training_data(x, y, n_classes=k, multi_label=False)
    if llm_on_human.shape != (t.size, k):
        raise InvalidInput(f"llm_on_human must have shape ({t.size}, {k})")
    if x_llm.ndim != 2 or llm_probas.shape != (x_llm.shape[0], k) or (
            x_llm.shape[0] and x_llm.shape[1] != xh.shape[1]):
        raise InvalidInput(f"x_llm must be (m, {xh.shape[1]}) and llm_probas (m, {k})")
    if not options.scales or any(s <= 0 or s > 1 for s in options.scales) \
            or options.max_llm < 0:
        raise InvalidInput("scales must be one or more values in (0, 1]; max_llm >= 0")
    return xh, t


def _human_only(result: TrainResult, reason: str, *, n_llm: int = 0,
                llm_accuracy: float | None = None) -> Distilled:
    cv = result.metrics.accuracy if result.metrics else None
    return Distilled(result, DistillChoice(False, cv, None, n_llm, None, None, llm_accuracy,
                                           reason))


def distill_local_model(x: np.ndarray, y: np.ndarray, llm_on_human: np.ndarray,
                        x_llm: np.ndarray, llm_probas: np.ndarray, *, labels: Sequence[str],
                        rng: np.random.Generator, options: DistillOptions = DistillOptions(),
                        C: float = DEFAULT_C, threads: int | None = 1) -> Distilled:
    """Train on the human labels ``x`` ``(n, d)``, ``y`` ``(n,)`` and, when cross-validation on
    them says it helps, the LLM's answers ``llm_probas`` ``(m, k)`` on unreviewed items ``x_llm``
    ``(m, d)`` (NaN rows: no answer). ``llm_on_human`` ``(n, k)``: the LLM's distributions on
    the human-labelled items (NaN rows where none), what its reliability is measured on."""
    k = len(labels)
    xh, t = _check(x, y, llm_on_human, x_llm, llm_probas, k, options)
    seed = int(rng.integers(2**31 - 1))
    human = train_local_model(xh, t, labels=labels, C=C, cv_folds=options.cv_folds, seed=seed,
                              threads=threads)
    answered = ~np.isnan(llm_on_human).any(axis=1)
    llm_acc = float((np.argmax(llm_on_human[answered], 1) == t[answered]).mean()) \
        if answered.any() else None
    if options.mode == "off":
        return _human_only(human, "off (LABELLOOP_DISTILL_LLM=off)", llm_accuracy=llm_acc)
    rows = llm_rows(llm_probas, max_llm=options.max_llm, rng=rng)
    if rows.size == 0:
        return _human_only(human, "no LLM labels of unreviewed tasks", llm_accuracy=llm_acc)
    if human.metrics is None or t.size < options.min_human or not answered.any():
        why = "the LLM answered no human-labelled task" if human.metrics and t.size >= \
            options.min_human else f"fewer than {options.min_human} human labels to choose on"
        return _human_only(human, why, llm_accuracy=llm_acc)
    xl = np.asarray(x_llm[rows], dtype=np.float64)
    yl = np.argmax(llm_probas[rows], axis=1)
    conf = llm_probas[rows].max(axis=1)
    folds = cv_folds_of(t, multi_label=False, cv_folds=options.cv_folds, seed=seed)
    x_all = np.vstack([xh, xl])
    y_all = np.concatenate([t, yl])

    def fitter(scale: float) -> FitOnRows:
        def fit(train: np.ndarray) -> LocalModel:
            w = _weights(llm_on_human[train], t[train], conf, n_classes=k, scale=scale)
            keep = np.concatenate([train, t.size + np.flatnonzero(w > 0)])
            sw = np.concatenate([np.ones(train.size), w[w > 0]])
            return fit_local_model(x_all[keep], y_all[keep], labels=labels, C=C,
                                   threads=threads, sample_weight=sw)
        return fit

    base = human.metrics.accuracy
    tried = [(scale, out_of_fold(xh, folds, fitter(scale), n_classes=k))
             for scale in options.scales]
    scale, oof = max(tried, key=lambda so: so[1].accuracy(t))  # the first of equals
    acc = oof.accuracy(t)
    w_all = _weights(llm_on_human, t, conf, n_classes=k, scale=scale)
    mean_w = float(w_all.mean())
    if not acc > base:  # ties → human-only
        return Distilled(human, DistillChoice(
            False, base, acc, 0, mean_w, scale, llm_acc,
            "the LLM's labels did not beat human labels alone in cross-validation"))
    final = fitter(scale)(np.arange(t.size))
    result = calibrated_result(final, oof, t, multi_label=False)
    n_used = int((w_all > 0).sum())
    return Distilled(result, DistillChoice(
        True, base, acc, n_used, mean_w, scale, llm_acc,
        f"the LLM's labels of {n_used} unreviewed tasks raised cross-validated accuracy on "
        f"human labels from {base:.3f} to {acc:.3f}"))
