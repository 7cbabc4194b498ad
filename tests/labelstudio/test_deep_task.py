"""A task Label Studio serves with data nested deeper than Python's stack allows to walk (Label
Studio stores any JSON it parsed; a resync applies no body rules) is skipped with its reason,
not the end of every resync of the project."""

from __future__ import annotations

import json

import pytest
from tests.conftest import CONFIG
from tests.fakes.label_studio import FakeGateway

from labelloop.errors import InvalidInput
from labelloop.events.parse import parse_annotation, parse_task
from labelloop.labelstudio.sync import resync_project
from labelloop.storage.base import Storage


def deep(depth: int, leaf: str = "\udc80") -> object:
    """``[[[…"leaf"…]]]`` as Label Studio's JSON would give it (built without recursion)."""
    return json.loads("[" * depth + json.dumps(leaf) + "]" * depth)


@pytest.mark.parametrize("depth", [500, 600])
def test_parse_task_refuses_data_too_deep_to_clean(depth: int) -> None:
    with pytest.raises(InvalidInput, match="nested too deep"):
        parse_task({"id": 3, "data": {"text": deep(depth)}}, 1)
    with pytest.raises(InvalidInput, match="nested too deep"):
        parse_annotation({"id": 4, "task": 3, "result": [deep(depth)]}, project_id=1)


def test_a_resync_skips_a_task_nested_too_deep(storage: Storage) -> None:
    ls = FakeGateway()
    ls.add_project(1, CONFIG)
    for i in range(1, 6):
        ls.add_task(1, i, {"text": f"task {i}"})
    ls.add_task(1, 3, {"text": "x", "extra": deep(600)})
    report = resync_project(storage, ls, 1)
    with storage.read() as tx:
        assert tx.count_tasks(1) == 4
        skipped = {i.task_id: i.reason for i in tx.skipped_items(1)}
    assert report.tasks_new == 4
    assert "nested too deep" in skipped[3]
