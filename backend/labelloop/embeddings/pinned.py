"""An embedder that encodes on its own threads, each fixed at a torch thread count for its life:
the request path's (``POST /api/projects/{id}/classify``, ``LABELLOOP_CLASSIFY_THREADS``).

One item's embedding is a few small matrix products. Spread over torch's default intra-op
threads (one per core) on a loaded machine, each product waits for every thread to be
scheduled: issue 17's benchmark measured a one-item p99 of 929 ms with the default against
54 ms with one thread. The background jobs, which embed thousands of texts, keep their own
setting (``LABELLOOP_EMBEDDING_THREADS``).

Why threads of its own rather than ``torch.set_num_threads`` around each request: on torch's
OpenMP backend the count is per OS thread — a thread's own setting is untouched by what other
threads set — but ``set_num_threads`` also records a process-wide value that every thread
adopts the first time it uses torch. Set and put back around each request, a job thread (or a
request thread) starting its first torch work meanwhile would keep one thread for good. Here
each worker thread sets its count once, when it starts, and the recorded value is put back at
once by a short-lived thread (so no running thread's count changes): a thread would have to
start using torch within those microseconds, once per worker, to be affected. Nothing on the
request path touches torch's settings afterwards, whatever jobs run beside it. On another parallel backend the count
is process-wide: there the workers leave it alone (logged once), as changing it would change
the jobs' too.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

import numpy as np

from labelloop.embeddings.base import Embedder

log = logging.getLogger(__name__)
_PIN_LOCK = threading.Lock()  # one worker at a time changes (and puts back) torch's value


def per_thread_counts() -> bool:
    """Whether torch's intra-op thread count is per OS thread (its OpenMP backend)."""
    import torch

    return "parallel backend: OpenMP" in torch.__config__.parallel_info()


def pin_torch_threads(n: int) -> None:
    """Fix the calling thread's torch intra-op thread count at ``n`` for its life, leaving the
    value other threads start with as it was (see the module's docstring)."""
    import torch

    with _PIN_LOCK:
        before = torch.get_num_threads()  # a new thread's count: the one others start with
        if before == n:
            return
        torch.set_num_threads(n)
        # set_num_threads also recorded n as the value threads start with: put it back from
        # a thread that ends here, so no running thread's own count changes
        restore = threading.Thread(target=torch.set_num_threads, args=(before,),
                                   name="torch-threads-restore")
        restore.start()
        restore.join()


class PinnedThreadsEmbedder:
    """An :class:`~labelloop.embeddings.base.Embedder` running ``inner.encode`` on ``workers``
    threads of its own, each at ``torch_threads`` intra-op threads (all started, and set, on
    first use). ``inner`` must leave torch's thread count alone (a
    :class:`~labelloop.embeddings.sentence_transformer.SentenceTransformerEmbedder` with
    ``torch_threads=None``). Thread-safe; :meth:`close` stops the threads."""

    def __init__(self, inner: Embedder, *, torch_threads: int, workers: int = 1) -> None:
        if torch_threads < 1 or workers < 1:
            raise ValueError("torch_threads and workers must be at least 1")
        if getattr(inner, "torch_threads", None) is not None:
            # its set-and-restore around each encode would record this thread's count as the
            # one every new thread starts with
            raise ValueError("the inner embedder must leave torch's thread count alone "
                             "(torch_threads=None)")
        self.inner = inner
        self.torch_threads = torch_threads
        self.workers = workers
        self._work: queue.SimpleQueue[tuple[list[str], Future[np.ndarray]] | None] = \
            queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self._start()
        done: Future[np.ndarray] = Future()
        self._work.put((list(texts), done))
        return done.result()  # the inner encode's exception, raised again here

    def close(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._work.put(None)
        for t in threads:
            t.join()

    def _start(self) -> None:
        """Every worker started and set before the first encode (not one by one later, while
        others already use torch)."""
        with self._lock:
            if self._threads:
                return
            ready = threading.Barrier(self.workers + 1)
            self._threads = [threading.Thread(target=self._run, args=(i, ready), daemon=True,
                                              name=f"embed-pinned-{i}")
                             for i in range(self.workers)]
            for t in self._threads:
                t.start()
            ready.wait()

    def _run(self, index: int, ready: threading.Barrier) -> None:
        try:
            self._set_threads(warn=index == 0)
        except Exception:  # an encode at whatever count beats a worker that never answers
            log.exception("could not set the request path's torch threads")
        ready.wait()
        while (work := self._work.get()) is not None:
            texts, done = work
            try:
                done.set_result(self.inner.encode(texts))
            except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
                done.set_exception(exc)

    def _set_threads(self, *, warn: bool) -> None:
        try:
            counts_per_thread = per_thread_counts()
        except ImportError:  # no torch: the inner embedder's encode says so, with its error
            return
        if counts_per_thread:
            pin_torch_threads(self.torch_threads)
        elif warn:
            log.warning("torch's thread count is process-wide here (not its OpenMP backend): "
                        "the request path's encodes leave it as it is, "
                        "LABELLOOP_CLASSIFY_THREADS has no effect")
