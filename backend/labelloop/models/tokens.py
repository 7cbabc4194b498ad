"""The local NER model: a token tagger trained on human spans, retrained on every round.

:func:`fit_token_model` turns texts and their spans into BIO tags on
:func:`~labelloop.models.token_text.tokenize`'s tokens (code-point offsets), fits a tagger and
returns a :class:`TokenModel`, whose ``predict`` gives one :class:`TokenPrediction` per text.
Two kinds:

* ``"crf"`` — a linear-chain CRF on hand-made token features
  (:mod:`labelloop.models.token_crf`); exact marginals and sequence probability.
* ``"lr"`` — logistic regression on contextual token vectors of the MiniLM encoder
  (:mod:`labelloop.models.token_lr`), decoded under BIO's transition rule.
* ``"crf_minilm"`` — the CRF with, as real-valued features, each token's MiniLM vector
  projected on its first :data:`CONTEXT_DIMS` principal directions (PCA fitted on the training
  tokens): the CRF's sequence model and exact marginals, the encoder's knowledge of words
  never seen in training.

**The default is ``"crf"``** (``bench/bench_token_model.py``, WNUT-16, 394 held-out sentences;
span-F1 at 200 / 600 / 2,000 training sentences, retrain = fit + predict at 2,000 on 2 cores):

========== ======================= =========== ==========================================
kind       span-F1                 retrain     needs
========== ======================= =========== ==========================================
crf        0.130 / 0.295 / 0.428   3.9 s       nothing but the texts
lr         0.254 / 0.338 / 0.412   1.9 s       MiniLM token vectors of every text (5.5 s
                                               per 1,000 sentences to encode)
crf_minilm 0.308 / 0.427 / 0.486   7.3 s       the same token vectors
========== ======================= =========== ==========================================

``crf_minilm`` is the most accurate at every size (at 600 labels it beats ``crf`` at 2,000), but
it misses the 5 s retrain target and, like ``lr``, needs token vectors for every task it
predicts: a retrain that predicts the whole project would encode it again each round unless the
caller keeps one :class:`~labelloop.models.token_vectors.CachedTokenEncoder` across rounds (or
stores the vectors with the sentence embeddings: one encoder pass gives both). ``crf`` meets the
target with nothing to cache; ``lr`` loses to ``crf_minilm`` everywhere. Pass
``kind="crf_minilm"`` with a shared cached encoder where the encoding is paid once.

Whatever the kind, a prediction reads the same way:

* **spans**: the decoded tags read back as spans (token edges), sorted, always valid on their
  text (checked with :func:`~labelloop.labelconfig.spans.validate_spans`);
* **scores**: per span, the smallest probability the tagger gives one of its tags (an upper
  bound of the probability of the span as a whole);
* **uncertainty**: ``1 - exp(MNLP)``, where MNLP is the log-probability of the decoded tag
  sequence divided by the number of tokens (so ``exp(MNLP)`` is the per-token geometric mean
  probability); in ``[0, 1]``, higher is less sure; 0.0 for a text without tokens.

A training set with no span at all teaches nothing: the model predicts no span and an
uncertainty of 1.0 for every text with tokens (every text is equally unknown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from labelloop.errors import InvalidInput
from labelloop.labelconfig.spans import Span, validate_spans
from labelloop.models.logistic import InvalidTrainingData
from labelloop.models.token_crf import CrfTagger, decode_crf, fit_crf
from labelloop.models.token_text import Token, bio_to_spans, spans_to_bio, token_texts, tokenize
from labelloop.models.token_vectors import (
    Projection,
    TokenEncoder,
    as_token_encoder,
    fit_projection,
)

TokenModelKind = Literal["crf", "lr", "crf_minilm"]
TOKEN_MODEL_KINDS: tuple[TokenModelKind, ...] = ("crf", "lr", "crf_minilm")
CONTEXT_DIMS = 32
DEFAULT_KIND: TokenModelKind = "crf"


@dataclass(frozen=True)
class TokenPrediction:
    spans: tuple[Span, ...]  # sorted, code points, valid on the text
    scores: tuple[float, ...]  # one confidence in [0, 1] per span
    uncertainty: float  # task level, in [0, 1], higher = less sure; 0.0 for an empty text


class TokenModel(Protocol):
    @property
    def labels(self) -> tuple[str, ...]: ...  # the config's span labels

    def predict(self, texts: Sequence[str]) -> list[TokenPrediction]: ...


@dataclass(frozen=True)
class Decoded:
    """One text as a tagger decoded it: the tags, each tag's probability, log P(sequence)."""

    tags: Sequence[str]
    tag_probs: np.ndarray  # (n_tokens,) probability of each decoded tag
    log_prob: float


def build_prediction(text: str, tokens: Sequence[Token], decoded: Decoded, *,
                     labels: Sequence[str]) -> TokenPrediction:
    """The :class:`TokenPrediction` of one decoded text (see the module docstring)."""
    if not tokens:
        return TokenPrediction((), (), 0.0)
    spans: list[Span] = []
    scores: list[float] = []
    starts = {t.start: k for k, t in enumerate(tokens)}
    ends = {t.end: k for k, t in enumerate(tokens)}
    for span in bio_to_spans(tokens, decoded.tags):
        probs = decoded.tag_probs[starts[span.start]:ends[span.end] + 1]
        spans.append(span)
        scores.append(float(np.clip(probs.min(), 0.0, 1.0)))
    validate_spans(text, spans, labels=labels)
    mnlp = decoded.log_prob / len(tokens)
    uncertainty = float(np.clip(1.0 - np.exp(mnlp), 0.0, 1.0))
    return TokenPrediction(tuple(spans), tuple(scores), uncertainty)


@dataclass(frozen=True)
class NullTokenModel:
    """What a training set without spans gives: no span, uncertainty 1.0 (0.0 without tokens)."""

    labels: tuple[str, ...]

    def predict(self, texts: Sequence[str]) -> list[TokenPrediction]:
        return [TokenPrediction((), (), 1.0 if tokenize(t) else 0.0) for t in texts]


def context_features(encoder: TokenEncoder, projection: Projection, texts: Sequence[str],
                     tokens: Sequence[Sequence[Token]]) -> list[np.ndarray]:
    """Per text, its tokens' projected vectors ``(n_tokens, k)`` (texts without tokens are not
    encoded)."""
    present = [n for n, t in enumerate(tokens) if t]
    vectors = encoder.encode_tokens([texts[n] for n in present], [tokens[n] for n in present])
    out = [np.zeros((0, projection.components.shape[1]), dtype=np.float32)] * len(texts)
    for n, vec in zip(present, vectors):
        out[n] = projection.apply(vec)
    return out


@dataclass(frozen=True)
class CrfContext:
    """What ``"crf_minilm"`` adds to the CRF: the encoder and the fitted projection."""

    encoder: TokenEncoder
    projection: Projection


@dataclass(frozen=True)
class CrfTokenModel:
    labels: tuple[str, ...]
    tagger: CrfTagger
    context: CrfContext | None = None

    def predict(self, texts: Sequence[str]) -> list[TokenPrediction]:
        toks = [tokenize(t) for t in texts]
        dense = None if self.context is None else context_features(
            self.context.encoder, self.context.projection, texts, toks)
        decoded = decode_crf(self.tagger, [token_texts(t, k) for t, k in zip(texts, toks)],
                             dense=dense)
        index = {tag: j for j, tag in enumerate(self.tagger.tags)}
        out: list[TokenPrediction] = []
        for text, tokens, d in zip(texts, toks, decoded):
            probs = np.array([d.marginals[i, index[tag]] for i, tag in enumerate(d.tags)])
            out.append(build_prediction(text, tokens, Decoded(d.tags, probs, d.log_prob),
                                        labels=self.labels))
        return out


@dataclass(frozen=True)
class TrainingTags:
    """The training set as the taggers see it."""

    texts: list[str]
    tokens: list[list[Token]]
    tags: list[tuple[str, ...]]
    snapped: int  # spans widened to token edges
    dropped: int  # spans left out (overlapping an earlier one)


def training_tags(texts: Sequence[str], spans: Sequence[Sequence[Span]], *,
                  labels: Sequence[str]) -> TrainingTags:
    """Check the training data and tag it (raises :class:`InvalidTrainingData`)."""
    if isinstance(texts, str):
        raise InvalidTrainingData("texts must be a sequence of strings, not one string")
    if len(texts) != len(spans):
        raise InvalidTrainingData(f"{len(texts)} texts but {len(spans)} span lists")
    if not labels or len(set(labels)) != len(labels):
        raise InvalidTrainingData(f"labels must be distinct and not empty, got {list(labels)}")
    tokens: list[list[Token]] = []
    tags: list[tuple[str, ...]] = []
    snapped = dropped = 0
    for n, (text, found) in enumerate(zip(texts, spans)):
        if not isinstance(text, str):
            raise InvalidTrainingData(f"text {n} is not a string")
        try:
            validate_spans(text, found, labels=labels)
        except InvalidInput as exc:
            raise InvalidTrainingData(f"text {n}: {exc}") from exc
        tk = tokenize(text)
        bio = spans_to_bio(tk, found)
        tokens.append(tk)
        tags.append(bio.tags)
        snapped += bio.snapped
        dropped += bio.dropped
    return TrainingTags(list(texts), tokens, tags, snapped, dropped)


def fit_token_model(texts: Sequence[str], spans: Sequence[Sequence[Span]], *,
                    labels: Sequence[str], rng: np.random.Generator,
                    kind: str = DEFAULT_KIND, embedder: object | None = None) -> TokenModel:
    """A token model of ``kind`` fitted on ``texts`` and their human ``spans``.

    ``labels``: the config's span labels (every span's label must be one). ``rng`` seeds what
    is random in fitting (the CRF's L-BFGS is deterministic; the PCA's row sample is not).
    ``embedder``: for ``"lr"`` and ``"crf_minilm"``, a
    :class:`~labelloop.models.token_vectors.TokenEncoder` or a
    :class:`~labelloop.embeddings.SentenceTransformerEmbedder` (default: the bundled MiniLM);
    ignored by ``"crf"``.
    """
    if kind not in TOKEN_MODEL_KINDS:
        raise InvalidTrainingData(f"kind must be one of {TOKEN_MODEL_KINDS}, got {kind!r}")
    data = training_tags(texts, spans, labels=labels)
    names = tuple(labels)
    if not any(tag != "O" for tags in data.tags for tag in tags):
        return NullTokenModel(names)
    if kind == "lr":
        from labelloop.models.token_lr import fit_lr_token_model

        return fit_lr_token_model(data, labels=names, rng=rng, embedder=embedder)
    words = [token_texts(t, k) for t, k in zip(data.texts, data.tokens)]
    if kind == "crf":
        return CrfTokenModel(names, fit_crf(words, data.tags))
    encoder = as_token_encoder(embedder)
    present = [n for n, t in enumerate(data.tokens) if t]
    vectors = encoder.encode_tokens([data.texts[n] for n in present],
                                    [data.tokens[n] for n in present])
    projection = fit_projection(np.vstack(vectors), k=CONTEXT_DIMS, rng=rng)
    dense = [np.zeros((0, projection.components.shape[1]), dtype=np.float32)] * len(words)
    for n, vec in zip(present, vectors):
        dense[n] = projection.apply(vec)
    return CrfTokenModel(names, fit_crf(words, data.tags, dense=dense),
                         CrfContext(encoder, projection))
