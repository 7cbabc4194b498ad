"""Span precision / recall / F1: hand-computed cases and invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelloop.agreement.spans import PRF, matched_pairs, span_prf, span_prf_per_label
from labelloop.errors import InvalidInput
from labelloop.labelconfig.spans import Span

PER, LOC = "PER", "LOC"


def test_identical_sets_score_one() -> None:
    items = [{Span(0, 4, PER), Span(10, 15, LOC)}, {Span(3, 5, LOC)}]
    got = span_prf(items, items)
    assert (got.precision, got.recall, got.f1) == (1.0, 1.0, 1.0)
    assert (got.tp, got.fp, got.fn, got.n) == (3, 0, 0, 2)


def test_empty_against_empty_is_agreement() -> None:
    got = span_prf([set(), set()], [set(), set()])
    assert got == PRF(1.0, 1.0, 1.0, 0, 0, 0, 2)
    assert span_prf([], []).f1 == 1.0


def test_empty_items_count_in_n_but_not_in_the_pooled_counts() -> None:
    true = [{Span(0, 4, PER)}, set(), set()]
    pred = [{Span(0, 4, PER), Span(5, 6, LOC)}, set(), set()]
    got = span_prf(true, pred)
    assert (got.tp, got.fp, got.fn, got.n) == (1, 1, 0, 3)
    assert got.precision == 0.5 and got.recall == 1.0
    assert got.f1 == pytest.approx(2 / 3)


def test_hand_computed_micro_pooling() -> None:
    # item 1: tp 1 (0-4 PER), fp 1 (5-9 LOC: wrong label), fn 1 (5-9 PER)
    # item 2: tp 0, fp 1 (2-6 LOC: boundary off), fn 1 (2-7 LOC)
    # item 3: fn 1; pooled tp 1, fp 2, fn 3: P 1/3, R 1/4, F1 2/7
    true = [{Span(0, 4, PER), Span(5, 9, PER)}, {Span(2, 7, LOC)}, {Span(0, 1, PER)}]
    pred = [{Span(0, 4, PER), Span(5, 9, LOC)}, {Span(2, 6, LOC)}, set()]
    got = span_prf(true, pred)
    assert (got.tp, got.fp, got.fn) == (1, 2, 3)
    assert got.precision == pytest.approx(1 / 3)
    assert got.recall == pytest.approx(1 / 4)
    assert got.f1 == pytest.approx(2 / 7)
    # overlap: 2-6 LOC now matches 2-7 LOC; 5-9 LOC vs 5-9 PER still differs in label
    over = span_prf(true, pred, match="overlap")
    assert (over.tp, over.fp, over.fn) == (2, 1, 2)
    assert over.f1 == pytest.approx(4 / 7)


def test_nothing_predicted_scores_zero_not_nan() -> None:
    got = span_prf([{Span(0, 1, PER)}], [set()])
    assert (got.precision, got.recall, got.f1) == (0.0, 0.0, 0.0)


def test_overlap_matches_one_to_one() -> None:
    # one long span over two short ones: one match, one short span left over
    long = {Span(0, 20, PER)}
    short = {Span(0, 5, PER), Span(10, 15, PER)}
    got = span_prf([long], [short], match="overlap")
    assert (got.tp, got.fp, got.fn) == (1, 1, 0)
    # a greedy first-come matching would pair 0-6 with 5-12 and leave 10-20 unmatched;
    # the maximum matching pairs 0-6/0-4 and 5-12/10-20
    pairs = matched_pairs(
        {Span(0, 6, PER), Span(5, 12, PER)}, {Span(0, 4, PER), Span(10, 20, PER)}, match="overlap"
    )
    assert len(pairs) == 2


def test_touching_spans_do_not_overlap() -> None:
    got = span_prf([{Span(0, 5, PER)}], [{Span(5, 9, PER)}], match="overlap")
    assert got.tp == 0


def test_labels_filter_and_per_label_add_up() -> None:
    true = [{Span(0, 4, PER), Span(5, 9, LOC)}, {Span(1, 3, LOC)}]
    pred = [{Span(0, 4, PER), Span(5, 9, PER)}, {Span(1, 3, LOC), Span(4, 6, "ORG")}]
    per = span_prf_per_label(true, pred)
    assert list(per) == ["LOC", "ORG", PER]
    assert (per[PER].tp, per[PER].fp, per[PER].fn) == (1, 1, 0)
    assert (per[LOC].tp, per[LOC].fp, per[LOC].fn) == (1, 0, 1)
    assert (per["ORG"].tp, per["ORG"].fp, per["ORG"].fn) == (0, 1, 0)
    overall = span_prf(true, pred)
    assert overall.tp == sum(p.tp for p in per.values())
    assert overall.fp == sum(p.fp for p in per.values())
    assert overall.fn == sum(p.fn for p in per.values())
    assert span_prf(true, pred, labels=[PER]) == per[PER]
    # a label neither side uses: both agree it is absent
    assert span_prf_per_label(true, pred, labels=["MISC"])["MISC"].f1 == 1.0


def test_duplicates_count_once() -> None:
    got = span_prf([[Span(0, 1, PER), Span(0, 1, PER)]], [[Span(0, 1, PER)]])
    assert (got.tp, got.fp, got.fn) == (1, 0, 0)


def test_wrong_input_is_refused() -> None:
    with pytest.raises(InvalidInput):
        span_prf([set()], [])
    with pytest.raises(InvalidInput):
        span_prf([{Span(0, 1, PER)}], [{Span(0, 1, PER)}], match="fuzzy")  # type: ignore[arg-type]


spans = st.builds(
    lambda start, length, label: Span(start, start + length, label),
    st.integers(0, 30),
    st.integers(1, 8),
    st.sampled_from([PER, LOC, "ORG"]),
)
span_sets = st.lists(st.frozensets(spans, max_size=5), min_size=0, max_size=6)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_invariants(data: st.DataObject) -> None:
    a = data.draw(span_sets)
    b = data.draw(st.lists(st.frozensets(spans, max_size=5), min_size=len(a), max_size=len(a)))
    for match in ("exact", "overlap"):
        ab = span_prf(a, b, match=match)
        ba = span_prf(b, a, match=match)
        assert ab.f1 == pytest.approx(ba.f1)
        assert (ab.precision, ab.recall) == pytest.approx((ba.recall, ba.precision))
        assert 0.0 <= ab.f1 <= 1.0
        assert span_prf(a, a, match=match).f1 == 1.0
    assert span_prf(a, b, match="overlap").tp >= span_prf(a, b).tp
