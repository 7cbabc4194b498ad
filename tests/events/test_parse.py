from __future__ import annotations

import pytest

from labelloop.errors import InvalidInput, MalformedBody
from labelloop.events.parse import parse_event, project_id_of


def test_project_id_forms() -> None:
    assert project_id_of("12.1700000000") == 12
    assert project_id_of(12) == 12 and project_id_of({"id": 7}) == 7 and project_id_of("5") == 5
    for bad in (True, "x.y", None, {"name": 1}, 1.5):
        with pytest.raises(InvalidInput):
            project_id_of(bad)


def test_annotation_created_with_nested_objects() -> None:
    ev = parse_event({
        "action": "ANNOTATION_CREATED",
        "annotation": {"id": 3, "task": 9, "result": [{"a": 1}], "completed_by": {"id": 4},
                       "was_cancelled": False, "lead_time": 2, "updated_at": "2026"},
        "task": {"id": 9, "data": {"text": "hi"}, "meta": {}},
        "project": {"id": 2, "label_config": "<View/>"},
    })
    assert ev.known and ev.project_id == 2 and ev.tasks[0]["id"] == 9
    a = ev.annotations[0]
    assert (a.id, a.task_id, a.project_id, a.completed_by, a.lead_time) == (3, 9, 2, 4, 2.0)


def test_bulk_annotations_created_lists() -> None:
    ev = parse_event({"action": "ANNOTATIONS_CREATED",
                      "annotation": [{"id": 1, "task": 5, "result": []},
                                     {"id": 2, "task": 6, "result": []}],
                      "task": [{"id": 5, "data": {}}, {"id": 6, "data": {}}],
                      "project": {"id": 1}})
    assert [a.id for a in ev.annotations] == [1, 2] and len(ev.tasks) == 2


def test_deletions_and_tasks() -> None:
    assert parse_event({"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 12}, {"id": 13}],
                        "project": {"id": 1}}).deleted_annotation_ids == [12, 13]
    assert parse_event({"action": "TASKS_DELETED", "tasks": [{"id": 4}],
                        "project": {"id": 1}}).deleted_task_ids == [4]
    ev = parse_event({"action": "TASKS_CREATED", "tasks": [{"id": 4, "data": {"text": "a"}}],
                      "project": {"id": 1}})
    assert ev.tasks[0]["data"] == {"text": "a"}


def test_unknown_action_is_not_an_error() -> None:
    ev = parse_event({"action": "LABEL_LINK_CREATED", "whatever": 1})
    assert not ev.known and ev.action == "LABEL_LINK_CREATED"


@pytest.mark.parametrize("payload, message", [
    ({"annotation": {"id": 1}}, "action"),
    ({"action": "ANNOTATION_CREATED", "project": {"id": 1}}, "annotation"),
    ({"action": "ANNOTATION_CREATED", "annotation": {"id": "x", "task": 1}, "project": 1}, "id"),
    ({"action": "ANNOTATION_CREATED", "annotation": {"id": 1}, "project": 1}, "task"),
    ({"action": "ANNOTATION_CREATED", "annotation": {"id": 1, "task": 1, "result": "no"},
      "project": 1}, "result"),
    ({"action": "TASKS_CREATED", "tasks": [{"id": 1, "data": "text"}], "project": 1}, "data"),
    ({"action": "ANNOTATIONS_DELETED", "annotations": "12", "project": 1}, "annotations"),
])
def test_malformed_known_actions_name_the_field(payload: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_event(payload)


def test_body_must_be_an_object() -> None:
    with pytest.raises(MalformedBody):
        parse_event([1, 2])
