"""Rate limits and the circuit breaker, on a fake clock."""

from __future__ import annotations

import asyncio

from labelloop.llm.limits import CircuitBreaker, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_requests_per_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(requests_per_minute=3, clock=clock)
    assert [limiter._wait_time(0) for _ in range(3)] == [0, 0, 0]
    clock.t += 10
    assert limiter._wait_time(0) == 50  # the first call leaves the window at t0 + 60
    clock.t += 50
    assert limiter._wait_time(0) == 0


def test_tokens_per_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(tokens_per_minute=1000, clock=clock)
    assert limiter._wait_time(600) == 0
    clock.t += 5
    assert limiter._wait_time(300) == 0
    clock.t += 5
    assert limiter._wait_time(200) == 50  # 900 used: wait for the first 600 to leave
    assert limiter._wait_time(5000) == 55  # bigger than the limit: waits for an empty window


def test_acquire_sleeps_until_allowed() -> None:
    limiter = RateLimiter(requests_per_minute=2, window_s=0.2)

    async def go() -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for _ in range(5):
            await limiter.acquire()
        return loop.time() - t0

    assert asyncio.run(go()) >= 0.35  # 5 calls at 2 per 0.2 s: two full waits


def test_unlimited_limiter_never_waits() -> None:
    assert not RateLimiter().active
    asyncio.run(RateLimiter().acquire(10**9))


def test_breaker_opens_after_consecutive_failures_and_closes_after_cooldown() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=3, cooldown_s=60, clock=clock)
    assert b.failure("e1") is None and b.failure("e2") is None
    b.success()  # resets the count
    assert b.failure("e1") is None and b.failure("e2") is None
    opened = b.failure("HTTP 500: boom")
    assert opened is not None and opened[0] == 1060
    assert "3 consecutive failed LLM calls; last: HTTP 500: boom" in opened[1]
    assert b.open_until() == 1060 and b.reason == opened[1]
    clock.t = 1061
    assert b.open_until() is None and b.reason is None
    assert b.failure("again") is not None  # half-open: one failure re-opens at once


def test_breaker_restores_a_pause_from_storage() -> None:
    clock = Clock()
    b = CircuitBreaker(failures=5, cooldown_s=60, clock=clock)
    b.restore(1030, "paused elsewhere")
    assert b.open_until() == 1030 and b.reason == "paused elsewhere"
    b.restore(None, None)  # resumed elsewhere
    assert b.open_until() is None and b.failure("x") is None  # closed, count reset
    b.restore(900, "old pause")  # already over
    assert b.open_until() is None
