"""Similarity-judgement projects in SQL (tables in :mod:`labelloop.storage.tables_triplets`):
the corpus, and the triplet tasks' way into Label Studio."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from labelloop.storage.records_triplets import (
    CorpusItem,
    CorpusItemRow,
    TripletCounts,
    TripletStatus,
    TripletTask,
    TripletTaskRow,
)
from labelloop.storage.sql_util import chunks
from labelloop.storage.tables_triplets import triplet_corpus, triplet_tasks

_C = triplet_corpus.c
_T = triplet_tasks.c
OUT = ("pending", "sending")  # not yet a Label Studio task
_SET_CREATED = sa.update(triplet_tasks).where(
    _T.project_id == sa.bindparam("b_project"), _T.id == sa.bindparam("b_id"),
    sa.or_(*(_T.status == s for s in OUT))  # no IN: an executemany takes no expanding list
).values(status="created", ls_task_id=sa.bindparam("b_task"))


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _task(row: sa.Row[Any]) -> TripletTask:
    values = row._asdict()
    values["attempts"] = int(values["attempts"] or 0)
    return TripletTask(**values)


class TripletsTx:
    conn: sa.Connection

    # --- corpus ----------------------------------------------------------------------------
    def add_corpus_items(self, project_id: int, rows: list[CorpusItemRow], *,
                         at: float) -> tuple[int, int]:
        """Store the texts the project's corpus does not hold yet (one per text: a repeat,
        also within ``rows``, keeps the first one's group); (added, duplicates)."""
        by_hash: dict[str, CorpusItemRow] = {}
        for row in rows:
            by_hash.setdefault(text_sha256(row.text), row)
        known: set[str] = set()
        for chunk in chunks(sorted(by_hash)):
            known.update(self.conn.execute(sa.select(_C.text_sha256).where(
                _C.project_id == project_id, _C.text_sha256.in_(chunk))).scalars())
        new = [{"project_id": project_id, "text_sha256": h, "text": r.text, "grp": r.group,
                "added_at": at} for h, r in by_hash.items() if h not in known]
        for chunk in chunks(new):
            self.conn.execute(sa.insert(triplet_corpus), chunk)
        return len(new), len(rows) - len(new)

    def get_corpus(self, project_id: int) -> list[CorpusItem]:
        """The project's corpus in the order it was posted."""
        q = sa.select(_C.id, _C.project_id, _C.text, _C.grp, _C.added_at).where(
            _C.project_id == project_id).order_by(_C.id)
        return [CorpusItem(int(r.id), int(r.project_id), r.text, r.grp, float(r.added_at))
                for r in self.conn.execute(q)]

    # --- triplet tasks ---------------------------------------------------------------------
    def add_triplet_tasks(self, project_id: int, rows: list[TripletTaskRow], *,
                          at: float) -> list[int]:
        """Store the triplets not stored yet (by key: either candidate order), ``pending``;
        the new rows' ids."""
        by_key = {r.key: r for r in reversed(rows)}  # the first of repeats wins
        known: set[str] = set()
        for chunk in chunks(sorted(by_key)):
            known.update(self.conn.execute(sa.select(_T.key).where(
                _T.project_id == project_id, _T.key.in_(chunk))).scalars())
        keys = [r.key for r in rows if r.key not in known]
        keys = list(dict.fromkeys(keys))
        new = [{"project_id": project_id, "key": k, "anchor_id": by_key[k].anchor_id,
                "first_id": by_key[k].first_id, "second_id": by_key[k].second_id,
                "round": by_key[k].round, "hardness": by_key[k].hardness,
                "llm_judgement": by_key[k].llm_judgement,
                "llm_confidence": by_key[k].llm_confidence,
                "llm_version": by_key[k].llm_version, "status": "pending", "attempts": 0,
                "created_at": at} for k in keys]
        for chunk in chunks(new):
            self.conn.execute(sa.insert(triplet_tasks), chunk)
        ids: list[int] = []
        for chunk in chunks(keys):
            got = {str(k): int(i) for k, i in self.conn.execute(sa.select(_T.key, _T.id).where(
                _T.project_id == project_id, _T.key.in_(chunk)))}
            ids.extend(int(got[k]) for k in chunk)
        return ids

    def get_triplet_tasks(self, project_id: int, *, status: TripletStatus | None = None,
                          keys: list[str] | None = None, limit: int | None = None
                          ) -> list[TripletTask]:
        """The project's triplet tasks, oldest first, by status and/or keys."""
        where: list[sa.ColumnElement[bool]] = [_T.project_id == project_id]
        if status is not None:
            where.append(_T.status == status)
        if keys is None:
            q = sa.select(triplet_tasks).where(*where).order_by(_T.id)
            return [_task(r) for r in self.conn.execute(q.limit(limit) if limit else q)]
        found: list[TripletTask] = []
        for chunk in chunks(sorted(set(keys))):
            found.extend(_task(r) for r in self.conn.execute(
                sa.select(triplet_tasks).where(*where, _T.key.in_(chunk))))
        return sorted(found, key=lambda t: t.id)[:limit]

    def mark_triplets_sending(self, project_id: int, ids: list[int], *, at: float) -> None:
        """An import of these is being attempted: ``sending``, one more attempt."""
        for chunk in chunks(list(ids)):
            self.conn.execute(sa.update(triplet_tasks).where(
                _T.project_id == project_id, _T.id.in_(chunk), _T.status.in_(OUT))
                .values(status="sending", attempts=_T.attempts + 1, sent_at=at))

    def mark_triplets_pending(self, project_id: int, ids: list[int]) -> None:
        for chunk in chunks(list(ids)):
            self.conn.execute(sa.update(triplet_tasks).where(
                _T.project_id == project_id, _T.id.in_(chunk), _T.status.in_(OUT))
                .values(status="pending"))

    def mark_triplets_failed(self, project_id: int, ids: list[int]) -> None:
        for chunk in chunks(list(ids)):
            self.conn.execute(sa.update(triplet_tasks).where(
                _T.project_id == project_id, _T.id.in_(chunk), _T.status.in_(OUT))
                .values(status="failed"))

    def mark_triplets_created(self, project_id: int, task_ids: Mapping[int, int]) -> None:
        """{triplet id: Label Studio task id}: those pending or sending become ``created``."""
        if task_ids:
            self.conn.execute(_SET_CREATED, [
                {"b_project": project_id, "b_id": i, "b_task": tid}
                for i, tid in sorted(task_ids.items())])

    def triplet_counts(self, project_id: int) -> TripletCounts:
        corpus, grouped = self.conn.execute(
            sa.select(sa.func.count(), sa.func.count(_C.grp))
            .where(_C.project_id == project_id)).one()
        by_status = {str(s): int(n) for s, n in self.conn.execute(
            sa.select(_T.status, sa.func.count()).where(_T.project_id == project_id)
            .group_by(_T.status))}
        rounds = self.conn.execute(sa.select(sa.func.max(_T.round)).where(
            _T.project_id == project_id)).scalar()
        return TripletCounts(corpus=int(corpus), grouped=int(grouped),
                             pending=by_status.get("pending", 0),
                             sending=by_status.get("sending", 0),
                             created=by_status.get("created", 0),
                             failed=by_status.get("failed", 0), rounds=int(rounds or 0))
