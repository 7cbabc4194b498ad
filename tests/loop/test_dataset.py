from __future__ import annotations

import numpy as np
from tests.conftest import CONFIG

from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelconfig.spans import Span
from labelloop.loop.dataset import build_project_data, load_project_data
from labelloop.storage.base import Storage
from labelloop.storage.records import Annotation, Task

SCHEMA = parse_label_config(CONFIG)
MULTI = parse_label_config(CONFIG.replace('toName="text"', 'toName="text" choice="multiple"'))
NER = parse_label_config("""<View><Text name="text" value="$text"/>
<Labels name="ner" toName="text"><Label value="PER"/><Label value="LOC"/></Labels></View>""")


def ann(aid: int, task: int, *choices: str, cancelled: bool = False, at: str = "1",
        from_name: str = "sentiment", user: int = 1, gt: bool = False) -> Annotation:
    result = [{"from_name": from_name, "to_name": "text", "type": "choices",
               "value": {"choices": list(choices)}}] if choices else []
    return Annotation(aid, task, 1, user, result, cancelled, gt, None, at)


def human_label(schema, anns):
    """(training row or None, reviewed) of one task, as the retrain's data reads it."""
    d = build_project_data(schema, [Task(1, 1, {"text": "a text"}, None, False)], anns)
    return (d.y[0] if d.labeled[0] else None), bool(d.reviewed[0])


def test_majority_with_most_recent_breaking_ties() -> None:
    vec, rev = human_label(SCHEMA, [ann(1, 1, "positive", at="1"), ann(2, 1, "negative", at="2"),
                                    ann(3, 1, "negative", at="3")])
    assert rev and vec.tolist() == [0, 1, 0]
    vec, _ = human_label(SCHEMA, [ann(1, 1, "positive", at="1"), ann(2, 1, "neutral", at="2")])
    assert vec.tolist() == [0, 0, 1]


def test_one_vote_per_annotator_then_plurality_then_the_latest_tied_label() -> None:
    # annotator 1 changed their mind: their latest vote counts, once
    vec, _ = human_label(SCHEMA, [ann(1, 1, "positive", at="1", user=1),
                                  ann(2, 1, "positive", at="2", user=2),
                                  ann(3, 1, "negative", at="3", user=1)])
    assert vec.tolist() == [0, 1, 0]  # 1 vote each: the tie goes to the latest vote
    vec, _ = human_label(SCHEMA, [ann(1, 1, "neutral", at="1", user=1),
                                  ann(2, 1, "neutral", at="2", user=2),
                                  ann(3, 1, "negative", at="3", user=3)])
    assert vec.tolist() == [0, 0, 1]  # plurality beats recency
    vec, _ = human_label(SCHEMA, [ann(1, 1, "neutral", at="1", user=1),
                                  ann(2, 1, "neutral", at="2", user=2),
                                  ann(3, 1, "negative", at="0", user=3, gt=True)])
    assert vec.tolist() == [0, 1, 0]  # ground truth first


def test_ties_are_counted() -> None:
    tasks = [Task(i, 1, {"text": f"t{i}"}, None, False) for i in (1, 2)]
    d = build_project_data(SCHEMA, tasks, [
        ann(1, 1, "positive", at="1", user=1), ann(2, 1, "negative", at="2", user=2),
        ann(3, 2, "positive", at="1", user=1), ann(4, 2, "positive", at="2", user=2)])
    assert d.ties == 1 and d.labels == [("negative",), ("positive",)]


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


def test_spans_keep_their_canonical_labels_and_have_no_rows() -> None:
    def spans(aid: int, task: int, *found: tuple[int, int, str], text: str) -> Annotation:
        result = [{"from_name": "ner", "to_name": "text", "type": "labels",
                   "value": {"start": s, "end": e, "text": text[s:e], "labels": [lab]}}
                  for s, e, lab in found]
        return Annotation(aid, task, 1, 1, result, False, False, None, "1")

    texts = {1: "Ann went to Paris", 2: "nothing here", 3: "Bob"}
    tasks = [Task(i, 1, {"text": t}, None, False) for i, t in texts.items()]
    d = build_project_data(NER, tasks, [spans(1, 1, (0, 3, "PER"), (12, 17, "LOC"), text=texts[1]),
                                        spans(2, 2, text=texts[2])])
    assert d.labels == [(Span(0, 3, "PER"), Span(12, 17, "LOC")), (), None]
    assert d.labeled.tolist() == [True, True, False]  # "no entities" is a label
    assert d.y.shape == (3, 0) and d.pool.tolist() == [2]


def test_span_annotators_reach_consensus_on_whole_span_sets() -> None:
    """Span sets vote whole, by the one rule: plurality, then the latest; a span outside the
    text spoils only its own annotation (no vote)."""
    text = "Ann went to Paris"

    def spans(aid: int, user: int, at: str, *found: tuple[int, int, str]) -> Annotation:
        result = [{"from_name": "ner", "to_name": "text", "type": "labels",
                   "value": {"start": s, "end": e, "text": text[s:e], "labels": [lab]}}
                  for s, e, lab in found]
        return Annotation(aid, 1, 1, user, result, False, False, None, at)

    task = [Task(1, 1, {"text": text}, None, False)]
    both = ((0, 3, "PER"), (12, 17, "LOC"))
    d = build_project_data(NER, task, [spans(1, 1, "1", *both), spans(2, 2, "3", (0, 3, "PER")),
                                       spans(3, 3, "2", *both)])
    assert d.labels == [(Span(0, 3, "PER"), Span(12, 17, "LOC"))] and d.ties == 0  # 2 to 1
    d = build_project_data(NER, task, [spans(1, 1, "1", *both), spans(2, 2, "3", (0, 3, "PER"))])
    assert d.labels == [(Span(0, 3, "PER"),)] and d.ties == 1  # 1 to 1: the latest
    bad = Annotation(4, 1, 1, 3, [{"from_name": "ner", "to_name": "text", "type": "labels",
                                   "value": {"start": 12, "end": 40, "text": "Paris",
                                             "labels": ["LOC"]}}], False, False, None, "9")
    d = build_project_data(NER, task, [spans(1, 1, "1", *both), bad])
    assert d.labels == [(Span(0, 3, "PER"), Span(12, 17, "LOC"))] and d.ties == 0


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
