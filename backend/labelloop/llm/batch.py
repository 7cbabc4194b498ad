"""Running a batch of items through an :class:`~labelloop.llm.item.ItemLabeler`.

A fixed number of lanes (four per concurrency slot, so a freed slot always has a request
waiting) take items in order from a :class:`Feed`, which renders the prompts and reads their
cached answers one window at a time: the first window is one slot's worth, so the first calls
start at once; memory stays bounded by the window, not by the batch. Each outcome is handed to
``keep`` as soon as it is known (the labeler buffers it for storage), then to ``on_outcome``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence

from labelloop.llm.calls import CallRunner
from labelloop.llm.item import ItemLabeler
from labelloop.llm.types import LabelOutcome, LabelRequest

LANES_PER_SLOT = 4


class Feed:
    """Hands out ``(index, item)`` in order; prepares the next window when the last is used up.
    Lanes asking while a window is prepared wait for it instead of finishing early."""

    def __init__(self, items: Sequence[LabelRequest], worker: ItemLabeler, runner: CallRunner,
                 *, first: int, window: int) -> None:
        self._items = items
        self._worker = worker
        self._runner = runner
        self._sizes = (max(1, first), max(1, window))
        self._next = 0
        self._ready: deque[int] = deque()
        self._lock = asyncio.Lock()

    async def take(self) -> tuple[int, LabelRequest] | None:
        while not self._ready:
            if self._next >= len(self._items):
                return None
            async with self._lock:
                if not self._ready and self._next < len(self._items):
                    await self._prepare()
        index = self._ready.popleft()
        return index, self._items[index]

    async def _prepare(self) -> None:
        size = self._sizes[0] if self._next == 0 else self._sizes[1]
        part = range(self._next, min(self._next + size, len(self._items)))
        requests = [r for i in part for r in self._worker.first_requests(self._items[i])]
        await self._runner.prefetch(requests)
        self._ready.extend(part)
        self._next = part.stop


async def run_batch(worker: ItemLabeler, runner: CallRunner, items: Sequence[LabelRequest], *,
                    concurrency: int, keep: Callable[[LabelOutcome], None] | None = None,
                    on_outcome: Callable[[LabelOutcome], None] | None = None,
                    ) -> list[LabelOutcome]:
    """One outcome per item, in order."""
    outcomes: list[LabelOutcome | None] = [None] * len(items)
    feed = Feed(items, worker, runner, first=concurrency, window=LANES_PER_SLOT * concurrency)

    async def lane() -> None:
        while (taken := await feed.take()) is not None:
            index, item = taken
            outcome = outcomes[index] = await worker.label(item)
            if keep is not None:
                keep(outcome)
                await runner.maybe_flush()
            if on_outcome is not None:
                on_outcome(outcome)

    lanes = [asyncio.create_task(lane())
             for _ in range(min(len(items), LANES_PER_SLOT * concurrency))]
    try:
        await asyncio.gather(*lanes)
    finally:
        for task in lanes:
            task.cancel()
    return outcomes  # type: ignore[return-value]  # every lane ran to the end: all filled
