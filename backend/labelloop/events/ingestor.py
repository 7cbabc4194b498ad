"""Group commit for webhooks: one writer thread stores and applies every waiting event at once.

Label Studio sends webhooks synchronously inside the annotator's request, with a 1 s timeout and
no retry, so the acknowledgement must be fast even when many annotators submit together. With
SQLite a single writer holds the lock anyway; letting each request take it in turn makes latency
grow with the queue. Here the requests hand their bodies to one thread, which drains everything
waiting and applies it in one transaction (set-based statements), then answers each request.
A request is answered only after its own event is committed, so nothing acknowledged is lost.
If a batch fails, its events are retried one by one, so one poisonous event cannot sink others;
an event that still fails because a value of it is refused is recorded as a stub (:func:`~labelloop.events.
parse.stub`) and answered 422, so no input gets a 5xx and none is silently lost. Only storage
that fails (locked, disconnected, out of space) answers 503.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

import sqlalchemy.exc as sa_exc

from labelloop.errors import InvalidInput, StorageError
from labelloop.events.apply import IngestResult, apply_batch
from labelloop.events.parse import Body, body_hash, stub
from labelloop.settings import Settings
from labelloop.storage.base import Storage

log = logging.getLogger(__name__)
_STOP = object()


class WebhookIngestor:
    def __init__(self, storage: Storage, settings: Settings, *, max_batch: int = 256,
                 on_jobs: Callable[[], None] = lambda: None) -> None:
        self.storage = storage
        self.settings = settings
        self.max_batch = max_batch
        self.on_jobs = on_jobs
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.events = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="labelloop-ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, body: Body) -> Future[IngestResult]:
        fut: Future[IngestResult] = Future()
        if self._thread is None:
            fut.set_exception(StorageError("webhook ingestion is not running"))
            return fut
        self._queue.put((body, fut))
        return fut

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                break
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
            self._commit(batch)

    def _commit(self, batch: list[tuple[Body, Future]]) -> None:
        try:
            with self.storage.write() as tx:
                results = apply_batch(tx, [body for body, _ in batch], self.settings)
        except Exception as exc:  # noqa: BLE001 (retried alone, then a stub or a 503)
            if len(batch) > 1:
                log.warning("a batch of %d webhooks failed (%s); applying them one by one",
                            len(batch), exc)
                for item in batch:
                    self._commit([item])
                return
            self._unappliable(*batch[0], exc)
            return
        self.batches += 1
        self.events += len(batch)
        for (_, fut), res in zip(batch, results):
            fut.set_result(res)
        if any(r.jobs for r in results):
            self.on_jobs()

    def _unappliable(self, body: Body, fut: Future, exc: Exception) -> None:
        """One event failed to store or apply: when a value of it was refused, record its stub
        and answer 422; else (storage failing) answer 503."""
        if not _refused_value(exc):
            log.error("storing a webhook failed: %s", exc)
            fut.set_exception(StorageError(f"could not store the event: {exc}"))
            return
        log.exception("a webhook could not be applied; recording it as a stub")
        reason = f"the event could not be applied ({type(exc).__name__}); recorded as a stub"
        try:
            with self.storage.write() as tx:
                (event_id,) = tx.add_events([{
                    "action": None, "project_id": None, "body": stub(body, reason),
                    "body_hash": body_hash(body), "status": "invalid", "error": reason}])
        except Exception as again:
            log.exception("recording the stub failed too")
            fut.set_exception(StorageError(f"could not store the event: {again}"))
            return
        fut.set_result(IngestResult(event_id, "invalid", None, None,
                                    error=InvalidInput(reason)))


_VALUE_ERRORS = (ValueError, TypeError, LookupError, ArithmeticError, AttributeError,
                 RecursionError)


def _refused_value(exc: Exception) -> bool:
    """Whether ``exc`` says a value of the event was refused (by the database or the code), as
    opposed to storage failing (locked, disconnected, out of space: those answer 503)."""
    if isinstance(exc, (sa_exc.DataError, sa_exc.IntegrityError)):
        return True
    if isinstance(exc, sa_exc.StatementError) and not isinstance(exc, sa_exc.DBAPIError):
        return isinstance(exc.orig, _VALUE_ERRORS)  # raised while binding parameters
    return isinstance(exc, _VALUE_ERRORS)
