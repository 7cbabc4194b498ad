"""The LLM tables, in SQL: response cache, call log, endpoint state, LLM labels."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from labelloop.storage.records_llm import LlmCacheEntry, LlmCall, LlmEndpoint, LlmLabel, LlmUsage
from labelloop.storage.records_ops import LlmUsageGroup
from labelloop.storage.sql_util import chunks, now, upsert
from labelloop.storage.tables_llm import llm_cache, llm_calls, llm_endpoints, llm_labels

_C = llm_cache.c
_K = llm_calls.c
_E = llm_endpoints.c
_L = llm_labels.c


def _label(r: sa.Row) -> LlmLabel:
    return LlmLabel(project_id=r.project_id, task_id=r.task_id, model_version=r.model_version,
                    labels=r.labels, distribution=r.distribution, confidence=r.confidence,
                    confidence_method=r.confidence_method, failure=r.failure,
                    usage=r.usage or {}, created_at=r.created_at, spans=r.spans)


class LlmTx:
    conn: sa.Connection

    # --- response cache --------------------------------------------------------------------
    def get_llm_cache(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The cached responses of the keys that have one."""
        out: dict[str, dict[str, Any]] = {}
        for chunk in chunks(sorted(set(keys))):
            for r in self.conn.execute(sa.select(_C.key, _C.response).where(_C.key.in_(chunk))):
                out[r.key] = r.response
        return out

    def put_llm_cache(self, entries: list[LlmCacheEntry]) -> None:
        """Store responses; a key already stored keeps its first response."""
        ts = now()
        rows = [{"key": e.key, "endpoint": e.endpoint, "model": e.model,
                 "response": e.response, "created_at": ts} for e in entries]
        for chunk in chunks(rows):
            upsert(self.conn, llm_cache, chunk, keys=["key"], update=[])

    def count_llm_cache(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(llm_cache)).scalar()
                   or 0)

    # --- call log --------------------------------------------------------------------------
    def add_llm_calls(self, calls: list[LlmCall]) -> None:
        ts = now()
        rows = [{"at": c.at or ts, "endpoint": c.endpoint, "model": c.model,
                 "purpose": c.purpose, "status": c.status, "error": c.error,
                 "cache_key": c.cache_key, "project_id": c.project_id, "task_id": c.task_id,
                 "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
                 "cost_usd": c.cost_usd, "latency_s": c.latency_s} for c in calls]
        for chunk in chunks(rows):
            self.conn.execute(sa.insert(llm_calls), chunk)

    def llm_usage(self, *, endpoint: str | None = None, model: str | None = None,
                  since: float | None = None, project_id: int | None = None) -> LlmUsage:
        """Totals over the logged calls (all of them unless filtered; ``project_id``: the
        calls made for that project, so calls logged without a project are left out)."""
        q = sa.select(sa.func.count(), sa.func.sum(sa.case((_K.status != "ok", 1), else_=0)),
                      sa.func.sum(_K.prompt_tokens), sa.func.sum(_K.completion_tokens),
                      sa.func.sum(_K.cost_usd))
        if endpoint is not None:
            q = q.where(_K.endpoint == endpoint)
        if model is not None:
            q = q.where(_K.model == model)
        if since is not None:
            q = q.where(_K.at >= since)
        if project_id is not None:
            q = q.where(_K.project_id == project_id)
        n, errors, pt, ct, cost = self.conn.execute(q).one()
        return LlmUsage(calls=int(n or 0), errors=int(errors or 0), prompt_tokens=int(pt or 0),
                        completion_tokens=int(ct or 0), cost_usd=float(cost or 0.0))

    def llm_usage_groups(self) -> list[LlmUsageGroup]:
        """Totals over all logged calls per (endpoint, model, purpose, status)."""
        keys = (_K.endpoint, _K.model, _K.purpose, _K.status)
        q = sa.select(*keys, sa.func.count(), sa.func.sum(_K.prompt_tokens),
                      sa.func.sum(_K.completion_tokens), sa.func.sum(_K.cost_usd),
                      sa.func.sum(_K.latency_s)).group_by(*keys)
        return [LlmUsageGroup(endpoint=e, model=m, purpose=p, status=st, calls=int(n),
                              prompt_tokens=int(pt or 0), completion_tokens=int(ct or 0),
                              cost_usd=float(cost or 0.0), latency_s=float(lat or 0.0))
                for e, m, p, st, n, pt, ct, cost, lat in self.conn.execute(q)]

    # --- endpoint state --------------------------------------------------------------------
    def get_llm_endpoint(self, endpoint: str, model: str) -> LlmEndpoint | None:
        r = self.conn.execute(sa.select(llm_endpoints).where(
            _E.endpoint == endpoint, _E.model == model)).first()
        if r is None:
            return None
        return LlmEndpoint(endpoint=r.endpoint, model=r.model, capabilities=r.capabilities,
                           detected_at=r.detected_at, paused_until=r.paused_until,
                           pause_reason=r.pause_reason, updated_at=r.updated_at)

    def save_llm_capabilities(self, endpoint: str, model: str,
                              capabilities: dict[str, Any] | None) -> None:
        """Record (or, with None, forget) what the endpoint supports."""
        ts = now()
        upsert(self.conn, llm_endpoints, [{
            "endpoint": endpoint, "model": model, "capabilities": capabilities,
            "detected_at": ts if capabilities is not None else None, "updated_at": ts}],
            keys=["endpoint", "model"], update=["capabilities", "detected_at", "updated_at"])

    def set_llm_pause(self, endpoint: str, model: str, *, until: float | None,
                      reason: str | None) -> None:
        """Pause LLM work on the endpoint until ``until`` (None: resume)."""
        upsert(self.conn, llm_endpoints, [{
            "endpoint": endpoint, "model": model, "paused_until": until,
            "pause_reason": reason, "updated_at": now()}],
            keys=["endpoint", "model"], update=["paused_until", "pause_reason", "updated_at"])

    # --- LLM labels ------------------------------------------------------------------------
    def save_llm_labels(self, items: list[LlmLabel]) -> None:
        ts = now()
        rows = [{"project_id": x.project_id, "task_id": x.task_id,
                 "model_version": x.model_version, "labels": x.labels,
                 "distribution": x.distribution, "confidence": x.confidence,
                 "confidence_method": x.confidence_method, "failure": x.failure,
                 "usage": x.usage, "created_at": x.created_at or ts, "spans": x.spans}
                for x in items]
        for chunk in chunks(rows):
            upsert(self.conn, llm_labels, chunk, keys=["project_id", "task_id", "model_version"],
                   update=["labels", "distribution", "confidence", "confidence_method",
                           "failure", "usage", "created_at", "spans"])

    def get_llm_labels(self, project_id: int, *, task_ids: list[int] | None = None,
                       model_version: str | None = None) -> dict[int, LlmLabel]:
        """The newest LLM label of each task (of ``model_version`` when given)."""
        q = sa.select(llm_labels).where(_L.project_id == project_id)
        if model_version is not None:
            q = q.where(_L.model_version == model_version)
        out: dict[int, LlmLabel] = {}
        batches = [None] if task_ids is None else list(chunks(task_ids))
        for chunk in batches:
            qq = q if chunk is None else q.where(_L.task_id.in_(chunk))
            for r in self.conn.execute(qq.order_by(_L.created_at)):
                out[r.task_id] = _label(r)  # later rows overwrite earlier ones
        return out
