"""LLM span pre-annotation against the loopback fake server, through the real openai client:
entities asked as structured output (then tools, then JSON in the prompt), offsets located by
labelloop, dropped entities, per-span confidence, retries, cache, storage, few-shot examples.
Every outcome's spans pass ``validate_spans`` on its text."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from labelloop.labelconfig.kinds import validate_result
from labelloop.labelconfig.schema import LabelSchema, parse_label_config
from labelloop.labelconfig.spans import Span, validate_spans
from labelloop.llm import ExamplePool, LabelRequest, to_prediction_result
from labelloop.llm.span_store import stored_dropped, stored_span_scores, stored_spans
from labelloop.llm.types import LabelOutcome

NER_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Labels name="ner" toName="text">
    <Label value="Person" alias="PER"/>
    <Label value="Location" alias="LOC" hint="a city, country or place"/>
    <Label value="Organization" alias="ORG"/>
  </Labels>
</View>"""
REPEATED = "Paris met Anna in Paris."
ABSENT = "Anna works at Acme."
OUTSIDE = "Bob visited Rome."
EMPTY = "Nothing to see here."
EMOJI = "🙂 Anna flew to Paris 🇫🇷 with Acme."
ENTITIES: dict[str, list[tuple[str, str]]] = {
    REPEATED: [("Paris", "Location"), ("Anna", "Person"), ("Paris", "Location")],
    ABSENT: [("Anna", "Person"), ("Berlin", "Location"), ("Acme", "Organization")],
    OUTSIDE: [("Bob", "Person"), ("Rome", "City")],
    EMPTY: [],
    EMOJI: [("Anna", "Person"), ("Paris", "Location"), ("Acme", "Organization")],
}
TEXTS = list(ENTITIES)
EXPECTED = {
    REPEATED: [Span(0, 5, "LOC"), Span(10, 14, "PER"), Span(18, 23, "LOC")],
    ABSENT: [Span(0, 4, "PER"), Span(14, 18, "ORG")],
    OUTSIDE: [Span(0, 3, "PER")],
    EMPTY: [],
    EMOJI: [Span(2, 6, "PER"), Span(15, 20, "LOC"), Span(29, 33, "ORG")],
}


@pytest.fixture
def ner() -> LabelSchema:
    schema = parse_label_config(NER_CONFIG)
    assert schema.task_type == "text_spans"
    return schema


def spans_server(fake_llm: Any, **kw: Any) -> Any:
    return fake_llm({}, entities=ENTITIES, **kw)


def items(texts: list[str] = TEXTS) -> list[LabelRequest]:
    return [LabelRequest(i, t) for i, t in enumerate(texts)]


def checked(schema: LabelSchema, outcomes: list[LabelOutcome],
            texts: list[str] = TEXTS) -> list[LabelOutcome]:
    """No span outside its text, ever: every outcome's spans validate, and so does the
    prediction result built from it."""
    for o, text in zip(outcomes, texts):
        validate_spans(text, o.span_list, labels=schema.labels)
        validate_result(schema, to_prediction_result(schema, o, text=text), text=text)
        for s in o.span_list:
            assert 0 <= s.start < s.end <= len(text)
    return outcomes


def test_spans_located_by_labelloop_with_logprob_scores(fake_llm, make_labeler, ner) -> None:
    server = spans_server(fake_llm, confidence=0.8)
    labeler = make_labeler(server)
    outcomes = checked(ner, labeler.label_many_sync(ner, items()))
    assert {TEXTS[o.task_id]: o.span_list for o in outcomes} == EXPECTED
    for o in outcomes:
        assert o.failure is None and o.confidence_method == "logprobs"
        assert all(s.score == pytest.approx(0.8) for s in o.spans or ())
        assert o.labels == sorted({s.label for s in o.span_list})
    assert outcomes[0].confidence == pytest.approx(0.8)
    assert outcomes[TEXTS.index(EMPTY)].spans == () and outcomes[3].labels == []
    sent = server.requests[-1]
    schema = sent["response_format"]["json_schema"]["schema"]
    item = schema["properties"]["entities"]["items"]
    assert item["properties"]["label"]["enum"] == ["Person", "Location", "Organization"]
    assert sent["logprobs"] is True
    system = sent["messages"][0]["content"]
    assert "- Location: a city, country or place" in system and '"entities"' in system
    assert labeler.version_for(ner) != labeler.model_version  # its own prompts
    assert labeler.version_for(ner) == f"llm-fake-model-p{labeler.span_templates.hash}"


def test_repeated_forms_in_reading_order_and_emoji_offsets(fake_llm, make_labeler,
                                                           ner) -> None:
    labeler = make_labeler(spans_server(fake_llm))
    first, emoji = checked(ner, labeler.label_many_sync(ner, items([REPEATED, EMOJI])),
                           [REPEATED, EMOJI])
    assert [REPEATED[s.start:s.end] for s in first.span_list] == ["Paris", "Anna", "Paris"]
    assert first.span_list[0] != first.span_list[2]
    assert [EMOJI[s.start:s.end] for s in emoji.span_list] == ["Anna", "Paris", "Acme"]
    region = to_prediction_result(ner, emoji, text=EMOJI)[1]
    assert region["value"]["text"] == "Paris" and region["value"]["labels"] == ["LOC"]


def test_absent_entities_and_labels_outside_the_set_are_dropped_and_logged(
        fake_llm, make_labeler, ner, caplog) -> None:
    labeler = make_labeler(spans_server(fake_llm))
    with caplog.at_level(logging.INFO, logger="labelloop.llm.span_locate"):
        absent, outside = checked(ner, labeler.label_many_sync(ner, items([ABSENT, OUTSIDE])),
                                  [ABSENT, OUTSIDE])
    assert [(d.text, d.label, d.reason) for d in absent.dropped] == \
        [("Berlin", "LOC", "not_found")]
    assert [(d.text, d.label, d.reason) for d in outside.dropped] == \
        [("Rome", "City", "unknown_label")]
    assert absent.ok and outside.span_list == [Span(0, 3, "PER")]
    assert "'Berlin' (LOC): not_found" in caplog.text
    assert "'Rome' (City): unknown_label" in caplog.text


def test_an_answer_with_every_label_outside_the_set_gives_no_span(fake_llm, make_labeler,
                                                                  ner) -> None:
    server = spans_server(fake_llm)
    labeler = make_labeler(server)
    labeler.label_many_sync(ner, items([EMPTY]))  # capabilities detected
    server.inject("outside")
    o = checked(ner, labeler.label_many_sync(ner, items([ABSENT])), [ABSENT])[0]
    assert o.ok and o.spans == ()
    assert {d.reason for d in o.dropped} == {"unknown_label"} and len(o.dropped) == 3


def test_malformed_json_is_retried_then_recorded_as_a_failure(fake_llm, make_labeler, ner,
                                                              llm_storage) -> None:
    server = spans_server(fake_llm)
    labeler = make_labeler(server)
    labeler.label_many_sync(ner, items([EMPTY]))
    server.inject("malformed")  # the retry answers well
    o = checked(ner, labeler.label_many_sync(ner, items([REPEATED])), [REPEATED])[0]
    assert o.ok and len(o.span_list) == 3 and o.usage.calls == 2
    retry = server.requests[-1]["messages"]
    assert retry[-2]["role"] == "assistant" and "not a valid answer" in retry[-1]["content"]
    server.inject("malformed", times=2)
    failed = labeler.label_many_sync(ner, [LabelRequest(7, ABSENT)], project_id=1)[0]
    assert failed.labels is None and failed.spans is None
    assert failed.failure_kind == "invalid_answer" and "malformed JSON" in failed.failure
    assert failed.usage.calls == 2
    with llm_storage.read() as tx:
        row = tx.get_llm_labels(1, model_version=labeler.version_for(ner))[7]
    assert row.labels is None and "after a retry" in row.failure
    assert stored_spans(row) is None


def test_self_consistency_scores_are_sample_shares(fake_llm, make_labeler, ner) -> None:
    server = spans_server(fake_llm, logprobs=False, confidence=0.6)
    labeler = make_labeler(server, llm_samples=5)
    outcomes = checked(ner, labeler.label_many_sync(ner, items()))
    assert server.requests[-1]["n"] == 5  # one call, five answers
    kept = 0
    for o in outcomes:
        assert o.confidence_method in ("self_consistency", "unknown")
        for s in o.spans or ():
            assert s.score is not None and s.score >= 0.5
            assert s.score * 5 == pytest.approx(round(s.score * 5))
            assert s.span in EXPECTED[TEXTS[o.task_id]]
            kept += 1
    assert kept >= 3


def test_without_logprobs_or_samples_scores_are_unknown(fake_llm, make_labeler, ner) -> None:
    labeler = make_labeler(spans_server(fake_llm, logprobs=False), llm_samples=1)
    o = checked(ner, labeler.label_many_sync(ner, items([REPEATED])), [REPEATED])[0]
    assert o.confidence_method == "unknown" and o.confidence is None
    assert [s.score for s in o.spans or ()] == [None, None, None]
    assert "score" not in to_prediction_result(ner, o, text=REPEATED)[0]


@pytest.mark.parametrize("server_kw, mode", [
    ({"json_schema": False}, "tools"),
    ({"json_schema": False, "tools": False}, "text"),
])
def test_fallback_modes(fake_llm, make_labeler, ner, server_kw, mode) -> None:
    server = spans_server(fake_llm, logprobs=False, **server_kw)
    labeler = make_labeler(server, llm_samples=1)
    outcomes = checked(ner, labeler.label_many_sync(ner, items()))
    assert labeler.status().capabilities["output_mode"] == mode
    assert {TEXTS[o.task_id]: o.span_list for o in outcomes} == EXPECTED
    if mode == "tools":
        assert server.requests[-1]["tools"][0]["function"]["name"] == "record_entities"
    else:
        assert "response_format" not in server.requests[-1]
        assert '{"entities": [' in server.requests[-1]["messages"][0]["content"]


def test_second_run_is_served_from_the_cache_and_spans_are_stored(fake_llm, make_labeler, ner,
                                                                  llm_storage) -> None:
    server = spans_server(fake_llm, confidence=0.7)
    labeler = make_labeler(server)
    first = labeler.label_many_sync(ner, items(), project_id=3)
    calls = server.calls
    again = checked(ner, labeler.label_many_sync(ner, items(), project_id=3))
    assert server.calls == calls and all(o.cached and o.usage.calls == 0 for o in again)
    assert [o.spans for o in again] == [o.spans for o in first]
    with llm_storage.read() as tx:
        rows = tx.get_llm_labels(3, model_version=labeler.version_for(ner))
    for o in first:
        row = rows[o.task_id]
        assert stored_spans(row) == o.span_list
        assert stored_span_scores(row) == pytest.approx(o.span_scores)
        assert stored_dropped(row) == list(o.dropped)
        assert row.confidence_method == "logprobs"
    assert labeler.cached_items(ner, items()) == set(range(len(TEXTS)))


def test_few_shot_examples_are_human_spans_as_answer_json(fake_llm, make_labeler, ner) -> None:
    server = spans_server(fake_llm)
    pool = ExamplePool(["Maria lives in Oslo."], [["LOC", "PER"]], ner.labels,
                       entities=[[("Maria", "PER"), ("Oslo", "LOC")]])
    labeler = make_labeler(server)
    checked(ner, labeler.label_many_sync(ner, items([REPEATED]), examples=pool), [REPEATED])
    user = server.requests[-1]["messages"][1]["content"]
    shown = {"entities": [{"text": "Maria", "label": "Person"},
                          {"text": "Oslo", "label": "Location"}]}
    assert f"Answer: {json.dumps(shown)}" in user
    assert user.index("Maria lives in Oslo.") < user.index(REPEATED)
    # the answer's length cap follows the task's text, not the examples shown with it
    from labelloop.llm.span_answers import max_answer_tokens

    assert server.requests[-1]["max_tokens"] == max_answer_tokens(ner, REPEATED)
    long_pool = ExamplePool(["Maria lives in Oslo. " * 40], [["LOC", "PER"]], ner.labels,
                            entities=[[("Maria", "PER"), ("Oslo", "LOC")]])
    labeler.label_many_sync(ner, items([EMOJI]), examples=long_pool)
    assert server.requests[-1]["max_tokens"] == max_answer_tokens(ner, EMOJI)


def test_self_consistency_with_seeded_calls_when_n_is_refused(fake_llm, make_labeler,
                                                              ner) -> None:
    server = spans_server(fake_llm, logprobs=False, n=False, confidence=0.6)
    labeler = make_labeler(server, llm_samples=3)
    labeler.label_many_sync(ner, items([EMPTY]))  # capabilities detected
    before = len(server.requests)
    o = checked(ner, labeler.label_many_sync(ner, items([REPEATED])), [REPEATED])[0]
    sent = server.requests[before:]
    assert len(sent) == 3 == o.usage.calls and all(r.get("n", 1) == 1 for r in sent)
    assert len({r["seed"] for r in sent}) == 3  # three different samples, not one thrice
    assert o.confidence_method in ("self_consistency", "unknown")
    for s in o.spans or ():
        assert s.score is not None and s.score * 3 == pytest.approx(round(s.score * 3))
        assert s.score >= 0.5 and s.span in EXPECTED[REPEATED]


def test_span_calls_are_costed_and_the_budget_stops_them(fake_llm, make_labeler, ner,
                                                         llm_storage) -> None:
    server = spans_server(fake_llm)
    # every call costs about $0.1 at these prices (a span prompt is ~100 tokens); probes too
    labeler = make_labeler(server, llm_prices={"fake-model": (1000.0, 1000.0)},
                           llm_budget_usd=0.5, llm_concurrency=1)
    outcomes = labeler.label_many_sync(ner, items())
    done = [o for o in outcomes if o.spans is not None]
    stopped = [o for o in outcomes if o.failure_kind == "over_budget"]
    assert done and stopped and len(done) + len(stopped) == len(TEXTS)
    for o in done:
        expected = (o.usage.prompt_tokens + o.usage.completion_tokens) * 1e-3
        assert o.usage.calls == 1 and expected > 0
        assert o.usage.cost_usd == pytest.approx(expected)
        assert o.span_list == EXPECTED[TEXTS[o.task_id]]
    assert all(o.spans is None and "budget of $0.50 is spent" in o.failure for o in stopped)
    with llm_storage.read() as tx:
        usage = tx.llm_usage()
    assert usage.cost_usd >= 0.5 and usage.cost_usd > sum(o.usage.cost_usd for o in done)
    assert labeler.status().state == "over_budget"
    calls = server.calls
    labeler.label_many_sync(ner, [LabelRequest(99, REPEATED)])
    assert server.calls == calls
