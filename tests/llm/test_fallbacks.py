"""Endpoints that support less: output-mode fallbacks and confidence without logprobs."""

from __future__ import annotations

import pytest

from labelloop.llm import LabelRequest
from tests.llm.conftest import GOLD, LABELS


def items(texts=GOLD) -> list[LabelRequest]:
    return [LabelRequest(i, t) for i, t in enumerate(texts)]


def test_no_response_format_falls_back_to_tool_calls(fake_llm, make_labeler, schema) -> None:
    server = fake_llm(json_schema=False)
    labeler = make_labeler(server)
    outcomes = labeler.label_many_sync(schema, items())
    assert [o.labels for o in outcomes] == [[g] for g in GOLD.values()]
    caps = labeler.status().capabilities
    assert caps["output_mode"] == "tools"
    assert any("json_schema with logprobs rejected: HTTP 400" in n for n in caps["notes"])
    last = server.requests[-1]
    assert "response_format" not in last and last["tool_choice"]["function"]["name"] == \
        "record_label"
    assert last["tools"][0]["function"]["parameters"]["properties"]["label"]["enum"] == LABELS
    # tool calls carry no logprobs: self-consistency (the server honours n)
    assert outcomes[0].confidence_method == "self_consistency" and last["n"] == 5


def test_no_structured_output_at_all_falls_back_to_plain_text(fake_llm, make_labeler,
                                                              schema) -> None:
    server = fake_llm(json_schema=False, tools=False, confidence=0.6)
    labeler = make_labeler(server)
    outcomes = labeler.label_many_sync(schema, items())
    assert [o.labels for o in outcomes] == [[g] for g in GOLD.values()]
    assert labeler.status().capabilities["output_mode"] == "text"
    assert outcomes[0].confidence_method == "logprobs"  # text answers do carry logprobs
    assert outcomes[0].distribution == pytest.approx(
        {"positive": 0.6, "negative": 0.2, "neutral": 0.2})
    last = server.requests[-1]
    assert "tools" not in last and "response_format" not in last


def test_tools_accepted_but_ignored_falls_back_to_text(fake_llm, make_labeler, schema) -> None:
    server = fake_llm(json_schema=False, tools="ignore")
    labeler = make_labeler(server)
    outcomes = labeler.label_many_sync(schema, items())
    assert [o.labels for o in outcomes] == [[g] for g in GOLD.values()]
    caps = labeler.status().capabilities
    assert caps["output_mode"] == "text"
    assert "tools accepted but answered without a tool call" in caps["notes"]


def test_without_logprobs_self_consistency_in_one_call(fake_llm, make_labeler, schema) -> None:
    server = fake_llm(logprobs=False, confidence=0.6)
    outcomes = make_labeler(server, llm_samples=9).label_many_sync(schema, items())
    assert server.calls == len(GOLD) + 2  # probes: with logprobs (none came back), n=2
    for o, gold in zip(outcomes, GOLD.values()):
        assert o.confidence_method == "self_consistency"
        assert sum(o.distribution.values()) == pytest.approx(1.0)
        assert all(v * 9 == pytest.approx(round(v * 9)) for v in o.distribution.values())
        assert o.labels == [max(o.distribution, key=o.distribution.get)]
        assert o.confidence == pytest.approx(o.distribution[o.labels[0]])
    assert server.requests[-1]["n"] == 9
    # at confidence 0.6 some texts' samples disagree
    assert any(max(o.distribution.values()) < 1.0 for o in outcomes)


def test_server_ignoring_n_gets_separate_seeded_calls(fake_llm, make_labeler, schema) -> None:
    server = fake_llm(logprobs=False, n=False)
    labeler = make_labeler(server, llm_samples=4)
    outcomes = labeler.label_many_sync(schema, items())
    assert labeler.status().capabilities["n"] is False
    label_calls = [r for r in server.requests if "<text>" in r["messages"][-1]["content"]]
    assert len(label_calls) == 4 * len(GOLD)
    assert {r["seed"] for r in label_calls} == {0, 1, 2, 3}
    assert all(o.usage.calls == 4 and o.confidence_method == "self_consistency"
               for o in outcomes)


def test_one_sample_without_logprobs_is_unknown_confidence(fake_llm, make_labeler,
                                                           schema) -> None:
    outcomes = make_labeler(fake_llm(logprobs=False), llm_samples=1).label_many_sync(
        schema, items())
    assert [o.labels for o in outcomes] == [[g] for g in GOLD.values()]
    assert all(o.confidence_method == "unknown" and o.distribution is None
               and o.confidence is None for o in outcomes)


def test_forced_mode_skips_detection_of_others(fake_llm, make_labeler, schema) -> None:
    server = fake_llm()
    labeler = make_labeler(server, llm_output_mode="text")
    outcomes = labeler.label_many_sync(schema, items())
    assert [o.labels for o in outcomes] == [[g] for g in GOLD.values()]
    assert not any("response_format" in r or "tools" in r for r in server.requests)


def test_a_later_400_moves_the_endpoint_to_the_next_mode(fake_llm, make_labeler,
                                                         schema) -> None:
    server = fake_llm()
    labeler = make_labeler(server)
    labeler.label_many_sync(schema, items(["Dull and far too long."]))
    server.json_schema = False  # the server was reconfigured
    outcomes = labeler.label_many_sync(schema, items(["The worst script this year."]))
    assert outcomes[0].labels == ["negative"]
    assert labeler.status().capabilities["output_mode"] == "tools"


def test_a_400_about_one_request_does_not_downgrade(fake_llm, make_labeler, schema) -> None:
    server = fake_llm()
    labeler = make_labeler(server, llm_concurrency=1)
    labeler.label_many_sync(schema, items(["Dull and far too long."]))
    server.inject("reject")  # e.g. this prompt is over the context length
    out = labeler.label_many_sync(schema, items(["Runs for two hours.",
                                                 "Loved every minute of it."]))
    assert out[0].labels is None and out[0].failure_kind == "rejected"
    assert "maximum context length" in out[0].failure
    assert out[1].labels == ["positive"]
    assert labeler.status().capabilities["output_mode"] == "json_schema"  # probed: still works


def test_forced_tools_mode_on_a_server_that_ignores_tools(fake_llm, make_labeler,
                                                          schema) -> None:
    server = fake_llm(tools="ignore")
    labeler = make_labeler(server, llm_output_mode="tools")
    outcomes = labeler.label_many_sync(schema, items())
    caps = labeler.status().capabilities
    assert caps["output_mode"] == "tools" and "tools accepted but answered without a tool call" \
        in caps["notes"]
    # the text answers are still read strictly against the label set
    assert [o.labels for o in outcomes] == [[g] for g in GOLD.values()]
