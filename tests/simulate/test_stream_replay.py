"""The stream replay (labelloop.simulate.stream_replay) on synthetic texts built so that
uncertainty sampling must win.

Two classes. Nine items in ten are *easy*: one of a few strong class words, learnt from a handful
of labels. One in ten is *hard*: its class is carried by one of many rare words (40, half per
class) and nothing else. Uniform picks spend ~90 % of the labels on easy items and see few of the
rare words; the stream's screening model is sure of the easy items after a few labels and
uncertain about a hard item whose word it has not seen, so the budget goes to the hard items.
The test split is half easy, half hard. Every text's vector is its normalised bag of words, so
the local model (fitted on vectors) and the screening model (fitted on texts) see the same
evidence.
"""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.simulate.stream_replay import StreamReplayConfig, replay_stream

LABELS = ["a", "b"]
STRONG = [[f"alpha{i}" for i in range(3)], [f"beta{i}" for i in range(3)]]
RARE = [[f"rare{c}x{i}" for i in range(20)] for c in (0, 1)]  # 20 rare words per class
NOISE = [f"noise{i}" for i in range(60)]
VOCAB = {w: i for i, w in enumerate([*STRONG[0], *STRONG[1], *RARE[0], *RARE[1], *NOISE])}


def make(n: int, *, hard_share: float, rng: np.random.Generator) -> tuple[list[str], np.ndarray,
                                                                           np.ndarray]:
    """``n`` texts, their bag-of-words vectors ``(n, |VOCAB|)`` and classes."""
    y = rng.integers(0, 2, n)
    hard = rng.random(n) < hard_share
    texts = []
    for c, h in zip(y.tolist(), hard.tolist()):
        words = RARE[c] if h else STRONG[c]
        text = [words[rng.integers(len(words))], *rng.choice(NOISE, size=4, replace=False)]
        texts.append(" ".join(rng.permutation(text).tolist()))
    x = np.zeros((n, len(VOCAB)))
    for r, t in enumerate(texts):
        for w in t.split():
            x[r, VOCAB[w]] += 1.0
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return texts, x, y


@pytest.fixture(scope="module")
def problem() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    texts, x, y = make(4000, hard_share=0.1, rng=rng)
    _, x_easy, y_easy = make(300, hard_share=0.0, rng=rng)
    _, x_hard, y_hard = make(300, hard_share=1.0, rng=rng)
    return texts, x, y, np.vstack([x_easy, x_hard]), np.concatenate([y_easy, y_hard])


@pytest.mark.parametrize("scorer", ["screen", "embedding"])
def test_stream_picks_beat_uniform_within_the_budget(problem, scorer: str) -> None:
    texts, x, y, x_test, y_test = problem
    config = StreamReplayConfig(budget=0.05, batch=100, retrain_every=20, scorer=scorer)
    gains = []
    for seed in range(3):
        r = replay_stream(texts, x, y, x_test=x_test, y_test=y_test, labels=LABELS,
                          config=config, rng=np.random.default_rng(seed))
        assert r.n_stream == 4000
        # 5 % of 4,000, each 1,000-item window within ±10 % of its 50 selections
        assert 180 <= r.n_selected <= 220, r
        lo, hi = r.window_rates
        assert 0.045 <= lo <= hi <= 0.055, r
        assert sum(r.reasons.values()) == 4000
        assert sum(v for k, v in r.reasons.items()
                   if k in ("uncertain", "audit", "budget_floor", "feedback")) == r.n_selected
        assert r.reasons.get("uncertain", 0) > r.reasons.get("audit", 0) > 0, r.reasons
        assert "feedback" not in r.reasons  # no feedback in a replay
        gains.append(r.accuracy_stream - r.accuracy_uniform)
    # uniform picks see ~20 hard items of 40 rare words; the stream spends its budget on them
    assert min(gains) > 0.05, gains
    assert float(np.mean(gains)) > 0.1, gains


def test_the_same_seed_replays_the_same_stream(problem) -> None:
    texts, x, y, x_test, y_test = problem
    config = StreamReplayConfig(budget=0.05, scorer="screen")
    a, b = (replay_stream(texts[:1500], x[:1500], y[:1500], x_test=x_test, y_test=y_test,
                          labels=LABELS, config=config, rng=np.random.default_rng(5))
            for _ in range(2))
    assert a == b


def test_a_distilled_screen_still_picks_within_the_budget_and_beats_uniform(problem) -> None:
    texts, x, y, x_test, y_test = problem
    config = StreamReplayConfig(budget=0.05, scorer="screen", distill=1000)
    r = replay_stream(texts, x, y, x_test=x_test, y_test=y_test, labels=LABELS, config=config,
                      rng=np.random.default_rng(0))
    assert 180 <= r.n_selected <= 220 and 0.045 <= r.window_rates[0] <= r.window_rates[1] <= 0.055
    assert r.accuracy_stream > r.accuracy_uniform, r  # the local model's labels carry the rare words


def test_a_backlog_sample_still_beats_uniform_within_the_band(problem) -> None:
    """The deferred decision behind a backlog: runs of 1,000 items, a quarter embedded (the job's
    plan), the rest decided with utility -1 — never "uncertain", the band still held."""
    texts, x, y, x_test, y_test = problem
    config = StreamReplayConfig(budget=0.05, batch=100, retrain_every=20, decide_every=1000,
                                max_embed=250)
    gains = []
    for seed in range(3):
        r = replay_stream(texts, x, y, x_test=x_test, y_test=y_test, labels=LABELS,
                          config=config, rng=np.random.default_rng(seed))
        lo, hi = r.window_rates
        assert 0.045 <= lo <= hi <= 0.055 and 180 <= r.n_selected <= 220, r
        assert r.reasons.get("uncertain", 0) > r.reasons.get("audit", 0) > 0, r.reasons
        gains.append(r.accuracy_stream - r.accuracy_uniform)
    assert min(gains) > 0.02 and float(np.mean(gains)) > 0.05, gains
