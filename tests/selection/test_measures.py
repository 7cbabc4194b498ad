"""Uncertainty and committee measures: known values and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labelloop.selection import (
    InvalidArgumentType,
    InvalidProbabilities,
    InvalidWeights,
    SelectionInputError,
    agreement_weight,
    consensus,
    js_divergence,
    llm_lead,
    member_weight,
    multilabel_uncertainty_scores,
    uncertainty_scores,
    vote_entropy,
)
from labelloop.selection.uncertainty import METHODS


def _distributions(n_classes: int) -> st.SearchStrategy[np.ndarray]:
    raw = arrays(np.float64, (st.integers(1, 12).map(lambda n: (n, n_classes))),
                 elements=st.floats(0.01, 1.0))
    return raw.map(lambda a: a / a.sum(axis=1, keepdims=True))


class TestUncertainty:
    def test_known_values(self) -> None:
        p = np.array([[1.0, 0.0, 0.0], [0.5, 0.3, 0.2], [1 / 3, 1 / 3, 1 / 3]])
        np.testing.assert_allclose(uncertainty_scores(p, method="least_confident"),
                                   [0.0, 0.5, 2 / 3])
        np.testing.assert_allclose(uncertainty_scores(p, method="margin"), [0.0, 0.8, 1.0])
        h = -(0.5 * np.log(0.5) + 0.3 * np.log(0.3) + 0.2 * np.log(0.2))
        np.testing.assert_allclose(uncertainty_scores(p, method="entropy"),
                                   [0.0, h, np.log(3)])

    @pytest.mark.parametrize("method", METHODS)
    def test_normalised_scores_span_zero_to_one(self, method: str) -> None:
        p = np.array([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
        np.testing.assert_allclose(uncertainty_scores(p, method=method, normalised=True),
                                   [0.0, 1.0], atol=1e-12)

    @settings(max_examples=60, deadline=None)
    @given(p=_distributions(4), method=st.sampled_from(METHODS), seed=st.integers(0, 99))
    def test_invariant_under_class_permutation(self, p: np.ndarray, method: str,
                                               seed: int) -> None:
        perm = np.random.default_rng(seed).permutation(4)
        np.testing.assert_allclose(uncertainty_scores(p, method=method),
                                   uncertainty_scores(p[:, perm], method=method), atol=1e-12)

    @settings(max_examples=60, deadline=None)
    @given(p=_distributions(3), method=st.sampled_from(METHODS))
    def test_normalised_scores_are_in_unit_interval(self, p: np.ndarray, method: str) -> None:
        s = uncertainty_scores(p, method=method, normalised=True)
        assert ((s >= -1e-12) & (s <= 1 + 1e-12)).all()

    def test_more_uncertain_items_score_higher(self) -> None:
        p = np.array([[0.9, 0.1], [0.6, 0.4], [0.51, 0.49]])
        for method in METHODS:
            s = uncertainty_scores(p, method=method)
            assert s[0] < s[1] < s[2]

    def test_multilabel_averages_per_class_bernoulli(self) -> None:
        p = np.array([[0.5, 0.5], [1.0, 0.0], [0.5, 1.0]])
        np.testing.assert_allclose(
            multilabel_uncertainty_scores(p, method="entropy", normalised=True), [1, 0, 0.5])

    @pytest.mark.parametrize("probas, error, match", [
        (np.array([0.5, 0.5]), InvalidProbabilities, "2-d"),
        (np.array([[1.0]]), InvalidProbabilities, "at least 2 classes"),
        (np.array([[0.7, 0.7]]), InvalidProbabilities, "sum to 1"),
        (np.array([[-0.5, 1.5]]), InvalidProbabilities, r"\[0, 1\]"),
        (np.array([[np.nan, 0.5]]), InvalidProbabilities, "NaN"),
        (np.array([["a", "b"]]), InvalidArgumentType, "numeric"),
    ])
    def test_bad_input(self, probas: np.ndarray, error: type, match: str) -> None:
        with pytest.raises(error, match=match):
            uncertainty_scores(probas)

    def test_unknown_method(self) -> None:
        with pytest.raises(SelectionInputError, match="least_confident, margin, entropy"):
            uncertainty_scores(np.array([[0.5, 0.5]]), method="smallest")  # type: ignore[arg-type]

    def test_errors_are_also_value_and_type_errors(self) -> None:
        with pytest.raises(ValueError):
            uncertainty_scores(np.array([[0.7, 0.7]]))
        with pytest.raises(TypeError):
            uncertainty_scores(np.array([["a", "b"]]))


class TestCommittee:
    def test_identical_members_do_not_disagree(self) -> None:
        p = np.random.default_rng(0).dirichlet(np.ones(3), size=10)
        c = np.stack([p, p, p])
        np.testing.assert_allclose(js_divergence(c), 0.0, atol=1e-12)
        np.testing.assert_allclose(vote_entropy(c), 0.0, atol=1e-12)

    def test_opposite_confident_members_disagree_most(self) -> None:
        c = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
        np.testing.assert_allclose(js_divergence(c), np.log(2))
        np.testing.assert_allclose(js_divergence(c, normalised=True), 1.0)
        np.testing.assert_allclose(vote_entropy(c, normalised=True), 1.0)

    def test_vote_entropy_known_value(self) -> None:
        c = np.array([[[0.9, 0.1, 0.0]], [[0.8, 0.2, 0.0]], [[0.1, 0.1, 0.8]]])
        expected = -(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3))
        np.testing.assert_allclose(vote_entropy(c), expected)

    @settings(max_examples=40, deadline=None)
    @given(a=_distributions(3), seed=st.integers(0, 99))
    def test_js_is_symmetric_and_bounded(self, a: np.ndarray, seed: int) -> None:
        b = np.random.default_rng(seed).dirichlet(np.ones(3), size=a.shape[0])
        ab = js_divergence(np.stack([a, b]))
        np.testing.assert_allclose(ab, js_divergence(np.stack([b, a])), atol=1e-12)
        assert ((ab >= 0) & (ab <= np.log(2) + 1e-12)).all()

    def test_a_zero_weight_member_does_not_count(self) -> None:
        rng = np.random.default_rng(1)
        a, b = rng.dirichlet(np.ones(3), size=5), rng.dirichlet(np.ones(3), size=5)
        np.testing.assert_allclose(js_divergence(np.stack([a, b]), weights=[1.0, 0.0]), 0.0,
                                   atol=1e-12)
        assert (js_divergence(np.stack([a, b]), weights=[1.0, 0.5]) > 0).all()

    def test_nan_rows_mean_no_answer(self) -> None:
        a = np.array([[0.9, 0.1], [0.9, 0.1]])
        b = np.array([[0.1, 0.9], [np.nan, np.nan]])
        s = js_divergence(np.stack([a, b]))
        assert s[0] > 0.3 and s[1] == 0.0
        np.testing.assert_allclose(consensus(np.stack([a, b]))[1], [0.9, 0.1])
        both = np.full((2, 1, 2), np.nan)
        assert js_divergence(both)[0] == 0.0 and np.isnan(consensus(both)).all()

    @pytest.mark.parametrize("weights, match", [
        ([1.0], "one value per member"), ([1.0, -1.0], "non-negative"),
        ([0.0, 0.0], "not all zero"), ([1.0, np.inf], "finite")])
    def test_bad_weights(self, weights: list[float], match: str) -> None:
        c = np.full((2, 3, 2), 0.5)
        with pytest.raises(InvalidWeights, match=match):
            js_divergence(c, weights=np.array(weights))

    def test_bad_committee_shape(self) -> None:
        with pytest.raises(InvalidProbabilities, match="n_members, n_items, n_classes"):
            js_divergence(np.full((3, 2), 0.5))

    def test_partly_nan_rows_are_refused(self) -> None:
        c = np.array([[[0.5, 0.5]], [[np.nan, 1.0]]])
        with pytest.raises(InvalidProbabilities, match="partly NaN"):
            vote_entropy(c)


class TestAgreementWeight:
    def test_chance_level_gets_zero_and_perfect_gets_one(self) -> None:
        assert agreement_weight(0.5, chance=0.5, n_compared=10_000) < 0.01
        assert agreement_weight(0.3, chance=0.5, n_compared=10_000) < 0.01
        assert agreement_weight(1.0, chance=0.5, n_compared=10_000) > 0.99

    def test_no_evidence_gives_the_prior(self) -> None:
        assert agreement_weight(None, chance=0.3) == 0.5
        assert agreement_weight(0.9, chance=0.3, n_compared=0, prior_weight=0.2) == 0.2

    def test_shrinks_toward_the_prior_with_few_items(self) -> None:
        few = agreement_weight(1.0, chance=0.5, n_compared=5)
        many = agreement_weight(1.0, chance=0.5, n_compared=500)
        assert 0.5 < few < many <= 1.0

    @settings(max_examples=50, deadline=None)
    @given(a=st.floats(0, 1), b=st.floats(0, 1), chance=st.floats(0, 0.95),
           n=st.integers(0, 1000))
    def test_monotone_in_agreement(self, a: float, b: float, chance: float, n: int) -> None:
        lo, hi = sorted((a, b))
        w_lo = agreement_weight(lo, chance=chance, n_compared=n)
        w_hi = agreement_weight(hi, chance=chance, n_compared=n)
        assert 0.0 <= w_lo <= w_hi + 1e-12 <= 1.0 + 1e-12

    @pytest.mark.parametrize("kwargs", [
        {"agreement": 1.5, "chance": 0.5, "n_compared": 3},
        {"agreement": 0.5, "chance": 1.0, "n_compared": 3},
        {"agreement": 0.5, "chance": 0.5, "n_compared": -1}])
    def test_bad_input(self, kwargs: dict) -> None:
        with pytest.raises(SelectionInputError):
            agreement_weight(**kwargs)


class TestMemberWeight:
    def test_always_right_and_never_right(self) -> None:
        y = np.tile([0, 1, 2], 200)
        right = np.eye(3)[y] * 0.8 + 0.2 / 3
        wrong = np.eye(3)[(y + 1) % 3]
        assert member_weight(right, y) > 0.95
        assert member_weight(wrong, y) < 0.05

    def test_unanswered_items_do_not_count(self) -> None:
        y = np.array([0, 1, 0, 1])
        p = np.array([[0.9, 0.1], [np.nan, np.nan], [0.8, 0.2], [np.nan, np.nan]])
        only_answered = member_weight(p[[0, 2]], y[[0, 2]])
        assert member_weight(p, y) == only_answered
        assert member_weight(np.full((2, 2), np.nan), np.array([0, 1])) == 0.5  # the prior

    def test_bad_labels(self) -> None:
        with pytest.raises(SelectionInputError):
            member_weight(np.full((2, 2), 0.5), np.array([0, 5]))


class TestLlmLead:
    Y = np.array([0, 1, 2, 0, 1, 2, 0, 1])

    def test_llm_right_where_they_disagree(self) -> None:
        model = np.eye(3)[(self.Y + 1) % 3]  # always wrong
        llm = np.eye(3)[self.Y]  # always right
        assert llm_lead(llm, model, self.Y, prior_strength=0) == 1.0
        assert llm_lead(llm, model, self.Y) == pytest.approx(8 / 18)  # shrunk: 8 items
        assert llm_lead(model, llm, self.Y) == 0.0  # the other way round: no lead

    def test_only_disagreements_count(self) -> None:
        right = np.eye(3)[self.Y]
        wrong = np.eye(3)[(self.Y + 1) % 3]
        llm = right.copy()
        model = right.copy()
        model[:2] = wrong[:2]  # two disagreements, the LLM right on both
        llm[2:4] = wrong[2:4]  # where both are wrong together they agree: not counted
        model[2:4] = wrong[2:4]
        assert llm_lead(llm, model, self.Y, prior_strength=0) == 1.0
        model[4] = wrong[4]
        llm[5] = wrong[5]  # now one each way
        assert llm_lead(llm, model, self.Y, prior_strength=0) == pytest.approx(2 / 4)

    def test_no_answers_no_lead(self) -> None:
        nan = np.full((8, 3), np.nan)
        assert llm_lead(nan, np.eye(3)[self.Y], self.Y) == 0.0

    def test_shapes_must_match(self) -> None:
        with pytest.raises(SelectionInputError, match="same items"):
            llm_lead(np.eye(3), np.eye(3)[:2], np.array([0, 1, 2]))
