"""Pacing LLM calls: requests-/tokens-per-minute limits and a circuit breaker.

Both are plain objects with an injectable clock; the limiter waits with ``asyncio.sleep`` and
holds no event-loop state, so one instance serves calls from any loop. Concurrency is an
``asyncio.Semaphore`` made per batch (see :mod:`labelloop.llm.calls`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import Protocol


class Clock(Protocol):
    def __call__(self) -> float: ...


class RateLimiter:
    """At most ``requests_per_minute`` calls and ``tokens_per_minute`` tokens in any 60 s."""

    def __init__(self, *, requests_per_minute: int | None = None,
                 tokens_per_minute: int | None = None, clock: Clock = time.monotonic,
                 window_s: float = 60.0) -> None:
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self.clock = clock
        self.window_s = window_s
        self._events: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.rpm is not None or self.tpm is not None

    def _wait_time(self, tokens: int) -> float:
        now = self.clock()
        while self._events and self._events[0][0] <= now - self.window_s:
            self._events.popleft()
        wait = 0.0
        if self.rpm is not None and len(self._events) >= self.rpm:
            wait = self._events[len(self._events) - self.rpm][0] + self.window_s - now
        if self.tpm is not None and self._events:
            used = sum(n for _, n in self._events)
            over = used + min(tokens, self.tpm) - self.tpm
            for at, n in self._events:  # oldest first: wait until enough has left the window
                if over <= 0:
                    break
                over -= n
                wait = max(wait, at + self.window_s - now)
        if wait <= 0:
            self._events.append((now, tokens))
        return max(0.0, wait)

    async def acquire(self, tokens: int = 0) -> None:
        """Wait until a call of ``tokens`` estimated tokens fits, then count it."""
        if not self.active:
            return
        while True:
            with self._lock:
                wait = self._wait_time(tokens)
            if wait <= 0:
                return
            await asyncio.sleep(min(wait, self.window_s))


class CircuitBreaker:
    """Opens after ``failures`` consecutive failed calls; stays open ``cooldown_s``, then lets
    calls through again (one failure re-opens it at once)."""

    def __init__(self, *, failures: int, cooldown_s: float, clock: Clock = time.time) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._count = 0
        self._open_until: float | None = None
        self._reason: str | None = None
        self._lock = threading.Lock()

    def open_until(self) -> float | None:
        with self._lock:
            if self._open_until is not None and self.clock() >= self._open_until:
                self._open_until = None
                self._count = self.threshold - 1  # half-open: one more failure re-opens
            return self._open_until

    @property
    def reason(self) -> str | None:
        return self._reason if self.open_until() is not None else None

    def restore(self, until: float | None, reason: str | None) -> None:
        """Take over the pause recorded in storage, the source of truth shared by processes
        (one may have opened the breaker, or resumed LLM work, since)."""
        with self._lock:
            if until is not None and until > self.clock():
                self._open_until, self._reason = until, reason
                self._count = self.threshold
            elif self._open_until is not None:
                self._count, self._open_until, self._reason = 0, None, None

    def reset(self) -> None:
        """Close now, forgetting failures."""
        with self._lock:
            self._count, self._open_until, self._reason = 0, None, None

    def success(self) -> None:
        with self._lock:
            self._count = 0

    def failure(self, error: str) -> tuple[float, str] | None:
        """Count a failed call; returns (until, reason) when this failure opens the breaker."""
        with self._lock:
            self._count += 1
            if self._count < self.threshold or self._open_until is not None:
                return None
            self._open_until = self.clock() + self.cooldown_s
            self._reason = (f"{self._count} consecutive failed LLM calls; last: {error}; "
                            f"paused for {self.cooldown_s:.0f} s")
            return self._open_until, self._reason
