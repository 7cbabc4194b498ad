"""Publishing a NER project's queue: every task's pre-label is the one rule's (the LLM's stored
spans, else the model's stored prediction), checked against the task's text, in the head and in
the tail alike; an invalid span never reaches Label Studio (the task keeps its score)."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr
from tests.fakes.label_studio import FakeGateway
from tests.predict.spans_seed import EMOJI, NER_CONFIG, TEXTS, model_region, seed_ner, where

from labelloop.jobs.context import JobContext
from labelloop.jobs.types import JobKind, JobSpec
from labelloop.labelconfig.kinds import validate_result
from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelstudio.access import GatewayProvider
from labelloop.labelstudio.publish import predictions_for, publish_queue, publish_texts
from labelloop.labelstudio.tail import handle_publish_tail
from labelloop.loop.resources import Resources
from labelloop.storage.base import Storage
from labelloop.storage.sql_queue import QueueEntry

SCORES = {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.4, 5: 0.5, 6: 0.6}


@pytest.fixture
def ls(fake_ls: FakeGateway) -> FakeGateway:
    fake_ls.add_project(1, NER_CONFIG)
    for i, text in TEXTS.items():
        fake_ls.add_task(1, i, {"text": text})
    return fake_ls


@pytest.fixture
def s(settings):
    return settings.model_copy(update={
        "label_studio_url": "http://ls", "label_studio_api_key": SecretStr("k"),
        "publish_head_size": 2, "publish_tail_batch_size": 2})


def spans_of(pred: dict) -> list[tuple[int, int, str, str]]:
    return [(r["value"]["start"], r["value"]["end"], r["value"]["text"], r["value"]["labels"][0])
            for r in pred["result"]]


def run_tail(storage: Storage, ls: FakeGateway, s) -> None:
    with storage.write() as tx:
        tx.enqueue(JobSpec(JobKind.PUBLISH_TAIL, 1))
        job = tx.claim("w", lease_s=60, kinds=[JobKind.PUBLISH_TAIL])
    assert job is not None
    gateways = GatewayProvider(s, factory=lambda *_: ls)
    handle_publish_tail(JobContext(job, storage, s, gateways, lambda: None, Resources(s)))


def test_head_and_tail_carry_the_stored_spans_at_the_right_offsets(
        storage: Storage, ls: FakeGateway, s, caplog: pytest.LogCaptureFixture) -> None:
    seed_ner(storage)
    with storage.write() as tx:  # the queue the tail reads back (a retrain stores it)
        tx.save_queue([QueueEntry(1, "v1", tid, r, score, "uncertain")
                       for r, (tid, score) in enumerate(SCORES.items())])
    with caplog.at_level(logging.WARNING):
        report = publish_queue(storage, ls, 1, SCORES, settings=s, version="v1")
        assert (report.published, report.remaining) == (2, 4)
        run_tail(storage, ls, s)
    by_task = {p["task"]: p for p in ls.predictions if p["model_version"] == "v1"}
    assert sorted(by_task) == [1, 2, 3, 4, 5, 6]
    assert spans_of(by_task[1]) == [(*where(EMOJI, "Anna"), "Anna", "PER"),
                                    (*where(EMOJI, "Paris"), "Paris", "LOC"),
                                    (*where(EMOJI, "Acme"), "Acme", "ORG")]
    assert spans_of(by_task[2]) == [(*where(TEXTS[2], "Rome"), "Rome", "LOC")]  # the model's
    assert spans_of(by_task[3]) == [(0, 4, "Acme", "ORG"), (11, 15, "Carl", "PER")]
    assert by_task[4]["result"] == [] and by_task[5]["result"] == [] \
        and by_task[6]["result"] == []
    assert [by_task[t]["score"] for t in sorted(by_task)] == [SCORES[t] for t in sorted(SCORES)]
    schema = parse_label_config(NER_CONFIG)
    for tid, pred in by_task.items():
        validate_result(schema, pred["result"], text=TEXTS[tid])
    assert any("task 2" in m for m in caplog.messages)  # the LLM's span past the text
    assert any("task 4" in m for m in caplog.messages)  # the model's region that lies


def test_an_in_memory_prelabel_is_checked_against_the_text_before_it_is_sent(
        storage: Storage, caplog: pytest.LogCaptureFixture) -> None:
    seed_ner(storage)
    with storage.read() as tx:
        project = tx.get_project(1)
        assert project is not None
        texts = publish_texts(tx, project, [1, 3])
    assert texts == {1: EMOJI, 3: TEXTS[3]}
    good = [model_region(TEXTS[3], "Carl", "PER")]
    # offsets counted in UTF-16 units after the emoji: 'Anna' would read as ' Ann'
    utf16 = [{"from_name": "ner", "to_name": "text", "type": "labels",
              "value": {"start": 3, "end": 7, "text": "Anna", "labels": ["PER"]}}]
    with caplog.at_level(logging.WARNING, logger="labelloop.labelstudio.publish"):
        preds = predictions_for(project, [1, 3], {1: 0.5, 3: 0.25}, "v2", {1: utf16, 3: good},
                                texts=texts)
        unchecked = predictions_for(project, [3], {3: 0.25}, "v2", {3: good})
    assert preds[0] == {"task": 1, "result": [], "score": 0.5, "model_version": "v2"}
    assert preds[1]["result"] == good and preds[1]["score"] == 0.25
    assert unchecked[0]["result"] == []  # a span result without its text is not sent
    assert any("task 1" in m and "value.text" in m for m in caplog.messages), caplog.messages
