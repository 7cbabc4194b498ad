from __future__ import annotations

import numpy as np

from labelloop.labelconfig.schema import parse_label_config
from labelloop.loop.dataset import human_label, load_project_data
from labelloop.storage.base import Storage
from labelloop.storage.records import Annotation
from tests.conftest import CONFIG

SCHEMA = parse_label_config(CONFIG)
MULTI = parse_label_config(CONFIG.replace('toName="text"', 'toName="text" choice="multiple"'))


def ann(aid: int, task: int, *choices: str, cancelled: bool = False, at: str = "1",
        from_name: str = "sentiment") -> Annotation:
    result = [{"from_name": from_name, "to_name": "text", "type": "choices",
               "value": {"choices": list(choices)}}] if choices else []
    return Annotation(aid, task, 1, 1, result, cancelled, False, None, at)


def test_majority_with_most_recent_breaking_ties() -> None:
    vec, rev = human_label(SCHEMA, [ann(1, 1, "positive", at="1"), ann(2, 1, "negative", at="2"),
                                    ann(3, 1, "negative", at="3")])
    assert rev and vec.tolist() == [0, 1, 0]
    vec, _ = human_label(SCHEMA, [ann(1, 1, "positive", at="1"), ann(2, 1, "neutral", at="2")])
    assert vec.tolist() == [0, 0, 1]


def test_skips_and_foreign_controls_give_no_label_but_count_as_reviewed() -> None:
    assert human_label(SCHEMA, [ann(1, 1, cancelled=True)]) == (None, True)
    vec, rev = human_label(SCHEMA, [ann(1, 1, "positive", from_name="other")])
    assert vec is None and rev
    assert human_label(SCHEMA, []) == (None, False)
    vec, _ = human_label(SCHEMA, [ann(1, 1, "angry")])  # a label not (or no longer) in config
    assert vec is None


def test_multiple_choice_is_multi_hot() -> None:
    vec, _ = human_label(MULTI, [ann(1, 1, "neutral", "positive")])
    assert vec.tolist() == [1, 0, 1]


def test_load_project_data_positions_pool_and_labels(storage: Storage) -> None:
    with storage.write() as tx:
        tx.save_project(1)
        tx.upsert_tasks(1, [{"id": 5, "data": {"text": "a"}}, {"id": 3, "data": {"text": "b"}},
                            {"id": 9, "data": {"other": "x"}}, {"id": 7, "data": {"text": "c"}}])
        tx.upsert_annotations([ann(1, 3, "negative"), ann(2, 7, cancelled=True)],
                              source="webhook")
    with storage.read() as tx:
        d = load_project_data(tx, 1, SCHEMA)
    assert d.task_ids.tolist() == [3, 5, 7, 9]
    assert d.labeled.tolist() == [True, False, False, False]
    assert d.reviewed.tolist() == [True, False, True, False]
    assert d.pool.tolist() == [1]  # 5 only: 7 was skipped, 9 has no text
    assert d.label_index().tolist() == [1, -1, -1, -1]
    assert np.isnan(d.y[1]).all()
