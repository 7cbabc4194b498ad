"""Turning a Label Studio webhook body into typed changes.

Pure: no storage, no network. :func:`parse_event` raises :class:`InvalidInput` with a message that
names the bad field when a known action's payload is malformed; unknown actions parse into an
event with ``known=False`` (stored and ignored by the caller).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labelloop.errors import InvalidInput, MalformedBody
from labelloop.storage.records import Annotation
from labelloop.text import clean_task

ANNOTATION_ACTIONS = {"ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED"}
KNOWN_ACTIONS = ANNOTATION_ACTIONS | {
    "ANNOTATIONS_DELETED", "TASKS_CREATED", "TASKS_DELETED", "PROJECT_CREATED",
    "PROJECT_UPDATED", "PROJECT_DELETED", "START_TRAINING",
}


@dataclass
class ParsedEvent:
    action: str
    known: bool
    project_id: int | None
    project: dict[str, Any] | None = None
    tasks: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    deleted_annotation_ids: list[int] = field(default_factory=list)
    deleted_task_ids: list[int] = field(default_factory=list)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be an integer id, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise InvalidInput(f"{what} must be an integer id, got {type(value).__name__}: {value!r:.60}")


def _id_of(value: Any, what: str) -> int:
    """Label Studio sends related objects either as an id or as an object with ``id``."""
    if isinstance(value, dict):
        return _int(value.get("id"), f"{what}.id")
    return _int(value, what)


def _list(payload: dict[str, Any], key: str) -> list[Any]:
    value = payload.get(key)
    if value is None:
        raise InvalidInput(f"'{key}' is missing")
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise InvalidInput(f"'{key}' must be a list or an object, got {type(value).__name__}")
    return value


def project_id_of(value: Any) -> int:
    """``"12.1700000000"`` (the ``project`` field of /setup and /predict), ``12`` or ``{"id": 12}``."""
    if isinstance(value, str) and "." in value:
        value = value.split(".", 1)[0]
    return _id_of(value, "project")


def parse_task(raw: Any, project_id: int | None) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidInput(f"a task must be an object, got {type(raw).__name__}")
    data = raw.get("data")
    if data is not None and not isinstance(data, dict):
        raise InvalidInput(f"task {raw.get('id')!r}: 'data' must be an object")
    meta = raw.get("meta")
    return clean_task({  # lone surrogates and NUL replaced at the edge, the original kept
        "id": _int(raw.get("id"), "task.id"),
        "data": data,
        "meta": meta if isinstance(meta, dict) else None,
        "project": raw.get("project", project_id),
    })


def parse_annotation(raw: Any, *, project_id: int | None,
                     task_id: int | None = None) -> Annotation:
    if not isinstance(raw, dict):
        raise InvalidInput(f"an annotation must be an object, got {type(raw).__name__}")
    ann_id = _int(raw.get("id"), "annotation.id")
    task = raw.get("task", task_id)
    if task is None:
        raise InvalidInput(f"annotation {ann_id}: 'task' is missing")
    result = raw.get("result") or []
    if not isinstance(result, list):
        raise InvalidInput(f"annotation {ann_id}: 'result' must be a list")
    pid = raw.get("project", project_id)
    if pid is None:
        raise InvalidInput(f"annotation {ann_id}: no project id")
    completed_by = raw.get("completed_by")
    lead_time = raw.get("lead_time")
    updated = raw.get("updated_at")
    return Annotation(
        id=ann_id,
        task_id=_id_of(task, f"annotation {ann_id}: task"),
        project_id=_id_of(pid, f"annotation {ann_id}: project"),
        completed_by=_id_of(completed_by, "completed_by") if completed_by is not None else None,
        result=result,
        was_cancelled=bool(raw.get("was_cancelled", False)),
        ground_truth=bool(raw.get("ground_truth", False)),
        lead_time=float(lead_time) if isinstance(lead_time, (int, float)) else None,
        ls_updated_at=str(updated) if updated is not None else None,
    )


def parse_event(payload: Any) -> ParsedEvent:
    if not isinstance(payload, dict):
        raise MalformedBody(f"a webhook body must be a JSON object, got {type(payload).__name__}")
    action = payload.get("action")
    if not isinstance(action, str) or not action:
        raise InvalidInput("'action' is missing or not a string")
    project = payload.get("project")
    project_id = project_id_of(project) if project is not None else None
    ev = ParsedEvent(action=action, known=action in KNOWN_ACTIONS, project_id=project_id,
                     project=project if isinstance(project, dict) else None)
    if not ev.known:
        return ev
    if action in ANNOTATION_ACTIONS:
        raw_anns = _list(payload, "annotation" if "annotation" in payload else "annotations")
        raw_tasks = payload.get("task") or payload.get("tasks") or []
        raw_tasks = raw_tasks if isinstance(raw_tasks, list) else [raw_tasks]
        ev.tasks = [parse_task(t, project_id) for t in raw_tasks]
        ev.annotations = [parse_annotation(a, project_id=project_id) for a in raw_anns]
    elif action == "ANNOTATIONS_DELETED":
        ev.deleted_annotation_ids = [_id_of(a, "annotations[].id")
                                     for a in _list(payload, "annotations")]
    elif action == "TASKS_CREATED":
        ev.tasks = [parse_task(t, project_id) for t in _list(payload, "tasks")]
    elif action == "TASKS_DELETED":
        ev.deleted_task_ids = [_id_of(t, "tasks[].id") for t in _list(payload, "tasks")]
    if ev.project_id is None:
        ids = {a.project_id for a in ev.annotations}
        ids |= {_id_of(t["project"], "task.project") for t in ev.tasks if t.get("project")}
        if len(ids) == 1:
            ev.project_id = ids.pop()
        elif action not in ("ANNOTATIONS_DELETED", "TASKS_DELETED"):
            raise InvalidInput(f"{action}: cannot tell which project the event belongs to")
    return ev
