"""Learning from the LLM's labels (models/distill.py): the choice's contract and the property
that it never does worse on held-out human labels than training on human labels alone."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.errors import InvalidInput
from labelloop.models import fit_local_model, predict
from labelloop.models.distill import (
    DistillOptions,
    distill_local_model,
    llm_reliability,
    llm_row_weights,
)
from labelloop.simulate.realistic_llm import realistic_llm

LABELS = ("neg", "pos")


def blobs(n: int, *, rng: np.random.Generator, dim: int = 16, sep: float = 0.9
          ) -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping Gaussian classes on unit vectors (a noisy, learnable problem)."""
    y = rng.integers(0, 2, n)
    centre = np.zeros((2, dim))
    centre[0, 0], centre[1, 0] = -sep / 2, sep / 2
    x = centre[y] + rng.normal(0, 1.0, (n, dim)) / np.sqrt(dim) * 2.5
    return x / np.linalg.norm(x, axis=1, keepdims=True), y


def split(seed: int, *, n_human: int = 40, n_pool: int = 600, n_test: int = 1500):
    rng = np.random.default_rng(seed)
    x, y = blobs(n_human + n_pool + n_test, rng=rng)
    h, p = np.arange(n_human), np.arange(n_human, n_human + n_pool)
    t = np.arange(n_human + n_pool, x.shape[0])
    return x, y, h, p, t


def test_row_weights_are_zero_at_chance_and_below_a_human_label() -> None:
    w = llm_row_weights(np.array([0.2, 0.5, 0.75, 1.0]), n_classes=2, scale=1.0)
    assert w.tolist() == [0.0, 0.0, 0.5, 1.0]
    assert llm_row_weights(np.array([1 / 3]), n_classes=3, scale=0.3)[0] == pytest.approx(0.0)
    assert llm_row_weights(np.array([0.99]), n_classes=2, scale=0.3)[0] < 1.0


def test_reliability_follows_the_measured_accuracy_and_the_confidence() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    conf = rng.uniform(0.5, 1.0, 400)
    right = rng.random(400) < conf  # confidence is calibrated: right with probability conf
    answer = np.where(right, y, 1 - y)
    probas = np.zeros((400, 2))
    probas[np.arange(400), answer] = conf
    probas[np.arange(400), 1 - answer] = 1 - conf
    p = llm_reliability(probas, y, np.array([0.55, 0.95]))
    assert p[0] < p[1]
    assert p[0] == pytest.approx(0.55, abs=0.1) and p[1] == pytest.approx(0.95, abs=0.1)
    # all right on the human labels: Laplace's rule, whatever the stated confidence
    all_right = np.eye(2)[y[:8]] * 0.6 + 0.2
    assert llm_reliability(all_right, y[:8], np.array([0.51])) == pytest.approx([0.9])
    # never answered: the confidence as stated
    nan = np.full((5, 2), np.nan)
    assert llm_reliability(nan, y[:5], np.array([0.7])).tolist() == [0.7]


def test_off_when_the_llm_answers_at_chance() -> None:
    x, y, h, p, _ = split(1)
    answer = np.random.default_rng(99).integers(0, 2, x.shape[0])  # independent of y
    chance = np.eye(2)[answer] * 0.9 + 0.05  # confident and random
    got = distill_local_model(x[h], y[h], chance[h], x[p], chance[p], labels=LABELS,
                              rng=np.random.default_rng(0))
    assert not got.choice.used
    assert got.choice.n_llm == 0
    human = fit_local_model(x[h], y[h], labels=LABELS)
    np.testing.assert_allclose(got.result.model.coef, human.coef)


def test_on_when_the_llm_is_good_and_helps() -> None:
    x, y, h, p, t = split(2, n_human=20)
    llm = np.eye(2)[y] * 0.9 + 0.05  # right everywhere
    got = distill_local_model(x[h], y[h], llm[h], x[p], llm[p], labels=LABELS,
                              rng=np.random.default_rng(0))
    c = got.choice
    assert c.used and c.n_llm == p.size
    assert c.cv_with_llm is not None and c.cv_human_only is not None
    assert c.cv_with_llm > c.cv_human_only
    assert c.llm_accuracy == 1.0 and c.weight is not None and 0 < c.weight < 1
    human = fit_local_model(x[h], y[h], labels=LABELS)
    assert (predict(got.result.model, x[t]) == y[t]).mean() > \
        (predict(human, x[t]) == y[t]).mean() + 0.02
    assert got.result.metrics is not None and got.result.metrics.accuracy == c.cv_with_llm


def test_ties_go_to_human_only() -> None:
    # perfectly separable human labels: human-only is right on every fold, nothing can beat it
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 15)
    x = np.zeros((30, 4))
    x[np.arange(30), y] = 1.0
    x += rng.normal(0, 0.01, x.shape)
    llm = np.eye(2)[y] * 0.9 + 0.05
    got = distill_local_model(x, y, llm, x + 0.001, llm, labels=LABELS,
                              rng=np.random.default_rng(0))
    assert got.choice.cv_human_only == 1.0 and got.choice.cv_with_llm == 1.0
    assert not got.choice.used
    assert "did not beat" in got.choice.reason


def test_off_mode_too_few_labels_and_no_llm_rows_are_human_only() -> None:
    x, y, h, p, _ = split(4)
    llm = np.eye(2)[y] * 0.9 + 0.05
    off = distill_local_model(x[h], y[h], llm[h], x[p], llm[p], labels=LABELS,
                              rng=np.random.default_rng(0), options=DistillOptions(mode="off"))
    assert not off.choice.used and "off" in off.choice.reason
    few = distill_local_model(x[h[:6]], y[h[:6]], llm[h[:6]], x[p], llm[p], labels=LABELS,
                              rng=np.random.default_rng(0))
    assert not few.choice.used and "fewer than 10" in few.choice.reason
    none = distill_local_model(x[h], y[h], llm[h], x[p], np.full((p.size, 2), np.nan),
                               labels=LABELS, rng=np.random.default_rng(0))
    assert not none.choice.used and none.choice.reason == "no LLM labels of unreviewed tasks"
    capped = distill_local_model(x[h], y[h], llm[h], x[p], llm[p], labels=LABELS,
                                 rng=np.random.default_rng(0),
                                 options=DistillOptions(max_llm=50))
    assert capped.choice.n_llm <= 50


def test_bad_shapes_and_options_are_refused() -> None:
    x, y, h, p, _ = split(5)
    llm = np.eye(2)[y] * 0.9 + 0.05
    with pytest.raises(InvalidInput):
        distill_local_model(x[h], y[h], llm[p], x[p], llm[p], labels=LABELS,
                            rng=np.random.default_rng(0))
    with pytest.raises(InvalidInput):
        distill_local_model(x[h], y[h], llm[h], x[p], llm[h], labels=LABELS,
                            rng=np.random.default_rng(0))
    with pytest.raises(InvalidInput):
        distill_local_model(x[h], y[h], llm[h], x[p], llm[p], labels=LABELS,
                            rng=np.random.default_rng(0), options=DistillOptions(scales=()))


@pytest.mark.parametrize("accuracy", [0.5, 0.65, 0.8, 0.95])
def test_never_below_human_only_on_held_out_human_labels(accuracy: float) -> None:
    """The property: over simulated LLMs from chance to 95 % right (errors on hard items,
    confidence AUROC 0.8), the chosen model is not worse on held-out human labels than the
    human-only model — beyond the noise of a 1,500-item test set (1 point), on every seed."""
    gains = []
    for seed in range(3):
        x, y, h, p, t = split(10 + seed)
        rng = np.random.default_rng(seed)
        sim = realistic_llm(x[np.r_[h, p]], y[np.r_[h, p]], n_classes=2, accuracy=accuracy,
                            rng=rng)
        llm = sim.probas
        got = distill_local_model(x[h], y[h], llm[: h.size], x[p], llm[h.size:],
                                  labels=LABELS, rng=rng)
        human = fit_local_model(x[h], y[h], labels=LABELS)
        a_got = float((predict(got.result.model, x[t]) == y[t]).mean())
        a_human = float((predict(human, x[t]) == y[t]).mean())
        assert a_got >= a_human - 0.01, (seed, got.choice)
        gains.append(a_got - a_human)
    if accuracy >= 0.8:  # a good LLM is used, and it pays on average
        assert np.mean(gains) > 0.01
