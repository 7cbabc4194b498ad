"""Contextual token vectors from the MiniLM encoder, pooled from word pieces to our tokens.

sentence-transformers' ``output_value="token_embeddings"`` gives one vector per word piece (the
encoder's last layer, before pooling). The tokenizer's offset mapping (code points into the
text) tells which pieces make up each :class:`~labelloop.models.token_text.Token`; a token's
vector is the mean of its pieces'. A token past the encoder's ``max_seq_length`` (truncated) gets
a zero vector. The vectors of a text never change while the model does not, so a caller may
cache them per task, as it caches sentence embeddings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from labelloop.models.token_text import Token, tokenize


class _Encoder(Protocol):
    """The part of a ``SentenceTransformer`` used here."""

    max_seq_length: int
    tokenizer: Callable[..., Mapping[str, Any]]  # a Hugging Face fast tokenizer

    def encode(self, sentences: list[str], **kwargs: object) -> Sequence[Any]: ...


class _HasModel(Protocol):
    @property
    def model(self) -> _Encoder: ...


def pool_pieces(pieces: np.ndarray, offsets: Sequence[tuple[int, int]],
                tokens: Sequence[Token]) -> np.ndarray:
    """``(n_tokens, dim)``: the mean of the word-piece vectors that overlap each token.

    ``pieces`` ``(n_pieces, dim)`` and ``offsets`` (one ``(start, end)`` per piece; ``(0, 0)``
    for special pieces) describe one text; pieces are ordered by offset.
    """
    dim = pieces.shape[1]
    out = np.zeros((len(tokens), dim), dtype=np.float32)
    starts = np.array([a for a, _ in offsets], dtype=np.int64)
    ends = np.array([b for _, b in offsets], dtype=np.int64)
    real = ends > starts
    for k, tok in enumerate(tokens):
        hit = real & (starts < tok.end) & (ends > tok.start)
        if hit.any():
            out[k] = pieces[hit].mean(axis=0)
    return out


def contextual_token_vectors(texts: Sequence[str], *, embedder: _HasModel,
                             tokens: Sequence[Sequence[Token]] | None = None,
                             batch_size: int = 64) -> list[np.ndarray]:
    """One ``(n_tokens, dim)`` float32 array per text, for ``tokens`` (default: :func:`tokenize`).

    ``embedder``: a :class:`~labelloop.embeddings.SentenceTransformerEmbedder` (its loaded
    model is used; nothing is downloaded).
    """
    toks = [tokenize(t) for t in texts] if tokens is None else tokens
    if len(toks) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(toks)} token lists")
    if not texts:
        return []
    model = embedder.model
    tokenizer = model.tokenizer
    items = list(texts)
    pieces = model.encode(items, output_value="token_embeddings", batch_size=batch_size,
                          show_progress_bar=False, convert_to_numpy=False)
    enc = tokenizer(items, truncation=True, max_length=model.max_seq_length,
                    return_offsets_mapping=True)
    out: list[np.ndarray] = []
    for vec, offsets, tk in zip(pieces, enc["offset_mapping"], toks):
        array = vec.detach().cpu().float().numpy()
        if array.shape[0] != len(offsets):
            raise RuntimeError(f"the encoder gave {array.shape[0]} pieces for "
                               f"{len(offsets)} offsets")
        out.append(pool_pieces(array, [tuple(o) for o in offsets], tk))
    return out


class TokenEncoder(Protocol):
    """Contextual vectors of given tokens: one ``(n_tokens, dim)`` array per text."""

    def encode_tokens(self, texts: Sequence[str],
                      tokens: Sequence[Sequence[Token]]) -> list[np.ndarray]: ...


class MiniLmTokenEncoder:
    """:func:`contextual_token_vectors` of a loaded sentence-transformers embedder."""

    def __init__(self, embedder: _HasModel, *, batch_size: int = 64) -> None:
        self.embedder = embedder
        self.batch_size = batch_size

    def encode_tokens(self, texts: Sequence[str],
                      tokens: Sequence[Sequence[Token]]) -> list[np.ndarray]:
        return contextual_token_vectors(texts, embedder=self.embedder, tokens=tokens,
                                        batch_size=self.batch_size)


class CachedTokenEncoder:
    """Another encoder's vectors, each text encoded once (a text's tokens never change, so the
    text is the key). Unbounded: for a benchmark or a process that sees a fixed pool."""

    def __init__(self, inner: TokenEncoder) -> None:
        self.inner = inner
        self._cache: dict[str, np.ndarray] = {}

    def encode_tokens(self, texts: Sequence[str],
                      tokens: Sequence[Sequence[Token]]) -> list[np.ndarray]:
        missing = {t: k for t, k in zip(texts, tokens) if t not in self._cache}
        if missing:
            items = list(missing)
            for text, vec in zip(items, self.inner.encode_tokens(items, list(missing.values()))):
                self._cache[text] = vec
        return [self._cache[t] for t in texts]


def as_token_encoder(embedder: object | None) -> TokenEncoder:
    """``embedder`` as a :class:`TokenEncoder`: one already, a sentence-transformers embedder
    (anything with a loaded ``.model``), or None for the bundled MiniLM."""
    if embedder is None:
        from labelloop.embeddings import SentenceTransformerEmbedder

        return MiniLmTokenEncoder(SentenceTransformerEmbedder())
    if callable(getattr(embedder, "encode_tokens", None)):
        return embedder  # type: ignore[return-value]
    if hasattr(embedder, "model"):
        return MiniLmTokenEncoder(embedder)
    raise TypeError(f"{type(embedder).__name__} is neither a TokenEncoder nor a "
                    "sentence-transformers embedder")


@dataclass(frozen=True)
class Projection:
    """Token vectors to ``k`` principal directions, each scaled to unit variance on the tokens
    it was fitted on (so a CRF's real-valued features share one scale)."""

    mean: np.ndarray  # (dim,)
    components: np.ndarray  # (dim, k)

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        return ((vectors - self.mean) @ self.components).astype(np.float32)


def fit_projection(vectors: np.ndarray, *, k: int, rng: np.random.Generator,
                   max_rows: int = 20_000) -> Projection:
    """PCA of ``vectors`` ``(n, dim)`` (at most ``max_rows`` rows, drawn by ``rng``), from the
    eigenvectors of the ``(dim, dim)`` covariance (an SVD of the rows took seconds under BLAS
    thread contention; this takes milliseconds); ``k`` shrinks to ``n - 1`` when there are
    fewer rows."""
    from threadpoolctl import threadpool_limits

    x = np.asarray(vectors, dtype=np.float64)
    if x.shape[0] > max_rows:
        x = x[rng.choice(x.shape[0], max_rows, replace=False)]
    mean = x.mean(axis=0) if x.shape[0] else np.zeros(x.shape[1])
    k = max(0, min(k, x.shape[0] - 1, x.shape[1]))
    if k == 0:
        return Projection(mean, np.zeros((x.shape[1], 0)))
    centred = x - mean
    with threadpool_limits(limits=1):
        values, vectors_ = np.linalg.eigh(centred.T @ centred / (x.shape[0] - 1))
    top = np.argsort(values)[::-1][:k]
    sd = np.sqrt(np.maximum(values[top], 1e-24))
    return Projection(mean, vectors_[:, top] / sd)
