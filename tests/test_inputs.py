"""The input layer's rules (labelloop.inputs): ids, JSON depth, finiteness and sizes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from labelloop.errors import InvalidInput, MalformedBody
from labelloop.inputs import (
    ID_PATTERN,
    MAX_DEPTH,
    MAX_ID,
    MAX_KEY_CHARS,
    Id,
    Number,
    bounded_int,
    id_of,
    number_of,
    project_key_id,
    read_json,
)


@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_the_id_pattern_is_exactly_1_to_2_63_minus_1(n: int) -> None:
    assert bool(re.fullmatch(ID_PATTERN, str(n))) == (1 <= n <= MAX_ID)


@pytest.mark.parametrize("n", [1, 9, 10, MAX_ID, MAX_ID - 1, 9223372036854775799,
                               8999999999999999999, 10**18, 10**18 - 1])
def test_edges_of_the_id_pattern(n: int) -> None:
    assert re.fullmatch(ID_PATTERN, str(n)) and id_of(str(n)) == n == id_of(n)


@pytest.mark.parametrize("bad", [0, -1, MAX_ID + 1, True, 1.0, None, [], "", "0", "01", "+1",
                                 "1_000", "١", "²", "𝟏", " 1", "1 ", "1\n", "0x10"])
def test_what_is_not_an_id(bad: object) -> None:
    with pytest.raises(InvalidInput):
        id_of(bad)


def test_project_keys() -> None:
    assert project_key_id("12.1700000000") == project_key_id({"id": "12"}) == 12
    for bad in ("12.x", "12.1 ", ".1", "-1.1", "١٢.1", f"{MAX_ID + 1}.1", "1." + "1" * 41):
        with pytest.raises(InvalidInput):
            project_key_id(bad)


def test_pydantic_types_apply_the_same_rules() -> None:
    ids = TypeAdapter(Id)
    assert ids.validate_python("12") == 12 and ids.json_schema()["maximum"] == MAX_ID
    for bad in ("١٢", -5, MAX_ID + 1):
        with pytest.raises(ValidationError):
            ids.validate_python(bad)
    numbers = TypeAdapter(Number)
    assert numbers.validate_python(3) == 3.0
    for bad in (float("nan"), float("inf"), 10**400, True, "1"):
        with pytest.raises(ValidationError):
            numbers.validate_python(bad)
    limit = TypeAdapter(bounded_int(1, 500, "limit"))
    assert limit.validate_python("50") == 50
    for bad in ("0", "501", "١", "1.0", 10**30):
        with pytest.raises(ValidationError):
            limit.validate_python(bad)
    assert number_of(-1e308) == -1e308


@pytest.mark.parametrize("raw, needle", [
    (b"", "empty"), (b"   ", "empty"), (b"{", "not valid JSON"), (b"\xff{}", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested"), (b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
                                                  "nested"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested"),
    (b"NaN", "finite"), (b"[Infinity]", "finite"), (b"[-Infinity]", "finite"),
    (b"[1e309]", "finite"), (b"[" + b"9" * 400 + b"]", "finite"),
    (b"[" + b"9" * 5000 + b"]", "not valid JSON"),  # past Python's int digit limit
    (b'{"' + b"k" * (MAX_KEY_CHARS + 1) + b'": 1}', "key"),
])
def test_read_json_refuses(raw: bytes, needle: str) -> None:
    with pytest.raises(MalformedBody, match=needle):
        read_json(raw)


def test_read_json_reads_up_to_the_limits() -> None:
    deep = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert read_json(deep) is not None
    assert read_json(b'{"a": [1.5e308, -1e308, 12, "\\u0000"]}') == {
        "a": [1.5e308, -1e308, 12, "\x00"]}


def test_strings_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from labelloop import inputs

    monkeypatch.setattr(inputs, "MAX_STRING_CHARS", 10)
    assert read_json(b'["0123456789"]') == ["0123456789"]
    with pytest.raises(MalformedBody, match="string"):
        read_json(b'{"a": ["01234567890"]}')
