"""/predict on a NER project: the one pre-label rule for spans (the LLM's stored spans, else the
local model's stored prediction), every region checked against the task's text, offsets in Label
Studio's unit (code points, also after an emoji), live LLM spans located by labelloop."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from labelloop.labelconfig.kinds import validate_result
from labelloop.labelconfig.schema import parse_label_config
from tests.conftest import make_settings
from tests.fakes.llm_server import FakeLLM
from tests.predict.spans_seed import EMOJI, NER_CONFIG, TEXTS, seed_ner, where


def predict(client: TestClient, *ids: int) -> list:
    tasks = [{"id": i, "data": {"text": TEXTS[i]}} for i in ids]
    r = client.post("/predict", json={"tasks": tasks, "project": "1.1"})
    assert r.status_code == 200
    return r.json()["results"]


def regions(entry: dict) -> list[tuple[int, int, str, str, float | None]]:
    return [(r["value"]["start"], r["value"]["end"], r["value"]["text"], r["value"]["labels"][0],
             r.get("score")) for r in entry["result"]]


def test_predict_answers_the_llms_spans_at_code_point_offsets_after_an_emoji(
        client: TestClient) -> None:
    seed_ner(client.app.state.services.storage)  # type: ignore[attr-defined]
    [entry] = predict(client, 1)
    assert entry["model_version"] == "llm-ner" and entry["score"] == pytest.approx(0.8)
    got = regions(entry)
    assert got == [(*where(EMOJI, "Anna"), "Anna", "PER", 0.9),
                   (*where(EMOJI, "Paris"), "Paris", "LOC", 0.8),
                   (*where(EMOJI, "Acme"), "Acme", "ORG", 0.7)]
    assert got[0][:2] == (2, 6)  # Python code points: the emoji counts one
    for start, end, said, _, _ in got:
        assert EMOJI[start:end] == said
    assert all(r["from_name"] == "ner" and r["to_name"] == "text" and r["type"] == "labels"
               for r in entry["result"])
    validate_result(parse_label_config(NER_CONFIG), entry["result"], text=EMOJI)


def test_an_invalid_span_is_never_sent_and_the_drop_is_logged(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    seed_ner(client.app.state.services.storage)  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, logger="labelloop.predict.prelabels"):
        two, three, four, five, six = predict(client, 2, 3, 4, 5, 6)
    # task 2: the LLM's answer holds a span past the text: the model's prediction instead
    assert two["model_version"] == "labelloop-1"
    assert regions(two) == [(*where(TEXTS[2], "Rome"), "Rome", "LOC", 0.6)]
    assert any("task 2" in m and "llm" in m and "not within 0 <= start < end <= 27" in m
               for m in caplog.messages), caplog.messages
    # task 3: no LLM label, the model's two spans
    assert [r[:4] for r in regions(three)] == [(0, 4, "Acme", "ORG"), (11, 15, "Carl", "PER")]
    # task 4: the model's region names a text that is not at its offsets: nothing is sent
    assert four == []
    assert any("task 4" in m and "labelloop-1" in m for m in caplog.messages)
    # task 5: the LLM found no entity: a prediction with no region (a label like any other)
    assert five["result"] == [] and five["model_version"] == "llm-ner"
    assert six == []
    schema = parse_label_config(NER_CONFIG)
    for tid, entry in zip((2, 3, 5), (two, three, five)):
        validate_result(schema, entry["result"], text=TEXTS[tid])


def test_predict_asks_the_llm_live_and_locates_its_entities(tmp_path) -> None:
    from labelloop.api.app import Overrides, create_app
    text = "Paris met Anna in Paris. 🙂 Then Anna left."
    entities = {text: [("Paris", "Location"), ("Anna", "Person"), ("Paris", "Location"),
                       ("Berlin", "Location"), ("Anna", "Person")]}
    with FakeLLM({}, entities=entities, confidence=0.9) as llm:
        s = make_settings(tmp_path, openai_base_url=llm.url, openai_api_key="sk-test-123456",
                          llm_model="fake-model")
        with TestClient(create_app(s, Overrides(start_worker=False))) as client:
            r = client.post("/predict", json={"tasks": [{"id": 9, "data": {"text": text}}],
                                              "project": "1.1", "label_config": NER_CONFIG})
            calls = llm.calls
            again = client.post("/predict", json={"tasks": [{"id": 9, "data": {"text": text}}],
                                                  "project": "1.1"}).json()
    [entry] = r.json()["results"]
    got = [r[:4] for r in regions(entry)]
    assert got == [(*where(text, "Paris"), "Paris", "LOC"), (*where(text, "Anna"), "Anna", "PER"),
                   (*where(text, "Paris", 1), "Paris", "LOC"),
                   (*where(text, "Anna", 1), "Anna", "PER")]  # Berlin is not in the text
    assert entry["model_version"].startswith("llm-")
    # before any publish, the answer's version is the span prompts' one the entries carry
    assert r.json()["model_version"] == entry["model_version"] == again["model_version"]
    assert all(0 < r["score"] <= 1 for r in entry["result"])
    validate_result(parse_label_config(NER_CONFIG), entry["result"], text=text)
    assert again["results"] == r.json()["results"] and llm.calls == calls  # stored: no call
