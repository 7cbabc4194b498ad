"""Agreement metrics: published values, cross-checks with the libraries, invariants."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats import inter_rater

from labelloop.agreement import (
    InsufficientData,
    annotator_vs_consensus,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    modal_rater_count,
    pairwise_cohen_kappa,
    per_label_agreement,
    percent_agreement,
)
from labelloop.errors import InvalidInput

from ._strategies import label_matrices

nan = np.nan

# Fleiss (1971) as worked on Wikipedia's "Fleiss' kappa" page: 10 subjects, 14 raters, 5
# categories; row i = how many raters put subject i in each category. P-bar = 0.378, kappa = 0.210.
FLEISS_TABLE = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)
FLEISS_MATRIX = np.array([np.repeat(np.arange(5), row) for row in FLEISS_TABLE], dtype=float)

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the example with missing
# values: 4 observers (rows there, columns here) x 12 units; nominal alpha = 0.743.
KRIPPENDORFF_EXAMPLE = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
).T


def test_fleiss_kappa_matches_fleiss_1971_worked_example() -> None:
    assert fleiss_kappa(FLEISS_MATRIX) == pytest.approx(0.2099, abs=5e-4)
    assert percent_agreement(FLEISS_MATRIX) == pytest.approx(0.378, abs=5e-4)


def test_krippendorff_alpha_matches_krippendorff_2011_nominal_example() -> None:
    assert krippendorff_alpha(KRIPPENDORFF_EXAMPLE) == pytest.approx(0.743, abs=5e-4)


def test_cohen_kappa_known_values() -> None:
    # Wikipedia "Cohen's kappa": 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> 0.4.
    a = np.array([1] * 25 + [0] * 25)
    b = np.array([1] * 20 + [0] * 5 + [1] * 10 + [0] * 15)
    pairs = pairwise_cohen_kappa(np.column_stack([a, b]))
    assert pairs == [{"a": 0, "b": 1, "n": 50, "kappa": pytest.approx(0.4)}]
    # Artstein & Poesio (2008), table 1 (also in scikit-learn's tests): 0.348.
    y1 = np.array([0] * 40 + [1] * 60)
    y2 = np.array([0] * 20 + [1] * 20 + [0] * 10 + [1] * 50)
    assert cohen_kappa(y1, y2, n_classes=2) == pytest.approx(0.348, abs=5e-4)


def test_pairwise_kappa_on_overlap_only_and_min_overlap() -> None:
    pairs = pairwise_cohen_kappa(KRIPPENDORFF_EXAMPLE - 1)
    by_pair = {(p["a"], p["b"]): p for p in pairs}
    assert len(pairs) == 6
    # Observers A and C share units 2-9 (8 units).
    both = ~np.isnan(KRIPPENDORFF_EXAMPLE[:, 0]) & ~np.isnan(KRIPPENDORFF_EXAMPLE[:, 2])
    assert by_pair[(0, 2)]["n"] == 8
    expected = cohen_kappa_score(KRIPPENDORFF_EXAMPLE[both, 0], KRIPPENDORFF_EXAMPLE[both, 2])
    assert by_pair[(0, 2)]["kappa"] == pytest.approx(expected)
    assert [
        (p["a"], p["b"]) for p in pairwise_cohen_kappa(KRIPPENDORFF_EXAMPLE - 1, min_overlap=10)
    ] == [
        (1, 3),
        (2, 3),
    ]
    with pytest.raises(InsufficientData, match="11 or more"):
        pairwise_cohen_kappa(KRIPPENDORFF_EXAMPLE - 1, min_overlap=11)


def test_kappa_is_nan_when_both_use_one_class() -> None:
    m = np.array([[1, 1], [1, 1], [1, 1.0]])
    assert np.isnan(pairwise_cohen_kappa(m, n_classes=3)[0]["kappa"])
    assert np.isnan(fleiss_kappa(m))
    assert np.isnan(krippendorff_alpha(m))
    assert percent_agreement(m) == 1.0


def test_fleiss_uses_items_with_the_modal_rater_count() -> None:
    m = np.array(
        [
            [0, 0, 0],
            [0, 1, 1],
            [1, 1, nan],
            [0, 1, nan],
            [1, 1, nan],
            [0, nan, nan],
        ]
    )
    assert modal_rater_count(m) == 2
    expected = inter_rater.fleiss_kappa(np.array([[0, 2], [1, 1], [0, 2]]))
    assert fleiss_kappa(m) == pytest.approx(expected)
    assert fleiss_kappa(m, n_raters=3) == pytest.approx(
        inter_rater.fleiss_kappa(np.array([[3, 0], [1, 2]]))
    )
    with pytest.raises(InsufficientData, match="exactly 4"):
        fleiss_kappa(m, n_raters=4)
    with pytest.raises(InvalidInput):
        fleiss_kappa(m, n_raters=1)
    # A tie between counts goes to the larger one.
    assert modal_rater_count(np.array([[0, 0, 0], [1, 1, nan]])) == 3


def test_annotator_vs_consensus_leaves_each_annotator_out() -> None:
    m = np.array(
        [
            [0, 0, 1],  # 0 and 1 agree with the others' majority... of one each
            [1, 1, 1],
            [0, 1, nan],  # for 0: the others = {1}; for 1: {0}
            [2, 0, 1],  # the others tie for everyone
            [2, nan, nan],  # nobody else
        ]
    )
    rows = annotator_vs_consensus(m)
    assert [r["n_items"] for r in rows] == [5, 4, 3]
    assert [r["ties"] for r in rows] == [2, 2, 1]
    assert [r["n"] for r in rows] == [2, 2, 2]
    # Annotator 0: compared on rows 1 (1 vs 1) and 2 (0 vs 1).
    assert rows[0]["n"] == 2 and rows[0]["agreement"] == pytest.approx(0.5)
    # Annotator 2: compared on rows 0 (1 vs 0) and 1 (1 vs 1).
    assert rows[2]["n"] == 2 and rows[2]["agreement"] == pytest.approx(0.5)


def test_per_label_agreement_on_binary_matrices() -> None:
    ticked = np.array([[1, 1], [0, 0], [1, 0], [1, 1.0]])
    never = np.zeros((4, 2))
    rows = per_label_agreement(np.stack([ticked, never]))
    assert rows[0]["percent_agreement"] == pytest.approx(0.75)
    assert rows[0]["prevalence"] == pytest.approx(5 / 8)
    assert rows[0]["krippendorff_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=ticked.T, level_of_measurement="nominal")
    )
    assert rows[1]["percent_agreement"] == 1.0 and np.isnan(rows[1]["krippendorff_alpha"])
    with pytest.raises(InvalidInput, match="0, 1 and NaN"):
        per_label_agreement(np.stack([ticked + 1]))
    with pytest.raises(InvalidInput, match="3-D"):
        per_label_agreement(ticked)


@pytest.mark.parametrize(
    ("matrix", "error"),
    [
        (np.array([0, 1, 1.0]), InvalidInput),  # 1-D
        (np.array([[0, -1], [1, 1.0]]), InvalidInput),  # negative
        (np.array([[0, 0.5], [1, 1.0]]), InvalidInput),  # not an index
        (np.array([["a", "b"]]), InvalidInput),  # not numeric
        (np.array([[0.0], [1.0]]), InsufficientData),  # one annotator
        (np.array([[0, nan], [nan, 1.0]]), InsufficientData),  # no overlap
    ],
)
def test_bad_input_raises_domain_errors(matrix: np.ndarray, error: type[Exception]) -> None:
    for metric in (percent_agreement, fleiss_kappa, krippendorff_alpha, annotator_vs_consensus):
        with pytest.raises(error):
            metric(matrix)
    with pytest.raises(error):
        pairwise_cohen_kappa(matrix)


def test_n_classes_below_the_largest_index_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="n_classes=2"):
        percent_agreement(np.array([[0, 2], [1, 1.0]]), n_classes=2)


# ---- invariants -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(label_matrices())
def test_krippendorff_alpha_agrees_with_the_package_on_raw_data(m: np.ndarray) -> None:
    pairable = m[(~np.isnan(m)).sum(axis=1) >= 2]
    values = pairable[~np.isnan(pairable)]
    ours = krippendorff_alpha(m)
    if np.unique(values).size < 2:
        assert np.isnan(ours)
    else:
        expected = krippendorff.alpha(reliability_data=m.T, level_of_measurement="nominal")
        assert ours == pytest.approx(expected, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(label_matrices())
def test_fleiss_matches_statsmodels_on_complete_rows(m: np.ndarray) -> None:
    complete = np.nan_to_num(m, nan=0.0)
    table, _ = inter_rater.aggregate_raters(complete.astype(int), n_cat=4)
    ours = fleiss_kappa(complete, n_classes=4)
    if np.count_nonzero(table.sum(axis=0)) < 2:
        assert np.isnan(ours)
    else:
        assert ours == pytest.approx(inter_rater.fleiss_kappa(table), abs=1e-9)


def _relabel(m: np.ndarray, perm: np.ndarray) -> np.ndarray:
    out = m.copy()
    ok = ~np.isnan(m)
    out[ok] = perm[m[ok].astype(int)]
    return out


@settings(max_examples=60, deadline=None)
@given(label_matrices(), st.randoms(use_true_random=False))
def test_label_permutation_and_missing_column_change_nothing(m: np.ndarray, r) -> None:
    perm = np.array(r.sample(range(4), 4), dtype=float)
    variants = [
        _relabel(m, perm),
        np.column_stack([m, np.full(m.shape[0], np.nan)]),
        m[::-1],  # item order
        m[:, ::-1],  # annotator order
    ]
    base = [percent_agreement(m, n_classes=4), krippendorff_alpha(m, n_classes=4)]
    base_fleiss = fleiss_kappa(m, n_classes=4)
    kappas = [p["kappa"] for p in pairwise_cohen_kappa(m, n_classes=4, min_overlap=1)]
    for v in variants:
        got = [percent_agreement(v, n_classes=4), krippendorff_alpha(v, n_classes=4)]
        np.testing.assert_allclose(got, base, atol=1e-9)
        np.testing.assert_allclose(fleiss_kappa(v, n_classes=4), base_fleiss, atol=1e-9)
    for v in variants[:2]:  # same column positions: the same pairs in the same order
        got_kappas = [p["kappa"] for p in pairwise_cohen_kappa(v, n_classes=4, min_overlap=1)]
        np.testing.assert_allclose(got_kappas, kappas, atol=1e-9)
    with_gap = annotator_vs_consensus(variants[1], n_classes=4)
    for got, want in zip(with_gap[:-1], annotator_vs_consensus(m, n_classes=4), strict=True):
        np.testing.assert_equal(got, want)  # NaN-aware dict comparison
    assert with_gap[-1]["n_items"] == 0 and np.isnan(with_gap[-1]["agreement"])


@settings(max_examples=60, deadline=None)
@given(label_matrices())
def test_pairwise_kappa_is_symmetric(m: np.ndarray) -> None:
    for p in pairwise_cohen_kappa(m, n_classes=4, min_overlap=1):
        swapped = pairwise_cohen_kappa(m[:, [p["b"], p["a"]]], n_classes=4, min_overlap=1)
        assert swapped[0]["n"] == p["n"]
        np.testing.assert_allclose(swapped[0]["kappa"], p["kappa"], atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(label_matrices())
def test_perfect_agreement_scores_one(m: np.ndarray) -> None:
    rows = np.arange(m.shape[0]) % 2  # two classes in use
    perfect = np.where(np.isnan(m), np.nan, rows[:, None].astype(float))
    perfect[0, :2] = 0
    if m.shape[0] > 1:
        perfect[1, :2] = 1
    assert percent_agreement(perfect) == 1.0
    if m.shape[0] > 1:
        assert krippendorff_alpha(perfect) == pytest.approx(1.0)
        fleiss = fleiss_kappa(perfect)  # NaN when the modal-count items use one class
        assert np.isnan(fleiss) or fleiss == pytest.approx(1.0)
    for p in pairwise_cohen_kappa(perfect, min_overlap=1):
        assert p["kappa"] == pytest.approx(1.0) or np.isnan(p["kappa"])
    for r in annotator_vs_consensus(perfect):
        assert r["agreement"] == 1.0 or r["n"] == 0
    assert 0.0 <= percent_agreement(m) <= 1.0
