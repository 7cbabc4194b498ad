"""The answer is constrained to the label set and read back strictly."""

from __future__ import annotations

import pytest

from labelloop.labelconfig.schema import parse_label_config
from labelloop.llm.answers import (
    InvalidAnswer,
    build_request,
    parse_answer,
    response_format,
    tool_spec,
)

ALIASED = parse_label_config("""<View><Text name="t" value="$text"/>
  <Choices name="c" toName="t"><Choice value="Good film" alias="pos"/>
  <Choice value="Bad film" alias="neg"/></Choices></View>""")


def test_json_schema_is_an_enum_of_the_values_shown(schema, multi_schema) -> None:
    rf = response_format(ALIASED)
    prop = rf["json_schema"]["schema"]["properties"]["label"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
    assert prop == {"type": "string", "enum": ["Good film", "Bad film"]}
    multi = response_format(multi_schema)["json_schema"]["schema"]["properties"]["labels"]
    assert multi == {"type": "array", "items": {"type": "string",
                                                "enum": ["sports", "politics", "science"]}}


def test_tool_call_uses_the_same_schema_and_is_forced(schema) -> None:
    tools, choice = tool_spec(schema)
    assert tools[0]["function"]["parameters"] == response_format(schema)["json_schema"]["schema"]
    assert choice == {"type": "function", "function": {"name": "record_label"}}


def test_request_per_mode(schema) -> None:
    msgs = [{"role": "user", "content": "x"}]
    assert "response_format" in build_request(schema, msgs, mode="json_schema").payload()
    tools = build_request(schema, msgs, mode="tools").payload()
    assert "tools" in tools and "response_format" not in tools
    text = build_request(schema, msgs, mode="text", logprobs=True, top_logprobs=7).payload()
    assert "tools" not in text and "response_format" not in text
    assert text["logprobs"] is True and text["top_logprobs"] == 7


@pytest.mark.parametrize("raw, mode, expected", [
    ('{"label": "Good film"}', "json_schema", ["pos"]),
    ('{"label": "neg"}', "json_schema", ["neg"]),  # the alias is accepted too
    ('```json\n{"label": "Bad film"}\n```', "json_schema", ["neg"]),
    ('{"label": "good FILM"}', "tools", ["pos"]),  # case-insensitive whole-string match
    ("Bad film", "text", ["neg"]),
    ('  "Good film".  ', "text", ["pos"]),
    ("Good film", "json_schema", ["pos"]),  # a server that ignored response_format
])
def test_answers_in_the_set(raw: str, mode, expected: list[str]) -> None:
    assert parse_answer(raw, ALIASED, mode) == expected


@pytest.mark.parametrize("raw, mode, reason", [
    ('{"label": "Great film"}', "json_schema", "not a label"),
    ('{"label": "Good"}', "json_schema", "not a label"),
    ("The film is good", "text", "not a label"),
    ("Good film, Bad film", "text", "not a label"),
    ('{"label": "Good fi', "json_schema", "malformed JSON"),
    ('{"label": 3}', "json_schema", "expected a label"),
    ("", "text", "empty answer"),
    (None, "tools", "empty answer"),
])
def test_answers_outside_the_set_are_refused(raw, mode, reason: str) -> None:
    with pytest.raises(InvalidAnswer, match=reason):
        parse_answer(raw, ALIASED, mode)


def test_multiple_choice(multi_schema) -> None:
    assert parse_answer('{"labels": ["science", "sports", "science"]}', multi_schema,
                        "json_schema") == ["science", "sports"]
    assert parse_answer("sports, politics", multi_schema, "text") == ["sports", "politics"]
    with pytest.raises(InvalidAnswer):
        parse_answer('{"labels": []}', multi_schema, "json_schema")
    with pytest.raises(InvalidAnswer):
        parse_answer('{"labels": ["sports", "cooking"]}', multi_schema, "json_schema")
