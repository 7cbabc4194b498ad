"""The best label per task: human labels kept, machine labels stacked and calibrated."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from labelloop.agreement.calibration import expected_calibration_error
from labelloop.errors import InvalidInput
from labelloop.quality.best_label import best_labels
from labelloop.simulate.realistic_llm import realistic_llm


@dataclass(frozen=True)
class Pool:
    y: np.ndarray            # gold
    human: np.ndarray        # gold where reviewed, NaN elsewhere
    llm: np.ndarray          # (n, k) realistic simulated LLM
    model: np.ndarray        # (n, k) local model: out-of-fold on reviewed, fitted on them elsewhere
    held_out: np.ndarray     # bool, not reviewed


def realistic_pool(*, n: int = 3000, n_human: int = 600, k: int = 3, accuracy: float = 0.85,
                   seed: int = 0) -> Pool:
    """Gaussian classes, a realistic LLM, and a logistic regression trained on the reviewed
    tasks (what labelloop's local model is), with its predictions out of fold where reviewed."""
    r = np.random.default_rng(seed)
    means = r.normal(size=(k, 16)) * 0.6
    y = r.integers(0, k, n)
    x = means[y] + r.normal(size=(n, 16))
    llm = realistic_llm(x, y, n_classes=k, accuracy=accuracy, rng=r)
    reviewed = np.zeros(n, dtype=bool)
    reviewed[r.choice(n, n_human, replace=False)] = True
    model = np.zeros((n, k))
    lr = LogisticRegression(max_iter=1000)
    model[~reviewed] = lr.fit(x[reviewed], y[reviewed]).predict_proba(x[~reviewed])
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    model[reviewed] = cross_val_predict(lr, x[reviewed], y[reviewed], cv=folds,
                                        method="predict_proba")
    human = np.where(reviewed, y, np.nan)
    return Pool(y=y, human=human, llm=llm.probas, model=model, held_out=~reviewed)


def scores(labels: np.ndarray, p: np.ndarray, pool: Pool) -> tuple[float, float]:
    """Accuracy and ECE on the held-out tasks."""
    h = pool.held_out
    hit = labels[h] == pool.y[h]
    return float(hit.mean()), expected_calibration_error(p[h], hit)


def compare(pool: Pool, seed: int) -> dict[str, tuple[float, float]]:
    best = best_labels(pool.human, (~pool.held_out).astype(int), pool.llm, pool.model,
                       rng=np.random.default_rng(seed))
    assert best.notes[0].startswith("stacked")  # fitted, not the few-labels fallback
    return {"llm": scores(pool.llm.argmax(axis=1), pool.llm.max(axis=1), pool),
            "model": scores(pool.model.argmax(axis=1), pool.model.max(axis=1), pool),
            "stacked": scores(best.labels, best.p_correct, pool)}


@pytest.mark.parametrize("accuracy", [0.85, 0.7])
def test_stacked_against_each_member(accuracy: float) -> None:
    """The figures in the module docstring (printed with -s)."""
    runs = [compare(realistic_pool(accuracy=accuracy, seed=s), s) for s in range(5)]
    mean = {m: np.mean([run[m] for run in runs], axis=0) for m in runs[0]}
    for m, (acc, ece) in mean.items():
        print(f"LLM {accuracy:.0%}: {m:8s} accuracy {acc:.3f}  ECE {ece:.3f}")
    for run in runs:
        assert run["stacked"][0] >= max(run["llm"][0], run["model"][0]) - 0.005
        assert run["stacked"][1] <= 0.05


def test_calibrated_on_held_out_with_500_human_labels() -> None:
    pool = realistic_pool(n=2500, n_human=500, k=4, accuracy=0.85, seed=11)
    best = best_labels(pool.human, (~pool.held_out).astype(int), pool.llm, pool.model,
                       rng=np.random.default_rng(0))
    acc, ece = scores(best.labels, best.p_correct, pool)
    assert ece <= 0.05
    assert abs(best.p_correct[pool.held_out].mean() - acc) <= 0.04
    assert ((best.p_correct[pool.held_out] >= 0) & (best.p_correct[pool.held_out] <= 1)).all()


def test_human_labels_are_kept_as_given() -> None:
    pool = realistic_pool(n=1000, n_human=300, seed=1)
    human = pool.human.copy()
    reviewed = np.flatnonzero(~pool.held_out)
    human[reviewed[:20]] = (human[reviewed[:20]] + 1) % 3  # humans the machines disagree with
    n_ann = np.where(pool.held_out, 0, 1)
    n_ann[reviewed[:50]] = 3
    best = best_labels(human, n_ann, pool.llm, pool.model, rng=np.random.default_rng(0))
    assert np.array_equal(best.labels[reviewed], human[reviewed].astype(int))
    assert (best.p_correct[reviewed] == 1.0).all()
    assert {best.source[i] for i in reviewed[:50]} == {"consensus"}
    assert {best.source[i] for i in reviewed[50:]} == {"human"}
    assert set(np.array(best.source)[pool.held_out]) <= {"ensemble", "llm", "model"}
    measured = best_labels(human, n_ann, pool.llm, pool.model, human_p_correct=0.93,
                           rng=np.random.default_rng(0))
    assert (measured.p_correct[reviewed] == 0.93).all()
    assert np.array_equal(measured.labels, best.labels)


def test_missing_answers() -> None:
    pool = realistic_pool(n=2000, n_human=500, seed=2)
    r = np.random.default_rng(2)
    llm, model = pool.llm.copy(), pool.model.copy()
    no_llm = r.random(2000) < 0.2
    no_model = ~no_llm & (r.random(2000) < 0.1)
    neither = np.zeros(2000, dtype=bool)
    neither[np.flatnonzero(pool.held_out & ~no_llm & ~no_model)[:30]] = True
    llm[no_llm | neither] = np.nan
    model[no_model | neither] = np.nan
    best = best_labels(pool.human, (~pool.held_out).astype(int), llm, model,
                       rng=np.random.default_rng(0))
    assert best.labels.shape == (2000,) and best.p_correct.shape == (2000,)
    src = np.array(best.source)
    assert (best.labels[neither] == -1).all() and np.isnan(best.p_correct[neither]).all()
    assert (src[neither] == "").all()
    h = pool.held_out & ~neither
    assert not np.isnan(best.p_correct[h]).any()
    assert (src[h & no_llm] == "model").all() and (src[h & no_model] == "llm").all()
    # Where one member is missing the label is as good as that member's own.
    for rows, p in ((h & no_llm, pool.model), (h & no_model, pool.llm)):
        own = (p[rows].argmax(axis=1) == pool.y[rows]).mean()
        assert (best.labels[rows] == pool.y[rows]).mean() >= own - 0.03


def test_member_missing_only_outside_the_human_labels_still_gets_labels() -> None:
    pool = realistic_pool(n=2000, n_human=500, seed=3)
    llm = pool.llm.copy()
    gone = pool.held_out & (np.arange(2000) % 4 == 0)
    llm[gone] = np.nan
    best = best_labels(pool.human, (~pool.held_out).astype(int), llm, pool.model,
                       rng=np.random.default_rng(0))
    own = (pool.model[gone].argmax(axis=1) == pool.y[gone]).mean()
    assert (best.labels[gone] == pool.y[gone]).mean() >= own - 0.01


def fallback_member(pool: Pool, human: np.ndarray) -> str:
    """The member the few-labels rule should pick: the LLM unless the model is right where the
    LLM is wrong significantly more often than the reverse (exact one-sided test, 5 %)."""
    rows = ~np.isnan(human)
    llm_hit = pool.llm[rows].argmax(axis=1) == human[rows]
    model_hit = pool.model[rows].argmax(axis=1) == human[rows]
    b, c = int((model_hit & ~llm_hit).sum()), int((llm_hit & ~model_hit).sum())
    return "model" if b + c and binomtest(b, b + c, alternative="greater").pvalue < 0.05 \
        else "llm"


@pytest.mark.parametrize("seed", [4, 8])
def test_few_human_labels_fall_back_to_a_member_and_say_so(seed: int) -> None:
    pool = realistic_pool(n=1000, n_human=20, accuracy=0.7, seed=seed)
    best = best_labels(pool.human, (~pool.held_out).astype(int), pool.llm, pool.model,
                       min_fit=30, rng=np.random.default_rng(0))
    rows = ~pool.held_out
    chosen = fallback_member(pool, pool.human)
    assert best.method == chosen
    assert "only 20 human labels" in best.notes[0] and chosen in best.notes[0]
    p = pool.llm if chosen == "llm" else pool.model
    h = pool.held_out
    assert np.array_equal(best.labels[h], p[h].argmax(axis=1))
    assert set(np.array(best.source)[h]) == {chosen}
    # p_correct lies between the member's confidence and its measured accuracy.
    hits = (p[rows].argmax(axis=1) == pool.y[rows]).sum()
    conf, acc = p[h].max(axis=1), (hits + 1) / 22
    lo, hi = np.minimum(conf, acc), np.maximum(conf, acc)
    assert ((best.p_correct[h] >= lo - 1e-12) & (best.p_correct[h] <= hi + 1e-12)).all()
    assert not np.allclose(best.p_correct[h], conf)


def test_few_labels_on_the_llms_least_sure_answers_keep_the_llm() -> None:
    """20 human labels on the LLM's least confident answers (what a queue aimed at its doubts
    asks first): there the LLM does worse than usual, but no better model is shown, so the
    dataset keeps the LLM's labels."""
    pool = realistic_pool(n=1000, n_human=20, accuracy=0.85, seed=9)  # a model on 20 labels
    picked = np.argsort(pool.llm.max(axis=1))[:20]
    human = np.full(1000, np.nan)
    human[picked] = pool.y[picked]
    rest = np.isnan(human)
    model = pool.model.copy()  # as good as the LLM on those 20, weaker elsewhere
    model[picked] = np.eye(3)[np.where(np.arange(20) % 2 == 0, pool.y[picked],
                                       (pool.y[picked] + 1) % 3)] * 0.8 + 0.2 / 3
    llm_there = (pool.llm[picked].argmax(axis=1) == pool.y[picked]).mean()
    assert llm_there <= 0.6  # the LLM's least sure answers: often wrong, no better than the model
    best = best_labels(human, (~rest).astype(int), pool.llm, model, min_fit=30,
                       rng=np.random.default_rng(0))
    assert best.method == "llm"
    assert (best.labels[rest] == pool.y[rest]).mean() >= \
        (model[rest].argmax(axis=1) == pool.y[rest]).mean()


def test_few_labels_switch_to_a_model_shown_clearly_better() -> None:
    pool = realistic_pool(n=1000, n_human=25, accuracy=0.7, seed=10)
    rows = ~pool.held_out
    llm = pool.llm.copy()  # the LLM wrong on all 25 human labels, the model right on them
    llm[rows] = np.eye(3)[(pool.y[rows] + 1) % 3] * 0.8 + 0.2 / 3
    model = pool.model.copy()
    model[rows] = np.eye(3)[pool.y[rows]] * 0.8 + 0.2 / 3
    best = best_labels(pool.human, rows.astype(int), llm, model, min_fit=30,
                       rng=np.random.default_rng(0))
    assert best.method == "model"
    assert set(np.array(best.source)[pool.held_out]) == {"model"}


def test_no_human_labels_uses_the_llm_confidence() -> None:
    pool = realistic_pool(n=300, n_human=60, seed=5)
    best = best_labels(np.full(300, np.nan), np.zeros(300, dtype=int), pool.llm, pool.model,
                       rng=np.random.default_rng(0))
    assert best.method == "llm"
    assert np.array_equal(best.labels, pool.llm.argmax(axis=1))
    assert np.allclose(best.p_correct, pool.llm.max(axis=1))


def test_one_member_or_none() -> None:
    pool = realistic_pool(n=1000, n_human=200, seed=6)
    n_ann = (~pool.held_out).astype(int)
    only_model = best_labels(pool.human, n_ann, None, pool.model, rng=np.random.default_rng(0))
    assert set(np.array(only_model.source)[pool.held_out]) == {"model"}
    assert not np.isnan(only_model.p_correct).any()
    nothing = best_labels(pool.human, n_ann, None, None, rng=np.random.default_rng(0))
    assert nothing.method == "none"
    assert (nothing.labels[pool.held_out] == -1).all()
    assert np.isnan(nothing.p_correct[pool.held_out]).all()
    assert np.array_equal(nothing.labels[~pool.held_out], pool.y[~pool.held_out])


def test_one_class_among_human_labels_falls_back() -> None:
    pool = realistic_pool(n=600, n_human=100, seed=7)
    human = np.full(600, np.nan)
    human[np.flatnonzero(pool.y == 0)[:40]] = 0
    best = best_labels(human, (~np.isnan(human)).astype(int), pool.llm, pool.model,
                       rng=np.random.default_rng(0))
    assert best.method in {"llm", "model"} and "one class" in best.notes[0]


def test_seeded_determinism() -> None:
    pool = realistic_pool(n=800, n_human=200, seed=8)
    n_ann = (~pool.held_out).astype(int)
    a = best_labels(pool.human, n_ann, pool.llm, pool.model, rng=np.random.default_rng(1))
    b = best_labels(pool.human, n_ann, pool.llm, pool.model, rng=np.random.default_rng(1))
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.p_correct, b.p_correct, equal_nan=True)


@pytest.mark.parametrize("case", ["length", "classes", "label", "fraction", "p"])
def test_invalid_input(case: str) -> None:
    human = np.array([0.0, 1.0, np.nan])
    n_ann = np.array([1, 1, 0])
    probas = np.full((3, 2), 0.5)
    kw: dict[str, float] = {}
    if case == "length":
        n_ann = np.array([1, 1])
    elif case == "classes":
        probas = np.full((3, 1), 1.0)
    elif case == "label":
        human = np.array([0.0, 2.0, np.nan])
    elif case == "fraction":
        human = np.array([0.0, 0.5, np.nan])
    else:
        kw = {"human_p_correct": 1.5}
    with pytest.raises(InvalidInput):
        best_labels(human, n_ann, probas, None, rng=np.random.default_rng(0), **kw)


@pytest.mark.parametrize("accuracy", [0.85, 0.7])
def test_out_of_fold_labels_measure_the_machine_like_held_out_tasks(accuracy: float) -> None:
    """The human-labelled tasks' out-of-fold machine labels (the evidence audited auto-accept
    uses) are as good, and as calibrated, as the machine labels of the unreviewed tasks: not
    the in-sample fit, which would look better than it is. The few-labels fallback has none."""
    pool = realistic_pool(n=3000, n_human=600, accuracy=accuracy, seed=7)
    best = best_labels(pool.human, (~pool.held_out).astype(int), pool.llm, pool.model,
                       rng=np.random.default_rng(3))
    assert best.oof_labels is not None and best.oof_p_correct is not None
    reviewed = ~pool.held_out
    assert (best.oof_labels[pool.held_out] == -1).all()
    assert np.isnan(best.oof_p_correct[pool.held_out]).all()
    assert (best.oof_labels[reviewed] >= 0).all()
    oof_hit = best.oof_labels[reviewed] == pool.y[reviewed]
    held_acc, _ = scores(best.labels, best.p_correct, pool)
    assert abs(oof_hit.mean() - held_acc) <= 0.03
    assert expected_calibration_error(best.oof_p_correct[reviewed], oof_hit) <= 0.05
    few = best_labels(np.where(np.arange(3000) < 10, pool.y, np.nan), np.ones(3000, dtype=int),
                      pool.llm, pool.model, rng=np.random.default_rng(0))
    assert few.oof_labels is not None and (few.oof_labels == -1).all()


def test_a_member_wrong_on_the_human_labels_never_gets_a_negative_weight() -> None:
    """The previous model's answers on the human-labelled tasks are confidently wrong (a stale
    model); on the other tasks the current model is right. A negative weight would turn its
    confident labels upside down (its least likely class nearly everywhere it alone answers);
    the weight stops at 0, so there the class prior decides instead."""
    pool = realistic_pool(n=1500, n_human=300, seed=12)
    rows = ~pool.held_out
    model = pool.model.copy()
    model[rows] = np.eye(3)[(pool.y[rows] + 1) % 3] * 0.9 + 0.1 / 3
    llm = pool.llm.copy()
    alone = pool.held_out & (np.arange(1500) % 3 == 0)
    llm[alone] = np.nan
    best = best_labels(pool.human, rows.astype(int), llm, model, rng=np.random.default_rng(0))
    least = model[alone].argmin(axis=1)
    assert float(np.mean(best.labels[alone] == least)) < 0.5
