"""What the dashboard shows for one project, as one JSON document.

:func:`dashboard_data` gathers, per project: the status (jobs and their progress, model versions;
:func:`labelloop.api.status.project_status`), the learning curve over retrain versions
(:func:`learning_curve`, from their lineage), the head of the published queue with the reason each
task is there (:func:`queue_head`; for a span project with each task's pre-label spans
highlighted in its text; for an image or audio project with the file's name and, for pictures,
the URL of its thumbnail, never the stored value: :mod:`labelloop.dashboard.thumbnails`), LLM token and cost totals, and the quality report
(:class:`labelloop.quality.cache.ReportCache`: computed again only when the
project's data changed).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from labelloop.api.status import project_status
from labelloop.dashboard.spans import span_rows
from labelloop.dashboard.thumbnails import media_cells
from labelloop.errors import LabelloopError
from labelloop.labelconfig.kinds import task_text
from labelloop.labelconfig.schema import LabelSchema
from labelloop.quality.cache import ReportCache
from labelloop.quality.jsonable import jsonable
from labelloop.storage.base import Tx
from labelloop.storage.sql_queue import QueueEntry

QUEUE_HEAD = 15
REVIEW_ITEMS = 15
SNIPPET_CHARS = 140
CURVE_KEYS = ("n_labeled", "cv_accuracy", "cv_macro_f1", "llm_human_agreement", "strategy",
              "n_ranked", "trained_at", "llm_distillation")


def _number(x: Any) -> float | None:
    ok = isinstance(x, (int, float)) and not isinstance(x, bool)
    return float(x) if ok else None


def learning_curve(versions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per retrain version (``kind == "retrain"``), in creation order.

    Reads the lineage keys the retrain job writes (``n_labeled``, ``cv_accuracy``,
    ``cv_macro_f1``, ``llm_human_agreement``, ``strategy``, ``n_ranked``, ``trained_at``); a
    lineage with the nested ``cv`` block of :func:`labelloop.models.lineage.model_lineage` and
    ``n_train`` is read too. Missing numbers are None (too few labels for cross-validation).
    ``llm_distillation``: whether that model also learned from the LLM's labels (issue 16).
    """
    points = []
    for v in versions:
        if v.get("kind") != "retrain":
            continue
        lin = v.get("lineage") or {}
        cv: dict[str, Any] = lin["cv"] if isinstance(lin.get("cv"), dict) else {}
        point = {"version": v.get("version"), "created_at": v.get("created_at")}
        point.update({k: lin.get(k) for k in CURVE_KEYS})
        if point["n_labeled"] is None:
            point["n_labeled"] = lin.get("n_train")
        if point["cv_accuracy"] is None:
            point["cv_accuracy"] = cv.get("accuracy")
        if point["cv_macro_f1"] is None:
            point["cv_macro_f1"] = cv.get("macro_f1")
        for k in ("n_labeled", "cv_accuracy", "cv_macro_f1", "llm_human_agreement"):
            point[k] = _number(point[k])
        points.append(point)
    return points


def _snippet(data: dict[str, Any] | None, key: str | None) -> str | None:
    value = (data or {}).get(key) if key else None
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value if len(value) <= SNIPPET_CHARS else value[: SNIPPET_CHARS - 1] + "…"


def queue_head(tx: Tx, project_id: int, version: str | None, data_key: str | None, *,
               limit: int = QUEUE_HEAD, schema: LabelSchema | None = None) -> dict[str, Any]:
    """The next tasks of the published queue that nobody labelled yet, with their reason.

    Label Studio serves unlabelled tasks only, so tasks labelled since the queue was published
    are skipped (and counted); ``reasons`` counts every entry of the queue. For a span project
    (``schema``), each task also carries its pre-label's ``spans`` and its text with them
    highlighted (:mod:`labelloop.dashboard.spans`); for a media project, its ``media``,
    ``name`` and ``thumbnail`` (:func:`~labelloop.dashboard.thumbnails.media_cells`) and no
    ``text``.
    """
    if version is None:
        return {"version": None, "size": 0, "reasons": {}, "audit": 0, "labelled_since": 0,
                "head": []}
    entries = tx.get_queue(project_id, version)
    head: list[QueueEntry] = []
    labelled, start = 0, 0
    while len(head) < limit and start < len(entries):
        block = entries[start:start + 4 * limit]
        start += len(block)
        done = {a.task_id for a in tx.get_annotations(project_id,
                                                      task_ids=[e.task_id for e in block])
                if not a.was_cancelled}
        for e in block:
            if e.task_id in done:
                labelled += 1
            elif len(head) < limit:
                head.append(e)
    tasks = {t.id: t for t in tx.get_tasks(project_id, [e.task_id for e in head])}
    spans: dict[int, dict[str, Any]] = {}
    if schema is not None and schema.task_type == "text_spans" and tasks:
        spans = span_rows(tx, project_id, schema,
                          {tid: task_text(schema, t.data) for tid, t in tasks.items()})
    media: dict[int, dict[str, Any]] = {}
    if schema is not None and schema.modality != "text":
        media = media_cells(project_id, schema, tasks)
    return {
        "version": version, "size": len(entries),
        "reasons": dict(Counter(e.reason for e in entries).most_common()),
        "audit": sum(e.audit for e in entries), "labelled_since": labelled,
        "head": [{"rank": e.rank, "task_id": e.task_id, "score": e.score, "reason": e.reason,
                  "audit": e.audit, "detail": e.detail,
                  "text": None if schema is not None and schema.modality != "text" else
                  _snippet(tasks[e.task_id].data if e.task_id in tasks else None, data_key),
                  **spans.get(e.task_id, {}), **media.get(e.task_id, {})} for e in head],
    }


def dashboard_data(services: Any, cache: ReportCache, project_id: int) -> dict[str, Any]:
    """Everything the dashboard page shows for one project (see the module docstring)."""
    status = project_status(services, project_id)  # raises UnknownProject
    schema = status.get("schema") or {}
    parsed = LabelSchema.from_json(schema) if schema else None
    with services.storage.read() as tx:
        queue = queue_head(tx, project_id, status["published_version"], schema.get("data_key"),
                           schema=parsed)
        usage = tx.llm_usage()
    try:
        quality: dict[str, Any] = cache.report(services.storage, project_id,
                                               review_limit=REVIEW_ITEMS, background=True)
    except LabelloopError as exc:  # unsupported config: the rest of the page still works
        quality = {"error": exc.code, "message": exc.message}
    return jsonable({
        "generated_at": time.time(),
        "project": status,
        "learning_curve": learning_curve(status["model_versions"]),
        "queue": queue,
        "llm_usage": {"scope": "all projects", "calls": usage.calls, "errors": usage.errors,
                      "prompt_tokens": usage.prompt_tokens,
                      "completion_tokens": usage.completion_tokens, "tokens": usage.tokens,
                      "cost_usd": usage.cost_usd},
        "quality": quality,
    })
