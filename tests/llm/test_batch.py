"""run_batch and its Feed with stand-ins for the item labeler and the call runner: order, one
outcome per item, bounded lanes, windows, and what happens to each outcome."""

from __future__ import annotations

import asyncio

import pytest

from labelloop.llm.batch import LANES_PER_SLOT, run_batch
from labelloop.llm.types import LabelOutcome, LabelRequest


class StubWorker:
    """Labels an item with its text; ``gate`` (when set) holds every label until opened."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.gate = gate
        self.started: list[int] = []
        self.running = self.max_running = 0

    def first_requests(self, item: LabelRequest) -> list[str]:
        return [f"request for {item.task_id}"]

    async def label(self, item: LabelRequest) -> LabelOutcome:
        self.started.append(item.task_id)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0.001 * (item.task_id % 3))  # finish out of order
        finally:
            self.running -= 1
        return LabelOutcome(item.task_id, [item.text], None, None, "unknown")


class StubRunner:
    def __init__(self, prefetch_s: float = 0.0) -> None:
        self.prefetch_s = prefetch_s
        self.windows: list[list[str]] = []
        self.flush_checks = 0

    async def prefetch(self, requests: list[str]) -> None:
        await asyncio.sleep(self.prefetch_s)  # the cache read runs in a thread
        self.windows.append(requests)

    async def maybe_flush(self) -> None:
        self.flush_checks += 1


def requests(n: int) -> list[LabelRequest]:
    return [LabelRequest(i, f"text {i}") for i in range(n)]


@pytest.mark.parametrize("n", [0, 1, 7, 100])
def test_one_outcome_per_item_in_order(n: int) -> None:
    worker, runner = StubWorker(), StubRunner()
    out = asyncio.run(run_batch(worker, runner, requests(n), concurrency=3))  # type: ignore[arg-type]
    assert [o.task_id for o in out] == list(range(n))
    assert [o.labels for o in out] == [[f"text {i}"] for i in range(n)]
    assert sorted(worker.started) == list(range(n))  # each item labeled once


def test_windows_start_with_one_slot_then_grow() -> None:
    runner = StubRunner()
    asyncio.run(run_batch(StubWorker(), runner, requests(50), concurrency=4))  # type: ignore[arg-type]
    sizes = [len(w) for w in runner.windows]
    assert sizes == [4, 16, 16, 14]
    assert [r for w in runner.windows for r in w] == [f"request for {i}" for i in range(50)]


def test_lanes_are_bounded_and_wait_for_a_window_being_prepared() -> None:
    """With every label held, exactly LANES_PER_SLOT × concurrency items are under way: the
    lanes that asked while the second window was being read waited for it, none gave up."""
    concurrency = 3

    async def scenario() -> tuple[StubWorker, list[LabelOutcome]]:
        gate = asyncio.Event()
        worker = StubWorker(gate)
        batch = asyncio.ensure_future(run_batch(
            worker, StubRunner(prefetch_s=0.02), requests(40),  # type: ignore[arg-type]
            concurrency=concurrency))
        for _ in range(200):
            await asyncio.sleep(0.005)
            if worker.running == LANES_PER_SLOT * concurrency:
                break
        await asyncio.sleep(0.05)  # nothing more starts while all lanes are busy
        held = worker.running
        gate.set()
        out = await batch
        assert held == LANES_PER_SLOT * concurrency
        return worker, out

    worker, out = asyncio.run(scenario())
    assert worker.max_running == LANES_PER_SLOT * concurrency and len(out) == 40


def test_each_outcome_is_kept_then_reported_as_it_comes() -> None:
    events: list[tuple[str, int]] = []
    runner = StubRunner()
    asyncio.run(run_batch(StubWorker(), runner, requests(5), concurrency=2,  # type: ignore[arg-type]
                          keep=lambda o: events.append(("keep", o.task_id)),
                          on_outcome=lambda o: events.append(("report", o.task_id))))
    assert sorted(events) == sorted([(k, i) for i in range(5) for k in ("keep", "report")])
    for i in range(5):
        assert events.index(("keep", i)) < events.index(("report", i))
    assert runner.flush_checks == 5  # a flush is considered after each kept outcome


def test_an_on_outcome_error_stops_the_batch() -> None:
    def boom(o: LabelOutcome) -> None:
        raise ValueError("callback failed")

    with pytest.raises(ValueError, match="callback failed"):
        asyncio.run(run_batch(StubWorker(), StubRunner(), requests(9),  # type: ignore[arg-type]
                              concurrency=2, on_outcome=boom))
