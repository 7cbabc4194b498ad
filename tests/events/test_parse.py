from __future__ import annotations

import hashlib
import json

import pytest

from labelloop.errors import InvalidInput, MalformedBody
from labelloop.events.parse import (
    MAX_STUB_CHARS,
    TooLarge,
    parse_event,
    project_id_of,
    read_event,
    stub,
)


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


@pytest.mark.parametrize("bad", [-5, 0, 2**63, 10**30, "١٢", "-5", "²", "12 ", " 12", "012",
                                 "١٢.1700000000", "12\n", 12.0, "9" * 5000])
def test_ids_are_positive_63_bit_in_ascii_digits(bad: object) -> None:
    with pytest.raises(InvalidInput):
        project_id_of(bad)
    with pytest.raises(InvalidInput):
        parse_event({"action": "ANNOTATION_CREATED", "project": 1,
                     "annotation": {"id": bad, "task": 1}})
    with pytest.raises(InvalidInput):
        parse_event({"action": "TASKS_DELETED", "project": 1, "tasks": [{"id": bad}]})


def test_the_largest_id_and_label_studios_key_parse() -> None:
    assert project_id_of(2**63 - 1) == project_id_of(f"{2**63 - 1}.1700000000") == 2**63 - 1


@pytest.mark.parametrize("action", ["", "x" * 65, "\udc80", "A B", 5, None, "1ACTION"])
def test_action_names_are_bounded(action: object) -> None:
    with pytest.raises(InvalidInput, match="action"):
        parse_event({"action": action})


def test_project_fields_labelloop_stores_are_checked_and_cleaned() -> None:
    with pytest.raises(InvalidInput, match="label_config"):
        parse_event({"action": "PROJECT_UPDATED", "project": {"id": 1, "label_config": 5}})
    ev = parse_event({"action": "PROJECT_UPDATED", "project": {"id": 1, "model_version": "v" * 201}})
    assert ev.project == {"id": 1}  # too long to store: not labelloop's, left out
    ev = parse_event({"action": "PROJECT_UPDATED", "project": {"id": 1, "title": "a\x00\udc80"}})
    assert ev.project == {"id": 1, "title": "a\ufffd"}
    ev = parse_event({"action": "ANNOTATION_CREATED", "project": 1, "annotation": {
        "id": 1, "task": 1, "result": [{"v": "\x00b"}], "lead_time": True}})
    assert ev.annotations[0].result == [{"v": "b"}] and ev.annotations[0].lead_time is None
    with pytest.raises(InvalidInput, match="updated_at"):
        parse_event({"action": "ANNOTATION_CREATED", "project": 1,
                     "annotation": {"id": 1, "task": 1, "updated_at": "9" * 65}})


def test_read_event_answers_each_bad_body_with_its_4xx() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for body, status in [(b"{oops", 400), (deep, 400), (b'{"a": NaN}', 400), (b"\xff", 400),
                         (b'{"action": "X", "n": 1e999}', 400), (b"[]", 400),
                         (b'{"action": "ANNOTATION_CREATED"}', 422),
                         (TooLarge(size=10**8, sha256="0" * 64, head=b"{", limit=10), 413)]:
        event, error, _ = read_event(body)
        assert event is None and error is not None and error.status == status, body[:20]
    event, error, action = read_event(b'{"action": "NEW_ONE", "project": 3}')
    assert event is not None and error is None and action == "NEW_ONE" and not event.known


def test_a_stub_keeps_size_hash_head_and_reason_only() -> None:
    body = b'{"action": "X", "blob": "' + b"\x00\xff" * 50_000 + b'"}'
    text = stub(body, "why" * 1000)
    out = json.loads(text)
    assert out["size"] == len(body) and out["sha256"] == hashlib.sha256(body).hexdigest()
    assert out["head"].startswith('{"action": "X"') and len(out["reason"]) == 1024
    assert len(text) <= MAX_STUB_CHARS and "\x00" not in text
    big = TooLarge(size=5, sha256="ab" * 32, head=b"x" * 5000, limit=4)
    assert json.loads(stub(big, "r"))["head"] == "x" * 1024
