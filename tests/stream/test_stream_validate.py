"""The stream body's checks (pure): each bad item named by index, key and field; the batch
refused whole only when it is not {"items": [...]} (422) or too long (413)."""

from __future__ import annotations

import pytest
from tests.conftest import CONFIG

from labelloop.errors import InvalidInput, PayloadTooLarge
from labelloop.labelconfig.schema import parse_label_config
from labelloop.stream.validate import parse_batch

SINGLE = parse_label_config(CONFIG)
MULTI = parse_label_config(CONFIG.replace('toName="text"', 'toName="text" choice="multiple"'))


def item(key: str = "k1", text: str = "good service", **kw: object) -> dict:
    return {"key": key, "data": {"text": text}, **kw}


def errors_of(items: list, schema=SINGLE) -> list[tuple[int, str | None, str]]:
    return [(e.index, e.key, e.field) for e in parse_batch({"items": items}, schema,
                                                           max_batch=100).errors]


def test_good_items_come_back_cleaned_in_order() -> None:
    b = parse_batch({"items": [item("a"), item("b", "bad\x00 one", prediction="negative",
                                               feedback="correction", correction="positive")]},
                    SINGLE, max_batch=10)
    assert b.errors == [] and b.repeats == 0 and b.size == 2
    assert [i.key for i in b.items] == ["a", "b"]
    second = b.items[1]
    assert second.text == "bad one" and second.data == {"text": "bad one"}
    assert (second.prediction, second.feedback, second.correction) == (
        ["negative"], "correction", ["positive"])


@pytest.mark.parametrize(("bad", "field"), [
    ({"data": {"text": "x"}}, "key"),
    (item(key=""), "key"),
    (item(key="x" * 257), "key"),
    (item(key=12), "key"),  # type: ignore[arg-type]
    (item(key="a\x00b"), "key"),
    ({"key": "k"}, "data"),
    ({"key": "k", "data": "text"}, "data"),
    ({"key": "k", "data": {"other": "x"}}, "data.text"),
    (item(text="  "), "data.text"),
    ({"key": "k", "data": {"text": 5}}, "data.text"),
    (item(prediction="maybe"), "prediction"),
    (item(prediction=["positive", "negative"]), "prediction"),
    (item(prediction=3), "prediction"),
    (item(feedback="meh"), "feedback"),
    (item(feedback="correction"), "correction"),
    (item(feedback="negative", correction="positive"), "correction"),
    (item(correction="positive"), "correction"),
    (item(feedback="correction", correction="nope"), "correction"),
    (item(extra=1), "extra"),
])
def test_each_bad_field_is_named(bad: dict, field: str) -> None:
    key = bad.get("key") if isinstance(bad.get("key"), str) and 0 < len(bad["key"]) <= 256 \
        and "\x00" not in bad["key"] else None
    assert errors_of([item("first"), bad, item("last")]) == [(1, key, field)]


def test_a_non_object_item_and_several_bad_fields() -> None:
    assert errors_of([7, {"key": "z", "data": {}, "feedback": "x"}]) == [
        (0, None, "item"), (1, "z", "data.text"), (1, "z", "feedback")]


def test_multiple_choice_labels() -> None:
    b = parse_batch({"items": [item("a", prediction=["positive", "neutral"]),
                               item("b", prediction="neutral")]}, MULTI, max_batch=10)
    assert [i.prediction for i in b.items] == [["positive", "neutral"], ["neutral"]]
    assert errors_of([item(prediction=[]), item("b", prediction=["neutral", "neutral"])],
                     MULTI) == [(0, "k1", "prediction"), (1, "b", "prediction")]


def test_a_key_repeated_in_the_batch_counts_once() -> None:
    b = parse_batch({"items": [item("a"), item("b"), item("a", "other"), item("a", text="")]},
                    SINGLE, max_batch=10)
    assert [i.key for i in b.items] == ["a", "b"] and b.items[0].text == "good service"
    assert b.repeats == 1 and [(e.index, e.field) for e in b.errors] == [(3, "data.text")]


@pytest.mark.parametrize("body", [[], "items", {}, {"items": {"a": 1}}, {"items": None},
                                  {"items": [], "more": 1}])
def test_a_body_that_is_not_items_is_refused_whole(body: object) -> None:
    with pytest.raises(InvalidInput):
        parse_batch(body, SINGLE, max_batch=10)


def test_too_many_items_is_a_413() -> None:
    parse_batch({"items": [item(str(i)) for i in range(5)]}, SINGLE, max_batch=5)
    with pytest.raises(PayloadTooLarge, match="at most 5"):
        parse_batch({"items": [item(str(i)) for i in range(6)]}, SINGLE, max_batch=5)
