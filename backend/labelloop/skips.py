"""Bad items are skipped, not fatal: which errors an item can cause, and recording the skips.

A job works on many items (tasks); one item it cannot process (text that cannot be encoded, an
embedder or a database that refuses a value, an LLM answer outside the label set) must not stop
the others, nor every later run of the job. :func:`is_item_error` tells such an error from one
that concerns the whole job (the model cannot be loaded, the database or Label Studio is away:
those still fail the job, which is retried); :func:`reason_of` is the short text recorded;
:func:`record_skips` stores what a run skipped in ``skipped_items`` (shown in ``/status`` and on
the dashboard) and forgets what it processed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

import sqlalchemy as sa

from labelloop.errors import InvalidInput
from labelloop.text import clean_text

if TYPE_CHECKING:  # storage imports the embedding cache, which imports this module
    from labelloop.storage.base import Storage

log = logging.getLogger(__name__)
REASON_CHARS = 300

# Raised by what one value does; not by a lost connection, a missing model or a full disk.
ITEM_ERRORS: tuple[type[BaseException], ...] = (
    UnicodeError, ValueError, TypeError, OverflowError, KeyError, IndexError, RecursionError,
    InvalidInput, sa.exc.DataError, sa.exc.IntegrityError,
)


def is_item_error(exc: BaseException) -> bool:
    """True when ``exc`` is about the item being processed, not about the job's resources."""
    if isinstance(exc, sa.exc.DBAPIError):  # the database answered: only a bad value counts
        return isinstance(exc, (sa.exc.DataError, sa.exc.IntegrityError))
    if isinstance(exc, sa.exc.StatementError):  # a value SQLAlchemy could not bind
        return exc.orig is None or is_item_error(exc.orig)
    return isinstance(exc, ITEM_ERRORS)


def reason_of(exc: BaseException) -> str:
    """A short, storable reason: the exception's type and first line (no SQL, no parameters);
    the same for every text with the same problem, so reasons group."""
    if isinstance(exc, UnicodeEncodeError):
        return (f"{type(exc).__name__}: the text is not valid Unicode ({exc.reason}: "
                f"{exc.object[exc.start:exc.end]!r})")
    if isinstance(exc, sa.exc.StatementError) and exc.orig is not None:
        exc = exc.orig
    message = exc.message if isinstance(exc, InvalidInput) else str(exc)
    first = (message.strip().splitlines() or [""])[0]
    return clean_text(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)[
        :REASON_CHARS]


def record_skips(storage: Storage, project_id: int, job_kind: str,
                 skipped: Mapping[int, str], *, processed: Collection[int] | None = None,
                 whole_project: bool = False) -> None:
    """Store the run's skips ({task id: reason}) and forget the earlier skips of the tasks it
    processed: ``processed`` ids, or with ``whole_project`` every task not skipped this time
    (a run over all of the project's tasks)."""
    if skipped:
        first = next(iter(skipped.items()))
        log.warning("project %s: %s skipped %d task(s) (task %s: %s)", project_id, job_kind,
                    len(skipped), first[0], first[1])
    if not skipped and not whole_project and not processed:
        return
    if not skipped:  # nothing to add: write only when there is something to forget
        with storage.read() as tx:
            if not tx.skipped_items(project_id, job_kind=job_kind, limit=1):
                return
    with storage.write() as tx:
        if whole_project:
            tx.clear_skips(project_id, job_kind, keep=list(skipped))
        elif processed:
            tx.clear_skips(project_id, job_kind, task_ids=list(processed))
        tx.record_skips(project_id, job_kind, skipped)
