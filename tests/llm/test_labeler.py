"""LLMLabeler against the loopback fake server, through the real openai client: labels,
confidence, capabilities, cache, storage, few-shot examples."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.errors import UnsupportedConfig
from labelloop.labelconfig.results import validate_result
from labelloop.labelconfig.schema import LabelSchema, parse_label_config
from labelloop.llm import ExamplePool, LabelRequest, LLMLabeler, to_prediction_result
from tests.llm.conftest import GOLD, LABELS, llm_settings


def items(texts=GOLD) -> list[LabelRequest]:
    return [LabelRequest(i, t) for i, t in enumerate(texts)]


def test_labels_with_logprob_distributions(fake_llm, make_labeler, schema) -> None:
    server = fake_llm(confidence=0.8)
    outcomes = make_labeler(server).label_many_sync(schema, items())
    assert [o.labels for o in outcomes] == [[g] for g in GOLD.values()]
    for o in outcomes:
        assert o.confidence_method == "logprobs" and o.failure is None and not o.cached
        assert o.distribution == pytest.approx(
            {x: 0.8 if x == o.labels[0] else 0.1 for x in LABELS})
        assert o.confidence == pytest.approx(0.8)
        assert o.usage.calls == 1 and o.usage.prompt_tokens > 0
    sent = server.requests[-1]
    assert sent["logprobs"] is True and sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["label"]["enum"] == \
        LABELS


def test_prediction_result_is_validated_with_a_region_score(fake_llm, make_labeler,
                                                            schema) -> None:
    labeler = make_labeler(fake_llm(confidence=0.7))
    outcome = labeler.label_many_sync(schema, items(["A wonderful, moving film."]))[0]
    result = to_prediction_result(schema, outcome)
    validate_result(schema, result)
    assert result == [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                       "value": {"choices": ["positive"]}, "score": pytest.approx(0.7)}]
    assert labeler.model_version == f"llm-fake-model-p{labeler.templates.hash}"


def test_aliases_are_stored_values_are_shown(fake_llm, make_labeler) -> None:
    aliased = parse_label_config("""<View><Text name="t" value="$text"/>
      <Choices name="c" toName="t"><Choice value="Good film" alias="pos"/>
      <Choice value="Bad film" alias="neg"/></Choices></View>""")
    server = fake_llm({"nice": "Good film", "awful": "Bad film"})
    outcomes = make_labeler(server).label_many_sync(aliased, items(["nice", "awful"]))
    assert [o.labels for o in outcomes] == [["pos"], ["neg"]]
    assert set(outcomes[0].distribution) == {"pos", "neg"}
    assert "- Good film" in server.requests[-1]["messages"][0]["content"]
    validate_result(aliased, to_prediction_result(aliased, outcomes[0]))


def test_capabilities_are_detected_once_and_stored(fake_llm, tmp_path, llm_storage,
                                                   schema) -> None:
    server = fake_llm()
    settings = llm_settings(tmp_path, server)
    LLMLabeler(settings, llm_storage).label_many_sync(schema, items(["Dull and far too long."]))
    probes = server.calls - 1
    assert probes >= 2  # structured output with logprobs, then n
    fresh = LLMLabeler(settings, llm_storage)  # another process, say
    assert fresh.status().capabilities == {"output_mode": "json_schema", "logprobs": True,
                                           "n": True, "notes": []}
    before = server.calls
    fresh.label_many_sync(schema, items(["It is a film about a boat."]))
    assert server.calls - before == 1  # no probing again


def test_rerun_costs_zero_calls(fake_llm, make_labeler, schema, llm_storage) -> None:
    server = fake_llm()
    labeler = make_labeler(server)
    first = labeler.label_many_sync(schema, items())
    calls = server.calls
    again = labeler.label_many_sync(schema, items())
    assert server.calls == calls
    assert all(o.cached and o.usage.calls == 0 and o.usage.cached_responses == 1 for o in again)
    assert [o.labels for o in again] == [o.labels for o in first]
    assert [o.distribution for o in again] == [o.distribution for o in first]
    with llm_storage.read() as tx:
        assert tx.count_llm_cache() >= len(GOLD)


def test_usage_and_cost_are_recorded_per_call(fake_llm, make_labeler, schema,
                                              llm_storage) -> None:
    labeler = make_labeler(fake_llm(), llm_prices={"fake-model": (1000.0, 2000.0)})
    outcomes = labeler.label_many_sync(schema, items())
    with llm_storage.read() as tx:
        usage = tx.llm_usage()
    item_tokens = sum(o.usage.prompt_tokens for o in outcomes)
    assert usage.calls == len(GOLD) + 2  # two probes
    assert usage.prompt_tokens > item_tokens > 0
    expected = sum(o.usage.prompt_tokens * 1e-3 + o.usage.completion_tokens * 2e-3
                   for o in outcomes)
    assert sum(o.usage.cost_usd for o in outcomes) == pytest.approx(expected)
    assert usage.cost_usd > expected  # the probes cost too


def test_outcomes_are_stored_as_llm_labels(fake_llm, make_labeler, schema,
                                           llm_storage) -> None:
    labeler = make_labeler(fake_llm())
    labeler.label_many_sync(schema, items(), project_id=7)
    with llm_storage.read() as tx:
        stored = tx.get_llm_labels(7, model_version=labeler.model_version)
    assert sorted(stored) == list(range(len(GOLD)))
    assert stored[1].labels == ["negative"] and stored[1].confidence_method == "logprobs"
    assert sum(stored[1].distribution.values()) == pytest.approx(1.0)


def test_few_shot_examples_are_in_the_prompt(fake_llm, make_labeler, schema) -> None:
    server = fake_llm()
    pool = ExamplePool(texts=["Superb acting.", "A total mess.", "Shot in Ohio.", "Great fun."],
                       labels=[["positive"], ["negative"], ["neutral"], ["positive"]],
                       classes=LABELS, llm_wrong=np.array([False, True, False, False]))
    labeler = make_labeler(server, llm_few_shot_k=3)
    out = labeler.label_many_sync(schema, items(["Dull and far too long."]), examples=pool)
    assert out[0].labels == ["negative"]  # the fake reads the last <text> block: the task
    user = server.requests[-1]["messages"][1]["content"]
    assert user.count("<example>") == 3
    assert "A total mess." in user and "Label: negative" in user
    assert user.rindex("<text>\nDull and far too long.") > user.rindex("</example>")


def test_multiple_choice_uses_vote_shares(fake_llm, make_labeler, multi_schema) -> None:
    gold = {"Election and the World Cup": ["sports", "politics"], "A new comet": ["science"]}
    outcomes = make_labeler(fake_llm(gold)).label_many_sync(multi_schema, items(gold))
    assert [o.labels for o in outcomes] == [["sports", "politics"], ["science"]]
    assert outcomes[0].confidence_method == "self_consistency"
    assert outcomes[0].distribution == {"sports": 1.0, "politics": 1.0, "science": 0.0}
    validate_result(multi_schema, to_prediction_result(multi_schema, outcomes[0]))


def test_unsupported_schema_is_refused(make_labeler) -> None:
    with pytest.raises(UnsupportedConfig):
        make_labeler().label_many_sync(LabelSchema(False, "no choices"), items())


def test_no_items_no_calls(fake_llm, make_labeler, schema) -> None:
    server = fake_llm()
    assert make_labeler(server).label_many_sync(schema, []) == []
    assert server.calls == 0


def test_few_shot_examples_follow_the_task_embedding(fake_llm, make_labeler, schema) -> None:
    server = fake_llm()
    pool = ExamplePool(texts=["near positive", "far positive", "near negative", "far negative"],
                       labels=[["positive"], ["positive"], ["negative"], ["negative"]],
                       classes=LABELS,
                       embeddings=np.array([[1, 0], [-1, 0], [0.9, 0.1], [-1, 0.1]], float))
    labeler = make_labeler(server, llm_few_shot_k=2)
    item = LabelRequest(1, "Dull and far too long.", embedding=np.array([1.0, 0.0]))
    assert labeler.label_many_sync(schema, [item], examples=pool)[0].labels == ["negative"]
    user = server.requests[-1]["messages"][1]["content"]
    assert "near positive" in user and "near negative" in user and "far positive" not in user


def test_labels_are_stored_as_they_come_so_a_cancelled_batch_keeps_its_answers(
        fake_llm, make_labeler, schema, llm_storage) -> None:
    """/predict cancels a batch at its time budget: the answers that arrived before are stored
    (with their cached responses), the item still waiting is not."""
    import asyncio

    server = fake_llm()
    labeler = make_labeler(server, llm_concurrency=2, llm_max_retries=0)
    labeler.label_many_sync(schema, [LabelRequest(99, "warm-up")])  # capabilities known
    server.inject("timeout", delay_s=4.0)  # the batch's first call hangs

    async def scenario() -> list:
        got: list = []
        batch = asyncio.ensure_future(labeler.label_many(schema, items(), project_id=7,
                                                         on_outcome=got.append))
        for _ in range(400):
            await asyncio.sleep(0.01)
            if len(got) == len(GOLD) - 1:
                break
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
        return got

    got = asyncio.run(scenario())
    answered = {o.task_id for o in got}  # all but the one whose call hangs
    assert len(answered) == len(GOLD) - 1
    with llm_storage.read() as tx:
        stored = tx.get_llm_labels(7, model_version=labeler.model_version)
    assert set(stored) == answered
    calls = server.calls
    again = labeler.label_many_sync(schema, items()[1:])  # their answers were cached too
    assert server.calls == calls and all(o.cached for o in again)


def test_one_tls_context_serves_every_batch(fake_llm, make_labeler, schema,
                                            monkeypatch) -> None:
    """Loading the CA bundle costs ~20 ms: a labeler builds the SSL context once and the
    client of each batch (each event loop) reuses it."""
    from labelloop.llm import chat
    from labelloop.llm import labeler as labeler_module

    built: list = []

    def counting() -> object:
        built.append(chat.tls_context())
        return built[-1]

    monkeypatch.setattr(labeler_module, "tls_context", counting)
    labeler = make_labeler(fake_llm())
    for text in ("first batch", "second batch", "third batch"):
        assert labeler.label_many_sync(schema, [LabelRequest(1, text)])[0].labels
    assert len(built) == 1 and built[0] is not None
    client = labeler.config.make_client(tls=built[0])
    transport = getattr(client._client, "_transport", None)  # the SDK's aiohttp transport
    if transport is not None and hasattr(transport, "ssl_context"):
        assert transport.ssl_context is built[0]
