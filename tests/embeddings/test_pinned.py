"""The request path's embedder: encodes on threads of its own at a fixed torch thread count,
leaving every other thread's count, and the count new threads start with, as they were — also
while a job's embedder sets and restores its own around each encode."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from labelloop.embeddings import SentenceTransformerEmbedder
from labelloop.embeddings.pinned import PinnedThreadsEmbedder, per_thread_counts

torch = pytest.importorskip("torch")
if not per_thread_counts():  # pragma: no cover - torch's CPU wheels use OpenMP
    pytest.skip("torch's thread count is process-wide here", allow_module_level=True)


def counts_of_a_new_thread() -> int:
    got: list[int] = []
    t = threading.Thread(target=lambda: got.append(torch.get_num_threads()))
    t.start()
    t.join()
    return got[0]


class Recording:
    """Records the torch thread count and thread of each encode (``torch_threads`` set: sets
    and restores it around each encode, as the jobs' SentenceTransformerEmbedder does)."""

    name, dim = "recording", 2

    def __init__(self, torch_threads: int | None = None) -> None:
        self.torch_threads = torch_threads
        self.seen: list[tuple[int, str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        previous = torch.get_num_threads()
        if self.torch_threads is not None:
            torch.set_num_threads(self.torch_threads)
        try:
            self.seen.append((torch.get_num_threads(), threading.current_thread().name))
            time.sleep(0.001)  # the count held a while, as a real encode holds it
            return np.ones((len(texts), self.dim), dtype=np.float32)
        finally:
            if self.torch_threads is not None:
                torch.set_num_threads(previous)


@pytest.fixture
def default() -> Iterator[int]:
    """The count threads start with; asserted unchanged after the test."""
    before = counts_of_a_new_thread()
    yield before
    assert counts_of_a_new_thread() == before


def test_encodes_run_on_its_threads_at_their_count_and_nothing_else_changes(
        default: int) -> None:
    n = 1 if default > 1 else 2  # a count other than the default, so a change would show
    mine = torch.get_num_threads()
    inner = Recording()
    pinned = PinnedThreadsEmbedder(inner, torch_threads=n, workers=2)
    try:
        out = pinned.encode(["a", "b", "c"])
        assert out.shape == (3, 2) and (pinned.name, pinned.dim) == ("recording", 2)
        for _ in range(10):
            pinned.encode(["x"])
    finally:
        pinned.close()
    assert {c for c, _ in inner.seen} == {n}
    assert all(name.startswith("embed-pinned") for _, name in inner.seen)
    assert torch.get_num_threads() == mine


def test_a_jobs_embedder_beside_it_keeps_its_own_count(default: int) -> None:
    """A job thread setting and restoring its count around each encode, and request threads
    encoding through the pinned embedder at the same time: each sees its own count, every
    time, and neither leaves anything behind."""
    n = 1 if default > 1 else 2
    job_threads = n + 2
    job = Recording(torch_threads=job_threads)
    request = Recording()
    pinned = PinnedThreadsEmbedder(request, torch_threads=n, workers=2)
    stop = threading.Event()
    errors: list[BaseException] = []

    def job_loop() -> None:
        try:
            while not stop.is_set():
                job.encode(["job text"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def requests() -> None:
        try:
            for _ in range(200):
                pinned.encode(["request text"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    newcomers: list[int] = []  # threads starting to use torch meanwhile: their first count

    def newcomer_loop() -> None:
        while not stop.is_set():
            newcomers.append(counts_of_a_new_thread())

    pinned.encode(["warm"])  # its workers started (and pinned) before anyone else runs
    request.seen.clear()
    worker = threading.Thread(target=job_loop)
    watcher = threading.Thread(target=newcomer_loop)
    worker.start()
    watcher.start()
    clients = [threading.Thread(target=requests) for _ in range(3)]
    try:
        for c in clients:
            c.start()
        for c in clients:
            c.join(60)
    finally:
        stop.set()
        worker.join(60)
        watcher.join(60)
        pinned.close()
    assert errors == []
    assert len(request.seen) == 600 and {c for c, _ in request.seen} == {n}
    assert job.seen and {c for c, _ in job.seen} == {job_threads}
    # the job's own set-and-restore is what a newcomer may catch; the requests never are
    assert newcomers and set(newcomers) <= {default, job_threads}


def test_the_inner_embedder_must_leave_the_count_alone() -> None:
    with pytest.raises(ValueError, match="torch_threads=None"):
        PinnedThreadsEmbedder(Recording(torch_threads=2), torch_threads=1)
    with pytest.raises(ValueError):
        PinnedThreadsEmbedder(Recording(), torch_threads=0)
    twin = SentenceTransformerEmbedder(torch_threads=3).with_threads(None)
    assert twin.torch_threads is None
    PinnedThreadsEmbedder(twin, torch_threads=1).close()  # accepted, nothing started


def test_an_encode_error_reaches_the_caller_and_the_workers_go_on(default: int) -> None:
    class Failing(Recording):
        def encode(self, texts: Sequence[str]) -> np.ndarray:
            if "bad" in texts:
                raise ValueError("bad text")
            return super().encode(texts)

    pinned = PinnedThreadsEmbedder(Failing(), torch_threads=1)
    try:
        with pytest.raises(ValueError, match="bad text"):
            pinned.encode(["bad"])
        assert pinned.encode(["good"]).shape == (1, 2)
    finally:
        pinned.close()
