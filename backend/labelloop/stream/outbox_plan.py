"""The outbox's decisions, pure: what a Label Studio task made of a stream item carries, how the
items of an attempt with an unknown outcome are found again, and the batches.

Every task made of a stream item carries its key twice: in ``meta`` and in ``data`` under
:data:`KEY_FIELD` (the label config reads only its own ``$fields``, so the extra data key is
never shown; ``data`` survives every Label Studio export and resync, ``meta`` keeps it apart
from what annotators see). Either one identifies the item.

The scan bound of a recovery: Label Studio's task ids only grow (an auto-increment key on
SQLite and a sequence on PostgreSQL: an id is never handed out again), and the outbox runs one
attempt of a project at a time (its job's serial key). So every task an attempt created has an
id above every task an earlier attempt created: :func:`recovery_floor` is the highest Label
Studio task id of the items created by attempts that began before the oldest unknown one, read
from the item rows themselves (their ``ls_task_id`` and ``sent_at``); nothing else is stored.
Without such an item (the project's first attempt) the whole project is scanned, once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from labelloop.storage.records_stream import StreamItem

KEY_FIELD = "labelloop_stream_key"


def task_body(item: StreamItem, predictions: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The Label Studio task of a stream item: its data with the key added, the key in
    ``meta``, and its ``predictions`` (already validated: see :mod:`labelloop.stream.
    outbox_predict`) when there are any."""
    body: dict[str, Any] = {"data": {**item.data, KEY_FIELD: item.key},
                            "meta": {KEY_FIELD: item.key}}
    if predictions:
        body["predictions"] = [dict(p) for p in predictions]
    return body


def stream_key_of(task: Mapping[str, Any]) -> str | None:
    """The stream key a Label Studio task carries (``meta`` first, then ``data``); None for a
    task not made of a stream item."""
    for part in ("meta", "data"):
        value = task.get(part)
        key = value.get(KEY_FIELD) if isinstance(value, Mapping) else None
        if isinstance(key, str) and key:
            return key
    return None


def recovery_floor(sending: Sequence[StreamItem], created: Sequence[StreamItem]) -> int | None:
    """The Label Studio task id above which the tasks of the ``sending`` items' attempts lie:
    the highest ``ls_task_id`` of the ``created`` items sent strictly before the oldest of
    those attempts began (None: no such item, scan from the first task)."""
    starts = [it.sent_at for it in sending]
    if not starts or any(s is None for s in starts):
        return None  # an attempt of unknown start: any task may be one of it
    first = min(s for s in starts if s is not None)
    before = [it.ls_task_id for it in created
              if it.ls_task_id is not None and it.sent_at is not None and it.sent_at < first]
    return max(before, default=None)


@dataclass(frozen=True)
class Recovery:
    """What the scan found: ``created`` {item id: task id} (the attempt did create the task),
    ``pending`` item ids (it did not: they go again), ``extra`` task ids carrying a key that
    already has a task (kept in Label Studio, logged; the lowest id is the item's task)."""

    created: dict[int, int]
    pending: list[int]
    extra: dict[str, list[int]]


class Keyed(Protocol):
    """An outbox row: its id and the key its Label Studio task carries (a stream item, a
    triplet task)."""

    @property
    def id(self) -> int: ...

    @property
    def key(self) -> str: ...


def plan_recovery(sending: Sequence[Keyed], found: Mapping[str, Sequence[int]]) -> Recovery:
    """Each ``sending`` row is created when a task carrying its key was ``found`` ({key:
    task ids}), else back to pending (the stream's outbox and the triplets')."""
    created: dict[int, int] = {}
    pending: list[int] = []
    extra: dict[str, list[int]] = {}
    for item in sending:
        ids = sorted(found.get(item.key, ()))
        if ids:
            created[item.id] = ids[0]
            if len(ids) > 1:
                extra[item.key] = ids[1:]
        else:
            pending.append(item.id)
    return Recovery(created, pending, extra)


def created_tasks(items: Sequence[StreamItem], bodies: Sequence[Mapping[str, Any]],
                  task_ids: Sequence[int]) -> tuple[dict[int, int], list[dict[str, Any]]]:
    """After an import answered ``task_ids`` (request order): {item id: task id} and the
    tasks as labelloop's tasks table stores them (``{"id", "data", "meta"}``)."""
    if not len(items) == len(bodies) == len(task_ids):
        raise ValueError(f"{len(items)} items, {len(bodies)} tasks sent, {len(task_ids)} ids "
                         "answered: every task sent needs its id")
    links = {it.id: int(tid) for it, tid in zip(items, task_ids)}
    rows = [{"id": int(tid), "data": dict(b["data"]), "meta": dict(b.get("meta") or {})}
            for b, tid in zip(bodies, task_ids)]
    return links, rows

