"""Turning a Label Studio webhook body into typed changes.

Pure: no storage, no network. :func:`read_event` reads a body (bytes, or the :class:`TooLarge`
record of one over the event size cap) with the input layer's rules (:mod:`labelloop.inputs`)
and :func:`parse_event` raises :class:`InvalidInput` with a message that names the bad field when
a known action's payload is malformed; unknown actions parse into an event with ``known=False``
(recorded and ignored by the caller). :func:`stub` is what is recorded of a body that is not
applied: its size, sha256, first KiB and the reason, never the whole body.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from labelloop.errors import InvalidInput, LabelloopError, MalformedBody, PayloadTooLarge
from labelloop.inputs import id_of, project_key_id, read_json
from labelloop.storage.records import Annotation
from labelloop.text import clean_json, clean_task

ANNOTATION_ACTIONS = {"ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED"}
KNOWN_ACTIONS = ANNOTATION_ACTIONS | {
    "ANNOTATIONS_DELETED", "TASKS_CREATED", "TASKS_DELETED", "PROJECT_CREATED",
    "PROJECT_UPDATED", "PROJECT_DELETED", "START_TRAINING",
}
MAX_ACTION_CHARS = 64  # webhook_events.action is a VARCHAR(64)
ACTION_PATTERN = r"^[A-Za-z][A-Za-z0-9_.:-]*$"
_ACTION = re.compile(ACTION_PATTERN)
STUB_HEAD_BYTES = 1024
MAX_STUB_CHARS = 8 * STUB_HEAD_BYTES  # 6 characters per escaped control character, at worst
# text fields of an event's project that labelloop stores, with their column's size if bounded
_PROJECT_TEXT_FIELDS: dict[str, int | None] = {
    "title": None, "label_config": None, "expert_instruction": None, "model_version": 200}


def _too_long(key: str, value: object) -> bool:
    limit = _PROJECT_TEXT_FIELDS.get(key)
    return limit is not None and isinstance(value, str) and len(value) > limit


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


@dataclass(frozen=True)
class TooLarge:
    """A body over the event size cap, as far as it was read: its size and hash (of the whole
    body) and its first bytes."""

    size: int
    sha256: str
    head: bytes
    limit: int


Body = bytes | TooLarge


def _int(value: Any, what: str) -> int:
    return id_of(value, what)


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
    return project_key_id(value, "project")


def parse_task(raw: Any, project_id: int | None) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidInput(f"a task must be an object, got {type(raw).__name__}")
    data = raw.get("data")
    if data is not None and not isinstance(data, dict):
        raise InvalidInput(f"task {raw.get('id')!r}: 'data' must be an object")
    meta = raw.get("meta")
    task_id = _int(raw.get("id"), "task.id")
    return _cleaned(clean_task, {  # lone surrogates and NUL replaced at the edge, original kept
        "id": task_id,
        "data": data,
        "meta": meta if isinstance(meta, dict) else None,
        "project": raw.get("project", project_id),
    }, f"task {task_id}: 'data'")


def _cleaned(clean: Any, value: Any, what: str) -> Any:
    """``clean(value)``; a value nested past Python's stack is :class:`InvalidInput`. Bodies
    are at most MAX_DEPTH deep (:func:`labelloop.inputs.read_json`), but a resync parses what
    Label Studio stored, which may be nested hundreds of levels."""
    try:
        return clean(value)
    except RecursionError:
        raise InvalidInput(f"{what} is nested too deep to read") from None


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
    # stored: no lone surrogate, no NUL (the event keeps them)
    result = _cleaned(clean_json, result, f"annotation {ann_id}: 'result'")[0]
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
        lead_time=float(lead_time) if isinstance(lead_time, (int, float)) \
        and not isinstance(lead_time, bool) else None,
        ls_updated_at=clean_json(_text(updated, f"annotation {ann_id}: updated_at", 64))[0],
    )


def parse_event(payload: Any) -> ParsedEvent:
    if not isinstance(payload, dict):
        raise MalformedBody(f"a webhook body must be a JSON object, got {type(payload).__name__}")
    action = action_of(payload)
    if action is None:
        raise InvalidInput(f"'action' is missing or not an action name (letters, digits, "
                           f"'_.:-', at most {MAX_ACTION_CHARS} characters)")
    project = payload.get("project")
    project_id = project_id_of(project) if project is not None else None
    if isinstance(project, dict):
        for key in _PROJECT_TEXT_FIELDS:
            if project.get(key) is not None and not isinstance(project[key], str):
                raise InvalidInput(f"project.{key} must be a string or null")
        # a value too long to store is not labelloop's (its versions are short): left out
        # rather than refusing the event, which may carry annotations
        project = {k: v for k, v in project.items()
                   if not _too_long(k, v)}
        project = clean_json(project)[0]  # stored: no lone surrogate, no NUL
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


def action_of(payload: Any) -> str | None:
    """The event's action name when it is one (what the event log's ``action`` column holds)."""
    action = payload.get("action") if isinstance(payload, dict) else None
    if isinstance(action, str) and len(action) <= MAX_ACTION_CHARS and _ACTION.match(action):
        return action
    return None


def _text(value: Any, what: str, max_chars: int) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > max_chars:
        raise InvalidInput(f"{what} is longer than {max_chars} characters")
    return text


def read_event(body: Body) -> tuple[ParsedEvent | None, LabelloopError | None, str | None]:
    """``(event, None, action)`` for a body that parses, else ``(None, error, action or
    None)``: the error is the 4xx to answer (413, 400 or 422)."""
    if isinstance(body, TooLarge):
        return None, PayloadTooLarge(
            f"the event is {body.size} bytes, more than the limit of {body.limit} "
            "(LABELLOOP_WEBHOOK_MAX_EVENT_BYTES); recorded as a stub"), None
    payload = None
    try:
        payload = read_json(body)
        event = parse_event(payload)
        return event, None, event.action
    except LabelloopError as exc:
        return None, exc, action_of(payload)


def body_hash(body: Body) -> str:
    return body.sha256 if isinstance(body, TooLarge) else hashlib.sha256(body).hexdigest()


def stub(body: Body, reason: str) -> str:
    """What is recorded of a body that is not applied: JSON ``{"stub", "size", "sha256",
    "head", "reason"}`` with the first KiB as text (bytes that are not UTF-8 as U+FFFD, control
    characters escaped): at most :data:`MAX_STUB_CHARS` characters, whatever the body."""
    size = body.size if isinstance(body, TooLarge) else len(body)
    head = (body.head if isinstance(body, TooLarge) else body)[:STUB_HEAD_BYTES]
    return json.dumps({"stub": True, "size": size, "sha256": body_hash(body),
                       "head": head.decode("utf-8", errors="replace"),
                       "reason": reason[:STUB_HEAD_BYTES]}, ensure_ascii=False)
