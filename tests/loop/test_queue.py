from __future__ import annotations

import numpy as np
import pytest

from labelloop.loop.queue import draw_audit, plan_queue


def test_audit_draw_is_uniform_sized_and_keeps_earlier_draws() -> None:
    rng = np.random.default_rng(0)
    pool = np.arange(100, 300)
    first = draw_audit(pool, np.array([], dtype=int), fraction=0.05, rng=rng)
    assert first.size == 10 and set(first) <= set(pool)
    again = draw_audit(pool[50:], first, fraction=0.05, rng=rng)
    kept = np.intersect1d(first, pool[50:])
    assert set(kept) <= set(again) and again.size == int(np.ceil(0.05 * 150))
    assert draw_audit(pool, first, fraction=0.0, rng=rng).size == 0
    with pytest.raises(ValueError):
        draw_audit(pool, first, fraction=1.0, rng=rng)


def test_audit_draws_are_spread_over_the_queue() -> None:
    order = np.arange(40)
    plan = plan_queue(order, order[:10], np.array([35, 36]), phase="default",
                      disagree=np.zeros(40, dtype=bool), fraction=0.1)
    assert sorted(plan.order.tolist()) == list(range(40))  # a permutation: nothing lost
    slots = np.flatnonzero(plan.audit).tolist()
    assert slots == [9, 19]
    assert plan.order[slots].tolist() == [35, 36]
    assert plan.scores[0] == 0 and np.all(np.diff(plan.scores) > 0) and plan.scores[-1] < 1


def test_reasons_follow_phase_batch_and_disagreement() -> None:
    order = np.array([4, 2, 0, 1, 3])
    disagree = np.array([False, False, True, False, False])
    plan = plan_queue(order, np.array([4, 2]), np.array([], dtype=int), phase="default",
                      disagree=disagree, fraction=0.05)
    assert plan.reasons == ["uncertainty", "disagreement", "rest", "rest", "rest"]
    cold = plan_queue(order, np.array([4, 2]), np.array([3]), phase="cold_start",
                      disagree=disagree, fraction=0.5)
    assert cold.reasons[:2] == ["cold_start", "audit"] and cold.order[1] == 3
