"""Predictions and model versions, in SQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from labelloop.storage import tables as t
from labelloop.storage.records import ModelVersion, Prediction
from labelloop.storage.records_ops import ProjectModels
from labelloop.storage.sql_util import chunks, now, upsert

_P = t.predictions.c
_V = t.model_versions.c
_R = t.projects.c


def _prediction(r: sa.Row) -> Prediction:
    return Prediction(task_id=r.task_id, project_id=r.project_id, source=r.source,
                      model_version=r.model_version, result=r.result, score=r.score,
                      extra=r.extra, created_at=r.created_at)


def _version(r: sa.Row) -> ModelVersion:
    return ModelVersion(project_id=r.project_id, version=r.version, kind=r.kind,
                        lineage=r.lineage or {}, created_at=r.created_at,
                        published_at=r.published_at, cleaned_at=r.cleaned_at)


class ModelsTx:
    conn: sa.Connection

    def save_predictions(self, items: list[Prediction]) -> None:
        ts = now()
        rows = [{"task_id": p.task_id, "project_id": p.project_id, "source": p.source,
                 "model_version": p.model_version, "result": p.result, "score": p.score,
                 "extra": p.extra, "created_at": p.created_at or ts} for p in items]
        for chunk in chunks(rows):
            upsert(self.conn, t.predictions, chunk, keys=["task_id", "source", "model_version"],
                   update=["result", "score", "extra", "created_at"])

    def supersede_predictions(self, project_id: int, *, source: str, version: str) -> int:
        """Delete the ``source`` predictions of other versions for every task ``version`` has
        one for (it holds their newest). Only a task's newest prediction is ever read; without
        this every retrain would keep a row per pooled task for good."""
        cur = t.predictions.alias("cur")
        predicted = sa.select(cur.c.task_id).where(cur.c.project_id == project_id,
                                                   cur.c.source == source,
                                                   cur.c.model_version == version)
        return self.conn.execute(sa.delete(t.predictions).where(
            _P.project_id == project_id, _P.source == source, _P.model_version != version,
            _P.task_id.in_(predicted))).rowcount

    def latest_predictions(self, project_id: int, task_ids: list[int], *,
                           source: str | None = None) -> dict[int, Prediction]:
        """The newest stored prediction of each task (of ``source`` when given)."""
        out: dict[int, Prediction] = {}
        for chunk in chunks(task_ids):
            q = sa.select(t.predictions).where(_P.project_id == project_id,
                                               _P.task_id.in_(chunk))
            if source is not None:
                q = q.where(_P.source == source)
            for r in self.conn.execute(q.order_by(_P.created_at, _P.id)):
                out[r.task_id] = _prediction(r)  # later rows overwrite earlier ones
        return out

    def add_model_version(self, project_id: int, version: str, *, kind: str,
                          lineage: dict[str, Any] | None = None) -> ModelVersion:
        upsert(self.conn, t.model_versions, [{
            "project_id": project_id, "version": version, "kind": kind,
            "lineage": lineage or {}, "created_at": now()}],
            keys=["project_id", "version"], update=[])
        return self.get_model_version(project_id, version)  # type: ignore[return-value]

    def get_model_version(self, project_id: int, version: str) -> ModelVersion | None:
        r = self.conn.execute(sa.select(t.model_versions).where(
            _V.project_id == project_id, _V.version == version)).first()
        return _version(r) if r else None

    def model_version_names(self, project_id: int, *, prefix: str) -> list[str]:
        """The project's recorded versions whose name starts with ``prefix`` (names only: a
        version's lineage can be large)."""
        return list(self.conn.execute(sa.select(_V.version).where(
            _V.project_id == project_id, _V.version.startswith(prefix, autoescape=True))
        ).scalars())

    def list_model_versions(self, project_id: int) -> list[ModelVersion]:
        q = sa.select(t.model_versions).where(_V.project_id == project_id).order_by(_V.id)
        return [_version(r) for r in self.conn.execute(q)]

    def last_version_at(self, project_id: int, kind: str) -> float | None:
        return self.conn.execute(sa.select(sa.func.max(_V.created_at)).where(
            _V.project_id == project_id, _V.kind == kind)).scalar()

    def mark_version(self, project_id: int, version: str, *, published: bool = False,
                     cleaned: bool = False, lineage: dict[str, Any] | None = None) -> None:
        """Record a publish or clean-up; ``lineage`` is merged into the stored one."""
        values: dict[str, Any] = {}
        if published:
            values["published_at"] = now()
        if cleaned:
            values["cleaned_at"] = now()
        if lineage:
            stored = self.get_model_version(project_id, version)
            values["lineage"] = {**(stored.lineage if stored else {}), **lineage}
        if values:
            self.conn.execute(sa.update(t.model_versions).where(
                _V.project_id == project_id, _V.version == version).values(**values))

    def model_summaries(self) -> list[ProjectModels]:
        """Per project with versions or a published one: its version count of each kind and its
        published version (two grouped queries)."""
        counts: dict[int, dict[str, int]] = {}
        q = sa.select(_V.project_id, _V.kind, sa.func.count()).group_by(_V.project_id, _V.kind)
        for pid, kind, n in self.conn.execute(q):
            counts.setdefault(pid, {})[kind] = int(n)
        published: dict[int, tuple[str, float | None]] = {}
        q = sa.select(_R.id, _R.published_version, _V.published_at).select_from(
            t.projects.outerjoin(t.model_versions, sa.and_(
                _V.project_id == _R.id, _V.version == _R.published_version)),
        ).where(_R.published_version.is_not(None))
        for pid, version, at in self.conn.execute(q):
            published[pid] = (version, at)
        return [ProjectModels(pid, counts.get(pid, {}), *published.get(pid, (None, None)))
                for pid in sorted(counts.keys() | published.keys())]
