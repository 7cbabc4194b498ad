"""Stream selection (labelloop.selection.stream): the budget band on every 1,000-item window over
random and adversarial orders, the daily cap, feedback first and its cap, the audit's uniformity,
the adaptive threshold, the state's JSON round trip, determinism and the input contract."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from labelloop.errors import InvalidInput
from labelloop.selection.errors import InvalidStreamInput
from labelloop.selection.stream import (
    DAY,
    WINDOW,
    Budget,
    StreamChoice,
    StreamState,
    band,
    decide,
    stream_utility,
)

BUDGETS = (0.01, 0.05, 0.2)


def run(u, fb=None, *, budget, seed=0, batches=None, now=1.7e9, step=0.0, state=None,
        scorer=None):
    """Decide ``u`` in batches (sizes from ``batches``, else 100); the choices and last state."""
    fb = np.zeros(len(u), bool) if fb is None else fb
    rng, state = np.random.default_rng(seed), state or StreamState.new()
    sizes = iter(batches) if batches is not None else iter(lambda: 100, None)
    out: list[StreamChoice] = []
    i = 0
    while i < len(u):
        j = min(len(u), i + max(1, next(sizes)))
        choices, state = decide(u[i:j], fb[i:j], state, budget=budget, now=now + step * i,
                                rng=rng, scorer=scorer)
        out += choices
        i = j
    return out, state


def window_counts(flags) -> np.ndarray:
    c = np.concatenate([[0], np.cumsum(np.asarray(flags, dtype=np.int64))])
    return c[WINDOW:] - c[:-WINDOW]


def assert_band(choices, share):
    lo, hi = band(share)
    w = window_counts([c.selected for c in choices])
    assert w.size and lo <= w.min() and w.max() <= hi, (share, lo, hi, w.min(), w.max())


def test_band_is_plus_minus_ten_percent():
    assert band(0.05) == (45, 55)
    assert band(0.01) == (9, 11)
    assert band(0.2) == (180, 220)
    assert band(1.0) == (900, 1100)
    assert band(0.0015) == (1, 2)  # no integer within 10 % of 1.5: the nearest integers


def _adversarial(kind: str, n: int, g: np.random.Generator) -> np.ndarray:
    if kind == "uniform":
        return g.random(n)
    if kind == "ones":
        return np.ones(n)
    if kind == "zeros":
        return np.zeros(n)
    if kind == "increasing":
        return np.sort(g.random(n))
    if kind == "decreasing":
        return np.sort(g.random(n))[::-1]
    if kind == "high":
        return 0.9 + 0.1 * g.random(n)
    return (g.random(n) < 0.5).astype(float)  # "coin": two values, many ties


KINDS = ("uniform", "ones", "zeros", "increasing", "decreasing", "high", "coin")
segments = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(1, 1500),
                              st.sampled_from(("none", "all", "some"))),
                    min_size=1, max_size=8)


@pytest.mark.parametrize("share", BUDGETS)
@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(segs=segments, seed=st.integers(0, 2**16), batch=st.integers(1, 300))
def test_band_holds_on_every_window_whatever_the_order(share, segs, seed, batch):
    g = np.random.default_rng(seed)
    us, fbs = [], []
    for kind, n, fb in segs:
        us.append(_adversarial(kind, n, g))
        fbs.append(np.full(n, fb == "all") if fb != "some" else g.random(n) < 0.3)
    u, fb = np.concatenate(us), np.concatenate(fbs)
    reps = -(-2500 // len(u))  # at least 2,500 items: the first full window and later ones
    u, fb = np.tile(u, reps), np.tile(fb, reps)
    sizes = g.integers(1, batch + 1, size=len(u))
    choices, _ = run(u, fb, budget=Budget("share", share), seed=seed, batches=sizes)
    assert_band(choices, share)


@pytest.mark.parametrize("share", BUDGETS)
def test_band_holds_on_named_adversarial_streams(share):
    g = np.random.default_rng(7)
    n = 6000
    streams = {
        "sorted": np.sort(g.random(n)), "reversed": np.sort(g.random(n))[::-1],
        "bursts": np.repeat(g.integers(0, 2, n // 300).astype(float), 300),
        "certain then uncertain": np.r_[np.zeros(n // 2), np.ones(n // 2)],
        "saw": np.tile(np.linspace(0, 1, 700), 9)[:n],
    }
    for name, u in streams.items():
        for fb in (np.zeros(n, bool), np.r_[np.ones(n // 3, bool), np.zeros(n - n // 3, bool)]):
            choices, _ = run(u, fb, budget=Budget("share", share), seed=len(name))
            assert_band(choices, share)


def test_the_first_full_window_is_paced():
    # the virtual history paced at the budget before the first item: every prefix stays
    # within about the band's half-width (5 items at 5 %) of the budget line, also when only
    # the floor selects (each new utility the lowest yet) or everything passes (ties)
    for u in (np.linspace(1, 0, 3000), np.zeros(3000), np.linspace(0, 1, 3000)):
        choices, _ = run(u, budget=Budget("share", 0.05, audit_share=0.0))
        sel = np.cumsum([c.selected for c in choices])
        assert 45 <= sel[999] <= 55
        line = 0.05 * np.arange(1, 1001)
        assert (np.abs(sel[:1000] - line) <= 6).all()


def test_per_day_cap_is_never_exceeded_in_any_24_hours():
    g, rng = np.random.default_rng(3), np.random.default_rng(0)
    budget, state, times = Budget("per_day", 50), StreamState.new(), []
    now = 1.7e9
    for k in range(3 * 24 * 20):  # three days, a batch every 3 minutes, uncertain bursts
        n = int(g.integers(1, 200))
        u = g.random(n) if (k // 50) % 2 else np.ones(n)
        choices, state = decide(u, g.random(n) < 0.05, state, budget=budget, now=now, rng=rng)
        times += [now for c in choices if c.selected]
        assert all(c.reason != "budget_floor" for c in choices)
        now += 180 + float(g.integers(0, 60))
    t = np.array(times)
    assert max(np.sum((t > x - DAY) & (t <= x)) for x in t) <= 50
    assert len(t) >= 3 * 45  # and it spends the budget
    hours = np.histogram((t - t[0]) / 3600, bins=np.arange(0, 73, 6))[0]
    assert hours[1:4].min() >= 5  # spread over the day, not spent in the first hours


def test_feedback_first():
    g = np.random.default_rng(1)
    n = 5000
    u = g.random(n) * 0.5
    fb = np.zeros(n, bool)
    fb[g.choice(n, 50, replace=False)] = True  # 10 per 1,000, under the cap of 25
    u[fb] = 0.0  # certain: only feedback can take them
    choices, _ = run(u, fb, budget=Budget("share", 0.05, audit_share=0.0))
    assert all(c.selected and c.reason == "feedback" for c, f in zip(choices, fb) if f)
    assert not any(c.reason == "feedback" for c, f in zip(choices, fb) if not f)


def test_feedback_cap_then_feedback_competes():
    g = np.random.default_rng(2)
    n = 6000
    fb = np.zeros(n, bool)
    fb[1000:4000] = True  # a flood of complaints
    choices, _ = run(g.random(n), fb, budget=Budget("share", 0.05, feedback_share=0.5))
    assert_band(choices, 0.05)
    in_window = window_counts([c.reason == "feedback" for c in choices])
    assert in_window.max() == 25  # floor(0.5 * 50): reached, never passed
    flood = Counter(c.reason for c in choices[1000:4000])
    assert flood["feedback_cap"] > 2000 and flood["uncertain"] > 0 and flood["feedback"] > 0


def test_audit_items_are_a_uniform_sample_of_traffic():
    g = np.random.default_rng(11)
    u = g.beta(2, 5, size=100_000)
    fb = g.random(u.size) < 0.02
    choices, _ = run(u, fb, budget=Budget("share", 0.05, audit_share=0.5), seed=5)
    audit = np.array([c.utility for c in choices if c.reason == "audit"])
    uncertain = np.array([c.utility for c in choices if c.reason == "uncertain"])
    assert 2000 <= audit.size <= 3000  # 0.5 * 5 % of 100,000
    assert ks_2samp(audit, u).pvalue > 0.01
    assert ks_2samp(uncertain, u).pvalue < 1e-6  # the test can tell a biased sample
    audit_fb = np.mean([f for c, f in zip(choices, fb) if c.reason == "audit"])
    assert abs(audit_fb - 0.02) < 0.01  # feedback items are audited like the rest


def test_threshold_adapts_to_an_upward_shift():
    g = np.random.default_rng(4)
    u = np.r_[0.3 * g.random(5000), 0.7 + 0.3 * g.random(5000)]
    choices, state = run(u, budget=Budget("share", 0.05))
    assert_band(choices, 0.05)
    after = choices[6000:]
    assert 0.045 <= np.mean([c.selected for c in after]) <= 0.055
    forced = sum(c.reason in ("budget_floor", "budget_cap") for c in after)
    assert forced <= 0.1 * sum(c.selected for c in after)  # the threshold did it, not the band
    assert state.threshold is not None and state.threshold > 0.7


@pytest.mark.parametrize("new_scorer", ["local", None])
def test_a_new_kind_of_scorer_starts_a_new_ring(new_scorer):
    """Uniform draws before any model, then a model whose utilities sit mostly below them (as a
    retrained model's margins do): under a new scorer the threshold follows the new scale at once
    and the threshold picks the items, not the band's floor; kept under the old scorer's ring,
    the threshold stays among the uniform draws and the floor takes items whatever their
    utility. The band holds on every window either way."""
    g = np.random.default_rng(12)
    before, after = g.random(2000), g.beta(2, 8, size=3000)
    budget = Budget("share", 0.05)
    first, state = run(before, budget=budget, seed=3)
    second, state = run(after, budget=budget, seed=4, state=state, scorer=new_scorer)
    assert state.scorer == new_scorer
    assert_band(first + second, 0.05)
    picked = [c for c in second[:1000] if c.selected]
    forced = sum(c.reason == "budget_floor" for c in picked)
    if new_scorer is None:  # the same (no-model) ring: what the new ring is for
        assert forced > 0.3 * len(picked)
        return
    assert forced <= 0.1 * len(picked)
    top = np.quantile(after[:1000], 0.9)
    chosen = np.array([c.utility for c in picked if c.reason == "uncertain"])
    assert np.mean(chosen >= top) > 0.7  # the most uncertain tenth, mostly


def test_state_json_round_trip_is_exact_and_continues_identically():
    g = np.random.default_rng(5)
    u, fb = g.random(2500), g.random(2500) < 0.05
    for budget in (Budget("share", 0.05), Budget("per_day", 40)):
        _, state = run(u, fb, budget=budget, step=10.0)
        text = json.dumps(state.to_json())
        back = StreamState.from_json(json.loads(text))
        assert back == state and back.to_json() == state.to_json()
        assert len(text) < 12_000
        more = g.random(300)
        a, sa = decide(more, np.zeros(300, bool), state, budget=budget, now=2e9,
                       rng=np.random.default_rng(9))
        b, sb = decide(more, np.zeros(300, bool), back, budget=budget, now=2e9,
                       rng=np.random.default_rng(9))
        assert a == b and sa == sb
    extra = {**state.to_json(), "received": 7}  # callers may keep their own keys beside it
    assert StreamState.from_json(extra) == state
    _, scored = run(g.random(200), budget=Budget("share", 0.05), scorer="model-3")
    assert StreamState.from_json(json.loads(json.dumps(scored.to_json()))) == scored
    older = {k: v for k, v in scored.to_json().items() if k != "scorer"}  # stored before it
    assert StreamState.from_json(older) == StreamState(**{**scored.__dict__, "scorer": None})


@pytest.mark.parametrize("bad", [{}, {"version": 99}, {**StreamState().to_json(), "seen": "1"},
                                 {**StreamState().to_json(), "utilities": "not base64!"},
                                 {**StreamState().to_json(), "selected": [1.5]},
                                 {**StreamState().to_json(), "scorer": 3}])
def test_a_bad_state_is_refused(bad):
    with pytest.raises(InvalidStreamInput):
        StreamState.from_json(bad)


def test_deterministic_with_a_seeded_generator_and_batching_does_not_matter():
    u = np.random.default_rng(6).random(3000)
    a, sa = run(u, budget=Budget("share", 0.05), seed=1)
    b, sb = run(u, budget=Budget("share", 0.05), seed=1)
    c, _ = run(u, budget=Budget("share", 0.05), seed=1, batches=[1, 7, 500, 1000] * 10)
    d, _ = run(u, budget=Budget("share", 0.05), seed=2)
    assert a == b and sa == sb and a == c
    assert a != d


def test_contract_empty_batch_nan_and_shapes():
    state, budget, rng = StreamState.new(), Budget("share", 0.05), np.random.default_rng(0)
    assert decide(np.zeros(0), np.zeros(0, bool), state, budget=budget, now=0.0, rng=rng) == \
        ([], state)
    bad = [
        (np.array([0.1, np.nan]), np.zeros(2, bool)),
        (np.array([0.1, np.inf]), np.zeros(2, bool)),
        (np.zeros((2, 2)), np.zeros((2, 2), bool)),
        (np.zeros(3), np.zeros(2, bool)),
        (np.zeros(2), np.zeros(2)),  # feedback must be booleans
        (np.array(["a", "b"]), np.zeros(2, bool)),
    ]
    for u, fb in bad:
        with pytest.raises(InvalidStreamInput) as e:
            decide(u, fb, state, budget=budget, now=0.0, rng=rng)
        assert isinstance(e.value, InvalidInput) and isinstance(e.value, ValueError)
    with pytest.raises(InvalidStreamInput):
        decide(np.zeros(1), np.zeros(1, bool), state, budget=budget, now=float("nan"), rng=rng)
    choices, new = decide(np.full(5, 0.5), np.zeros(5, bool), state, budget=budget, now=0.0,
                          rng=rng)
    assert len(choices) == 5 and new.seen == 5 and len(new.utility_array()) == 5
    assert all(isinstance(c.selected, bool) and isinstance(c.utility, float) for c in choices)


@pytest.mark.parametrize("args", [("share", 0.0), ("share", 1.5), ("per_day", 0.5),
                                  ("hourly", 1.0)])
def test_a_bad_budget_is_refused(args):
    with pytest.raises(InvalidStreamInput):
        Budget(*args)
    with pytest.raises(InvalidStreamInput):
        Budget("share", 0.05, feedback_share=1.5)


def test_budget_from_settings(tmp_path):
    from tests.conftest import make_settings

    s = make_settings(tmp_path, stream_budget="200/day", stream_feedback_share=0.3,
                      stream_audit_share=0.2)
    assert Budget.from_settings(s) == Budget("per_day", 200.0, feedback_share=0.3,
                                             audit_share=0.2)


def test_stream_utility_margin_and_disagreement():
    rng = np.random.default_rng(0)
    p = np.array([[0.5, 0.5], [1.0, 0.0], [0.9, 0.1], [0.2, 0.8]])
    np.testing.assert_allclose(stream_utility(p, rng=rng), [1.0, 0.0, 0.2, 0.4])
    prod = np.array([-1, 1, 0, 1])  # item 1: the production model says 1, the screen 0
    u = stream_utility(p, production=prod, rng=rng)
    np.testing.assert_allclose(u, [1.0, 0.5, 0.2, 0.4])
    assert u.shape == (4,) and ((0 <= u) & (u <= 1)).all()
    multi = stream_utility(np.array([[0.9, 0.5], [0.9, 0.1]]), production=np.array([1, 1]),
                           rng=rng, multi_label=True)
    # item 0: mean Bernoulli margin (0.2 + 1.0) / 2, its label 1 at 0.5 not doubted; item 1:
    # margin 0.2, but the production model's label 1 is at 0.1: 1 - 0.8 * 0.5
    np.testing.assert_allclose(multi, [0.6, 0.6])
    np.testing.assert_allclose(
        stream_utility(np.array([[0.9, 0.1]]), rng=rng, multi_label=True), [0.2])


def test_stream_utility_cold_start_is_uniform_and_checks_inputs():
    rng = np.random.default_rng(0)
    u = stream_utility(None, production=np.full(20_000, -1), rng=rng)
    assert u.shape == (20_000,) and ks_2samp(u, np.linspace(0, 1, 1000)).pvalue > 0.01
    assert stream_utility(None, n_items=3, rng=rng).shape == (3,)
    with pytest.raises(InvalidStreamInput):
        stream_utility(None, rng=rng)
    with pytest.raises(InvalidStreamInput):
        stream_utility(np.array([[0.5, 0.5]]), production=np.array([2]), rng=rng)
    with pytest.raises(InvalidStreamInput):
        stream_utility(np.array([[0.5, 0.5]]), production=np.array([0.5]), rng=rng)
    with pytest.raises(InvalidInput):
        stream_utility(np.array([[0.5, np.nan]]), rng=rng)


def test_a_budget_of_one_takes_every_item() -> None:
    rng = np.random.default_rng(3)
    state = StreamState.new()
    taken = 0
    for b in range(20):
        choices, state = decide(rng.random(100), np.zeros(100, dtype=bool), state,
                                budget=Budget("share", 1.0), now=float(b), rng=rng)
        taken += sum(c.selected for c in choices)
    assert taken == 2000
