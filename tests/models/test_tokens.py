"""The token model's contract (every kind): valid spans, scores, uncertainty, learning."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.agreement.spans import span_prf
from labelloop.embeddings import SentenceTransformerEmbedder
from labelloop.labelconfig.spans import Span, validate_spans
from labelloop.models.logistic import InvalidTrainingData
from labelloop.models.token_lr import transition_mask, viterbi
from labelloop.models.token_text import Token
from labelloop.models.token_vectors import (
    CachedTokenEncoder,
    MiniLmTokenEncoder,
    fit_projection,
    pool_pieces,
)
from labelloop.models.tokens import TokenPrediction, fit_token_model

LABELS = ("person", "city")
FIRST = ["Ada", "Alan", "Grace", "Linus", "Marie", "Niels", "Emmy", "Kurt", "Rosalind", "Claude"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Curie", "Bohr", "Noether", "Goedel"]
CITIES = ["Paris", "London", "Berlin", "Oslo", "Madrid", "Vienna", "Lisbon", "Prague", "Rome"]
TEMPLATES = [
    "I met {p} in {c} yesterday .",
    "{p} flew to {c} 😀 last week",
    "did you see {p} ? {c} is lovely",
    "{c} welcomes {p} today !!!",
    "nothing to see here , just coffee",
    "@friend {p} says hi from {c} http://t.co/x1",
]


def synthetic(n: int, seed: int) -> tuple[list[str], list[list[Span]]]:
    """Template sentences with a person (one or two words) and a city at known offsets."""
    rng = np.random.default_rng(seed)
    texts, spans = [], []
    for _ in range(n):
        template = TEMPLATES[rng.integers(len(TEMPLATES))]
        person = FIRST[rng.integers(len(FIRST))]
        if rng.random() < 0.5:
            person += " " + LAST[rng.integers(len(LAST))]
        city = CITIES[rng.integers(len(CITIES))]
        text, found, rest = "", [], template
        while "{" in rest:
            head, _, tail = rest.partition("{")
            key, rest = tail[0], tail[2:]
            text += head
            value, label = (person, "person") if key == "p" else (city, "city")
            found.append(Span(len(text), len(text) + len(value), label))
            text += value
        texts.append(text + rest)
        spans.append(sorted(found))
    return texts, spans


KINDS = ["crf", "lr", "crf_minilm"]


@pytest.fixture(scope="module")
def encoder() -> CachedTokenEncoder:
    """The bundled MiniLM's token vectors, each text encoded once for the module."""
    return CachedTokenEncoder(MiniLmTokenEncoder(SentenceTransformerEmbedder(torch_threads=2)))


@pytest.fixture(scope="module", params=KINDS)
def trained(request: pytest.FixtureRequest, encoder: CachedTokenEncoder):
    texts, spans = synthetic(150, seed=0)
    return fit_token_model(texts, spans, labels=LABELS, rng=np.random.default_rng(0),
                           kind=request.param, embedder=encoder)


def test_learns_a_small_synthetic_ner_set(trained) -> None:
    texts, spans = synthetic(80, seed=1)
    predicted = trained.predict(texts)
    assert span_prf(spans, [p.spans for p in predicted]).f1 > 0.9


def test_predictions_are_valid_on_their_texts(trained) -> None:
    texts = ["", "   ", "😀👩\u200d💻 Ada Lovelace 🇫🇷 in Paris", "cafe\u0301 Marie Curie , Oslo",
             "Grace Hopper" * 3, "@Alan #Rome http://x.y/z."]
    predicted = trained.predict(texts)
    assert len(predicted) == len(texts)
    for text, p in zip(texts, predicted):
        assert isinstance(p, TokenPrediction)
        validate_spans(text, p.spans, labels=LABELS)
        assert list(p.spans) == sorted(p.spans)
        assert len(p.scores) == len(p.spans)
        assert all(0.0 <= s <= 1.0 for s in p.scores)
        assert 0.0 <= p.uncertainty <= 1.0
    assert predicted[0] == TokenPrediction((), (), 0.0)
    assert predicted[1].uncertainty == 0.0
    assert [texts[2][s.start:s.end] for s in predicted[2].spans] == ["Ada Lovelace", "Paris"]


def test_unfamiliar_text_is_more_uncertain_than_familiar(trained) -> None:
    familiar = synthetic(30, seed=2)[0]
    odd = ["zorblax quint Vexmoor glimmer Tasmir ploon", "Ublo Kess vortan Ildrim sae Korrowen"]
    u_familiar = np.mean([p.uncertainty for p in trained.predict(familiar)])
    u_odd = np.mean([p.uncertainty for p in trained.predict(odd)])
    assert u_odd > u_familiar


@pytest.mark.parametrize("kind", KINDS)
def test_scores_and_uncertainty_are_worse_where_it_is_wrong(kind: str,
                                                            encoder: CachedTokenEncoder) -> None:
    texts, spans = synthetic(12, seed=0)  # few examples, so that it makes mistakes
    model = fit_token_model(texts, spans, labels=LABELS, rng=np.random.default_rng(0), kind=kind,
                            embedder=encoder)
    probe, truth = synthetic(300, seed=3)
    right: list[float] = []
    wrong: list[float] = []
    u_right: list[float] = []
    u_wrong: list[float] = []
    for expected, p in zip(truth, model.predict(probe)):
        for span, score in zip(p.spans, p.scores):
            (right if span in expected else wrong).append(score)
        (u_right if set(expected) == set(p.spans) else u_wrong).append(p.uncertainty)
    assert len(wrong) >= 10 and len(u_wrong) >= 10
    assert np.mean(right) > np.mean(wrong)
    assert np.mean(u_wrong) > np.mean(u_right)


@pytest.mark.parametrize("kind", KINDS)
def test_no_spans_to_learn_from_gives_a_model_that_predicts_none(kind: str) -> None:
    model = fit_token_model(["a b", "c"], [[], []], labels=LABELS,
                            rng=np.random.default_rng(0), kind=kind, embedder=object())
    assert model.labels == LABELS
    assert model.predict(["Ada in Paris", ""]) == [TokenPrediction((), (), 1.0),
                                                    TokenPrediction((), (), 0.0)]


def test_spans_inside_tokens_are_learnt_at_token_edges() -> None:
    texts = [f"{name}ian food" for name in CITIES] * 5
    spans = [[Span(0, len(t) - 8, "city")] for t in texts]  # "Paris" of "Parisian"
    model = fit_token_model(texts, spans, labels=LABELS, rng=np.random.default_rng(0))
    (p,) = model.predict(["Romeian food"])
    assert p.spans == (Span(0, 7, "city"),)


@pytest.mark.parametrize(("texts", "spans", "labels", "kind"), [
    (["a b"], [], LABELS, "crf"),  # lengths differ
    (["a b"], [[Span(0, 9, "city")]], LABELS, "crf"),  # past the end
    (["a b"], [[Span(0, 1, "planet")]], LABELS, "crf"),  # label outside the set
    (["a b"], [[Span(0, 1, "city"), Span(0, 1, "city")]], LABELS, "crf"),  # repeated
    (["a b"], [[]], (), "crf"),  # no labels
    (["a b"], [[]], ("x", "x"), "crf"),  # repeated labels
    (["a b"], [[]], LABELS, "hmm"),  # unknown kind
    ("a b", [[], [], []], LABELS, "crf"),  # one string, not a list of texts
])
def test_invalid_training_data_is_refused(texts, spans, labels, kind) -> None:
    with pytest.raises(InvalidTrainingData):
        fit_token_model(texts, spans, labels=labels, rng=np.random.default_rng(0), kind=kind)


@pytest.mark.parametrize("kind", KINDS)
def test_fitting_is_deterministic(kind: str, encoder: CachedTokenEncoder) -> None:
    texts, spans = synthetic(60, seed=4)
    a = fit_token_model(texts, spans, labels=LABELS, rng=np.random.default_rng(0), kind=kind,
                        embedder=encoder)
    b = fit_token_model(texts, spans, labels=LABELS, rng=np.random.default_rng(0), kind=kind,
                        embedder=encoder)
    probe = synthetic(20, seed=5)[0]
    assert a.predict(probe) == b.predict(probe)


class TestLrDecoding:
    TAGS = ("O", "B-x", "I-x", "B-y", "I-y")

    def test_viterbi_repairs_an_invalid_inside_tag(self) -> None:
        allowed, first = transition_mask(self.TAGS)
        # argmax per token is O, I-x, I-x (invalid start of x); B-x is a close second
        p = np.array([[0.9, 0.05, 0.01, 0.02, 0.02],
                      [0.1, 0.35, 0.45, 0.05, 0.05],
                      [0.1, 0.05, 0.75, 0.05, 0.05]])
        best = viterbi(np.log(p), allowed, first)
        assert [self.TAGS[j] for j in best] == ["O", "B-x", "I-x"]

    def test_viterbi_keeps_a_valid_argmax(self) -> None:
        allowed, first = transition_mask(self.TAGS)
        p = np.array([[0.1, 0.8, 0.05, 0.03, 0.02], [0.1, 0.1, 0.7, 0.05, 0.05],
                      [0.1, 0.1, 0.05, 0.7, 0.05], [0.6, 0.1, 0.1, 0.1, 0.1]])
        assert [self.TAGS[j] for j in viterbi(np.log(p), allowed, first)] == \
            ["B-x", "I-x", "B-y", "O"]

    def test_inside_tags_may_not_start_or_follow_another_label(self) -> None:
        allowed, first = transition_mask(self.TAGS)
        assert first.tolist() == [True, True, False, True, False]
        assert allowed[1, 2] and allowed[2, 2] and not allowed[0, 2] and not allowed[3, 2]


def test_word_pieces_are_pooled_per_token() -> None:
    pieces = np.array([[0.0, 0.0], [1.0, 3.0], [3.0, 5.0], [7.0, 7.0], [0.0, 0.0]])
    offsets = [(0, 0), (0, 3), (3, 5), (6, 8), (0, 0)]  # [CLS] "Par" "is" "ok" [SEP]
    pooled = pool_pieces(pieces, offsets, [Token(0, 5), Token(6, 8), Token(9, 10)])
    np.testing.assert_allclose(pooled, [[2.0, 4.0], [7.0, 7.0], [0.0, 0.0]])


def test_projection_gives_unit_variance_directions_and_shrinks_k() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 8)) * np.array([5.0, 3.0, 1.0, 1.0, 0.5, 0.5, 0.1, 0.1]) + 2.0
    proj = fit_projection(x, k=3, rng=rng)
    z = proj.apply(x)
    assert z.shape == (500, 3)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=0, ddof=1), 1.0, rtol=1e-3)
    assert fit_projection(x[:2], k=3, rng=rng).components.shape == (8, 1)
    assert fit_projection(x[:1], k=3, rng=rng).apply(x[:4]).shape == (4, 0)
