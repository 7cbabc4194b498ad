"""Text normalised at the edge (labelloop.text)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from labelloop.text import clean_json, clean_task, clean_text, escaped_original, is_clean


def test_lone_surrogates_are_replaced_and_nul_removed() -> None:
    assert clean_text("a\udc80b") == "a\ufffdb"
    assert clean_text("\ud800") == "\ufffd"
    assert clean_text("x\x00y\x00") == "xy"
    assert clean_text("ok \x00\udc80") == "ok \ufffd"


def test_a_surrogate_pair_becomes_its_character_and_clean_text_is_kept_as_is() -> None:
    assert clean_text("\ud83d\ude00") == "😀"
    for text in ("", "plain", "héllo wörld 😀", "日本語"):
        assert clean_text(text) is text


@given(st.text())
def test_clean_text_can_always_be_encoded(text: str) -> None:
    out = clean_text(text)
    out.encode("utf-8")
    assert "\x00" not in out and is_clean(out)
    assert clean_text(out) == out  # idempotent


def test_clean_json_cleans_every_string_and_says_whether_it_changed() -> None:
    value = json.loads('{"text": "a\\udc80", "list": ["\\u0000", 1, {"k\\u0000": "v"}], "n": 2}')
    out, changed = clean_json(value)
    assert changed and out == {"text": "a\ufffd", "list": ["", 1, {"k": "v"}], "n": 2}
    assert value["text"] == "a\udc80"  # the input is not modified
    same = {"a": ["b", 1.5, None, True]}
    assert clean_json(same) == (same, False) and clean_json(same)[0] is same


def test_a_cleaned_task_carries_its_original_as_ascii_json() -> None:
    task = {"id": 1, "data": {"text": "bad \udc80"}, "meta": None, "project": 2}
    out = clean_task(task)
    assert out["data"] == {"text": "bad \ufffd"} and out["id"] == 1
    assert out["original"].isascii()
    assert json.loads(out["original"]) == {"data": {"text": "bad \udc80"}, "meta": None}
    clean = {"id": 1, "data": {"text": "fine"}, "meta": None}
    assert clean_task(clean) is clean and "original" not in clean
    assert escaped_original("\x00") == '"\\u0000"'


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@given(JSON)
def test_a_cleaned_json_value_can_always_be_encoded_and_stored(value: object) -> None:
    out, changed = clean_json(value)
    json.dumps(out, ensure_ascii=False).encode("utf-8")  # no lone surrogate, keys included
    assert all(is_clean(s) and "\x00" not in s for s in _strings(out))
    assert changed == any(not is_clean(s) for s in _strings(value))
    again, changed_again = clean_json(out)
    assert again == out and not changed_again
    if not changed:
        assert out is value
