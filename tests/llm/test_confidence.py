"""Label distributions from token logprobs and from votes: known values and invariants."""

from __future__ import annotations

import math

import pytest

from labelloop.llm.confidence import (
    choose,
    confidence_of,
    distribution_from_logprobs,
    distribution_from_votes,
)

L = math.log
LABELS = ["positive", "negative", "neutral"]


def tok(token: str, p: float = 1.0, top: list[tuple[str, float]] | None = None) -> dict:
    return {"token": token, "logprob": L(p), "top": [[t, L(q)] for t, q in (top or [])]}


def json_tokens(*value_tokens: dict) -> tuple[list[dict], str]:
    toks = [tok('{"'), tok("label"), tok('":'), tok(' "'), *value_tokens, tok('"}')]
    return toks, "".join(t["token"] for t in toks)


def test_unique_first_tokens() -> None:
    toks, content = json_tokens(tok("positive", 0.7, [("positive", 0.7), ("negative", 0.2),
                                                      ("neutral", 0.05), ("maybe", 0.05)]))
    d = distribution_from_logprobs(toks, content, LABELS, json_key="label")
    # "maybe" is outside the set: renormalised over the labels
    assert d == pytest.approx({"positive": 0.7 / 0.95, "negative": 0.2 / 0.95,
                               "neutral": 0.05 / 0.95})


def test_shared_prefix_is_followed_along_the_chosen_path() -> None:
    toks, content = json_tokens(tok("ne", 0.7, [("ne", 0.7), ("pos", 0.2), ("x", 0.1)]),
                                tok("g", 0.6, [("g", 0.6), ("u", 0.4)]), tok("ative"))
    d = distribution_from_logprobs(toks, content, LABELS, json_key="label")
    assert d == pytest.approx({"positive": 0.2 / 0.9, "negative": 0.42 / 0.9,
                               "neutral": 0.28 / 0.9})


def test_value_starting_inside_a_token() -> None:
    # the quote and the label's start are one token: alternatives must share that lead
    toks = [tok('{"label": "pos', 0.8, [('{"label": "pos', 0.8), ('{"label": "neg', 0.2)]),
            tok("itive"), tok('"}')]
    content = "".join(t["token"] for t in toks)
    d = distribution_from_logprobs(toks, content, LABELS, json_key="label")
    assert d == pytest.approx({"positive": 0.8, "negative": 0.2, "neutral": 0.0})


def test_label_that_is_a_prefix_of_another() -> None:
    labels = ["pos", "positive"]
    toks, content = json_tokens(tok("pos", 0.9, [("pos", 0.9), ("x", 0.1)]),
                                tok('"}', 0.5, [('"}', 0.5), ("itive", 0.5)]))
    toks = toks[:-1]  # json_tokens added its own closing token
    content = "".join(t["token"] for t in toks)
    d = distribution_from_logprobs(toks, content, labels, json_key="label")
    assert d == pytest.approx({"pos": 0.5, "positive": 0.5})


def test_plain_text_answers_ignore_case_and_leading_space() -> None:
    toks = [tok("Negative", 0.6, [("Negative", 0.6), (" positive", 0.3), ("Neutral", 0.1)])]
    d = distribution_from_logprobs(toks, "Negative", LABELS, json_key=None)
    assert d == pytest.approx({"positive": 0.3, "negative": 0.6, "neutral": 0.1})


def test_escaped_json_values() -> None:
    labels = ['say "yes"', "no"]
    toks, content = json_tokens(tok('say \\"yes\\"', 0.75, [('say \\"yes\\"', 0.75), ("no", 0.25)]))
    d = distribution_from_logprobs(toks, content, labels, json_key="label")
    assert d == pytest.approx({'say "yes"': 0.75, "no": 0.25})


def test_unusable_logprobs_give_none() -> None:
    toks, content = json_tokens(tok("positive"))
    assert distribution_from_logprobs([], content, LABELS, json_key="label") is None
    assert distribution_from_logprobs(toks, content + " ", LABELS, json_key="label") is None
    assert distribution_from_logprobs(toks, content, LABELS, json_key="labels") is None
    odd, odd_content = json_tokens(tok("banana"))
    assert distribution_from_logprobs(odd, odd_content, LABELS, json_key="label") is None


def test_distribution_sums_to_one_and_is_a_permutation_invariant() -> None:
    top = [("positive", 0.5), ("negative", 0.3), ("neutral", 0.2)]
    toks, content = json_tokens(tok("positive", 0.5, top))
    d1 = distribution_from_logprobs(toks, content, LABELS, json_key="label")
    d2 = distribution_from_logprobs(toks, content, LABELS[::-1], json_key="label")
    assert d1 is not None and d1 == pytest.approx(d2)
    assert sum(d1.values()) == pytest.approx(1.0)


def test_votes_single_and_multiple() -> None:
    votes = [["positive"], ["positive"], ["negative"], ["positive"]]
    assert distribution_from_votes(votes, LABELS, multiple=False) == \
        {"positive": 0.75, "negative": 0.25, "neutral": 0.0}
    multi = [["a", "b"], ["a"], ["a", "c"], ["b", "a"]]
    assert distribution_from_votes(multi, ["a", "b", "c"], multiple=True) == \
        {"a": 1.0, "b": 0.5, "c": 0.25}
    assert distribution_from_votes([], LABELS, multiple=False) is None


def test_choose_and_confidence() -> None:
    d = {"positive": 0.4, "negative": 0.4, "neutral": 0.2}
    assert choose(d, multiple=False, order=LABELS) == ["positive"]  # tie: config order
    assert choose({"a": 0.9, "b": 0.5, "c": 0.1}, multiple=True, order=["a", "b", "c"]) == \
        ["a", "b"]
    assert choose({"a": 0.3, "b": 0.4}, multiple=True, order=["a", "b"]) == ["b"]
    assert confidence_of({"a": 0.9, "b": 0.5}, ["a", "b"]) == pytest.approx(0.7)


def test_whitespace_the_server_strips_from_the_content_is_allowed() -> None:
    """llama.cpp leaves the newlines a model writes after its JSON out of ``content`` but not
    out of the logprobs: the tokens still cover the answer, the label offsets are theirs."""
    toks, content = json_tokens(tok("ne", 0.7, [("ne", 0.7), ("pos", 0.3)]),
                                tok("g", 0.6, [("g", 0.6), ("u", 0.4)]), tok("ative"))
    expected = {"positive": 0.3, "negative": 0.42, "neutral": 0.28}
    padded = [tok("\n"), *toks, tok("\n"), tok("\n"), tok("")]
    d = distribution_from_logprobs(padded, content, LABELS, json_key="label")
    assert d == pytest.approx(expected)
    assert distribution_from_logprobs(padded, content + "\n", LABELS, json_key="label") is None
    assert distribution_from_logprobs(padded[:-4], content, LABELS, json_key="label") is None


def test_span_labels_read_past_stripped_trailing_newlines() -> None:
    from labelloop.llm.confidence import span_label_distributions

    values = ["Person", "Location"]
    toks = [tok('{"entities": [{"text": "Anna", "label": "'),
            tok("Person", 0.9, [("Person", 0.9), ("Location", 0.1)]), tok('"}, '),
            tok('{"text": "Rome", "label": "'),
            tok("Location", 0.8, [("Location", 0.8), ("Person", 0.2)]), tok('"}]}')]
    content = "".join(t["token"] for t in toks)
    dists = span_label_distributions([*toks, tok("\n"), tok("\n"), tok("")], content, values,
                                     count=2)
    assert dists == [pytest.approx({"Person": 0.9, "Location": 0.1}),
                     pytest.approx({"Person": 0.2, "Location": 0.8})]
    assert span_label_distributions(toks, content + "x", values, count=2) is None
