"""The deferred decision's plan (labelloop.stream.decide_plan): arrival order, the budget band
held across chunks, a sample under a backlog with -1 for the rest, feedback first, a uniform
audit, uniform draws without a model, and a new model version starting a new ring."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.models.logistic import LocalModel, fit_local_model
from labelloop.selection.errors import InvalidStreamInput
from labelloop.selection.stream import Budget, StreamState, decide
from labelloop.stream.decide_plan import NOT_SCORED, plan_decisions, sample_to_embed

BUDGET = Budget(mode="share", value=0.05, feedback_share=0.5, audit_share=0.1)
LABELS = ("a", "b")


def toy(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping classes in 4 dimensions: margins from sure to unsure."""
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 1, (n, 4)) + np.outer(2 * y - 1, [1.0, 0.5, 0, 0])
    return x.astype(np.float32), y


def model(seed: int = 0) -> LocalModel:
    x, y = toy(np.random.default_rng(seed), 200)
    return fit_local_model(x, y, labels=LABELS)


def run(x: np.ndarray, state: StreamState, *, m: LocalModel | None, max_embed: int = 10**9,
        feedback: np.ndarray | None = None, at: np.ndarray | None = None, seed: int = 0,
        scorer: str | None = "local"):
    n = len(x)
    rng = np.random.default_rng(seed)
    pos = sample_to_embed(n, max_embed=max_embed, rng=rng)
    return plan_decisions(
        x[pos], pos, np.zeros(n, bool) if feedback is None else feedback, state, model=m,
        scorer=scorer if m is not None else None, budget=BUDGET,
        received_at=np.full(n, 1.0) if at is None else at, rng=rng)


def windows(selected: np.ndarray) -> np.ndarray:
    c = np.concatenate([[0], np.cumsum(selected)])
    return c[1000:] - c[:-1000]


def test_sample_is_everything_up_to_max_embed_then_a_uniform_subset() -> None:
    rng = np.random.default_rng(0)
    assert sample_to_embed(5, max_embed=5, rng=rng).tolist() == [0, 1, 2, 3, 4]
    got = sample_to_embed(10_000, max_embed=500, rng=rng)
    assert got.size == 500 and np.all(np.diff(got) > 0) and got.min() >= 0 and got.max() < 10_000
    assert 0.4 < got.mean() / 10_000 < 0.6  # spread over the chunk, not its head
    with pytest.raises(InvalidStreamInput):
        sample_to_embed(3, max_embed=0, rng=rng)


def test_one_decide_per_ingest_batch_in_arrival_order() -> None:
    """The plan equals decide() called batch by batch (items received together) in order."""
    x, _ = toy(np.random.default_rng(1), 300)
    at = np.repeat([10.0, 20.0, 30.0], 100)
    plan = run(x, StreamState.new(), m=None, at=at, seed=3)
    rng = np.random.default_rng(3)
    sample_to_embed(300, max_embed=10**9, rng=rng)  # draws nothing
    utilities = rng.random(300)
    state, want = StreamState.new(), []
    for k in range(3):
        got, state = decide(utilities[100 * k:100 * (k + 1)], np.zeros(100, bool), state,
                            budget=BUDGET, now=at[100 * k], rng=rng, scorer=None)
        want += got
    assert plan.choices == want and plan.state == state
    with pytest.raises(InvalidStreamInput):
        run(x, StreamState.new(), m=None, at=at[::-1].copy())


def test_the_band_holds_across_chunks_with_a_backlog_sample() -> None:
    rng = np.random.default_rng(2)
    m = model()
    state, selected, reasons = StreamState.new(), [], []
    for chunk in range(12):  # chunks of varying size, some above max_embed
        n = [300, 2500, 700, 1200][chunk % 4]
        x, _ = toy(rng, n)
        if chunk % 3 == 2:  # an all-uncertain burst: every item on the boundary
            x[:, :2] = 0.0
        plan = run(x, state, m=m, max_embed=800, seed=chunk)
        state = plan.state
        selected += [c.selected for c in plan.choices]
        reasons += [c.reason for c in plan.choices]
    counts = windows(np.array(selected))
    assert counts.min() >= 45 and counts.max() <= 55, (counts.min(), counts.max())
    assert reasons.count("uncertain") > 0.6 * sum(selected)  # the model decides most picks


def test_a_backlog_embeds_a_sample_and_the_rest_gets_minus_one_never_uncertain() -> None:
    x, _ = toy(np.random.default_rng(4), 5000)
    fb = np.zeros(5000, bool)
    fb[::97] = True  # feedback, scored or not
    plan = run(x, StreamState.new(), m=model(), max_embed=1000, feedback=fb, seed=5)
    scored = plan.label >= 0
    assert scored.sum() == 1000
    utilities = np.array([c.utility for c in plan.choices])
    assert np.all(utilities[~scored] == NOT_SCORED) and np.all(utilities[scored] >= 0)
    assert np.all(np.isnan(plan.probability[~scored]))
    not_scored = {c.reason for c, s in zip(plan.choices, scored) if not s and c.selected}
    assert "uncertain" not in not_scored and "feedback" in not_scored
    picked = [c.reason for c, s in zip(plan.choices, scored) if s and c.selected]
    assert picked.count("uncertain") > 100  # the scored fifth carries the threshold's picks
    assert 225 <= sum(c.selected for c in plan.choices) <= 275  # 5 % of 5,000, within ±10 %


def test_a_sample_smaller_than_the_budget_leaves_the_rest_to_the_floor() -> None:
    """2 % embedded against a 4.5 % threshold share: the threshold sits at -1, and still no
    item without a utility is taken as "uncertain" (the band's floor takes them)."""
    x, _ = toy(np.random.default_rng(11), 5000)
    plan = run(x, StreamState.new(), m=model(), max_embed=100, seed=6)
    scored = plan.label >= 0
    reasons = [c.reason for c, s in zip(plan.choices, scored) if not s and c.selected]
    assert "uncertain" not in reasons and "budget_floor" in reasons
    assert 225 <= sum(c.selected for c in plan.choices) <= 275


def test_feedback_first_even_without_a_utility() -> None:
    x, _ = toy(np.random.default_rng(6), 400)
    fb = np.zeros(400, bool)
    fb[[5, 50, 150, 300]] = True
    plan = run(x, StreamState.new(), m=model(), max_embed=50, feedback=fb, seed=1)
    assert [plan.choices[i].reason for i in (5, 50, 150, 300)] in (
        ["feedback"] * 4, *[["audit" if j == k else "feedback" for j in range(4)]
                            for k in range(4)])


def test_audit_is_a_uniform_sample_of_scored_and_unscored_items() -> None:
    rng = np.random.default_rng(7)
    m = model()
    audit_scored = audit = scored_total = total = 0
    state = StreamState.new()
    for k in range(10):
        x, _ = toy(rng, 4000)
        plan = run(x, state, m=m, max_embed=1000, seed=100 + k)
        state = plan.state
        scored = plan.label >= 0
        is_audit = np.array([c.reason == "audit" for c in plan.choices])
        audit += int(is_audit.sum())
        audit_scored += int((is_audit & scored).sum())
        scored_total += int(scored.sum())
        total += scored.size
    assert 140 <= audit <= 260  # 0.5 % of 40,000 = 200
    share = scored_total / total  # 0.25
    expected = audit * share
    assert abs(audit_scored - expected) < 4 * np.sqrt(audit * share * (1 - share))


def test_without_a_model_the_utilities_are_uniform_draws() -> None:
    x, _ = toy(np.random.default_rng(8), 3000)
    plan = run(x, StreamState.new(), m=None, max_embed=100, seed=2)
    u = np.array([c.utility for c in plan.choices])
    assert np.all((u >= 0) & (u < 1)) and np.all(plan.label == -1)
    assert 0.45 < u.mean() < 0.55 and plan.state.scorer is None
    assert sum(c.reason == "uncertain" for c in plan.choices) > 100


def test_the_first_model_starts_a_new_ring_and_a_retrained_one_keeps_it() -> None:
    x1, _ = toy(np.random.default_rng(9), 900)
    uniform = run(x1, StreamState.new(), m=None)
    assert uniform.state.scorer is None and uniform.state.utility_array().size == 900
    x2, _ = toy(np.random.default_rng(10), 300)
    first = run(x2, uniform.state, m=model(), scorer="local")
    assert first.state.scorer == "local" and first.state.utility_array().size == 300
    assert first.state.seen == 1200 and first.state.selected  # the band's count goes on
    x3, _ = toy(np.random.default_rng(11), 800)
    retrained = run(x3, first.state, m=model(1), scorer="local")
    assert retrained.state.utility_array().size == 1000  # the ring goes on (kept at its window)
    assert retrained.state.seen == 2000
