"""Embeddings through a cache: each (model, text) is encoded once, ever.

:func:`embed_cached` looks the texts up by content hash, encodes only the ones not stored yet
(each distinct text once, in chunks), stores each chunk as soon as it is encoded, and returns
the vectors in input order. Encoding happens outside any transaction: a long embedding run never
holds the database's write lock for more than one chunk's insert.

One bad text never costs the others their vectors: :func:`embed_each` returns the vectors
it could make and, by position, why the rest could not be made (a text that cannot be encoded as
UTF-8 is not even hashed; when the embedder raises for a chunk, the chunk is split in halves
until only the text it fails on is left out; a non-finite vector is never stored). An error
about the embedder itself (the model cannot be loaded) still raises, and so does an embedder
that fails on every text alone (three or more, and no vector at hand, cached or new): that is
not a bad text.
:func:`embed_cached` wants every vector and raises :class:`InvalidTexts` when one is missing.

The store is anything with ``read()``/``write()`` context managers yielding an object with
``get_embeddings``/``put_embeddings`` — a :class:`labelloop.storage.Storage` is one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from labelloop.embeddings.base import (
    Embedder,
    EmbeddingModelUnavailable,
    InvalidTexts,
    check_texts,
)
from labelloop.errors import InvalidInput
from labelloop.skips import is_item_error, reason_of

VectorDtype = Literal["float32", "float16"]
SYSTEMIC = 3  # texts failing alone, with no vector made at all, before the embedder is blamed


class EmbeddingTx(Protocol):
    def get_embeddings(self, model: str, text_hashes: list[str]) -> dict[str, np.ndarray]: ...
    def put_embeddings(self, model: str, vectors: Mapping[str, np.ndarray], *,
                       dtype: VectorDtype = "float32") -> None: ...


class EmbeddingStore(Protocol):
    def read(self) -> AbstractContextManager[EmbeddingTx]: ...
    def write(self) -> AbstractContextManager[EmbeddingTx]: ...


def text_hash(text: str) -> str:
    """The cache key of a text: SHA-256 of its UTF-8 bytes, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Embedded:
    """What :func:`embed_each` made: ``vectors`` (float32 ``(n, dim)``, zero rows where it
    failed) and ``failed``: {position: why that text has no vector}."""

    vectors: np.ndarray
    failed: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> np.ndarray:
        """(n,) bool: the positions that have a vector."""
        mask = np.ones(len(self.vectors), dtype=bool)
        mask[list(self.failed)] = False
        return mask


def embed_each(
    texts: Sequence[str],
    *,
    embedder: Embedder,
    store: EmbeddingStore,
    dtype: VectorDtype = "float32",
    chunk_size: int = 1024,
    progress: Callable[[int], None] | None = None,
) -> Embedded:
    """Vectors for ``texts``, encoding only texts not cached yet; a text that cannot be embedded
    is left out with its reason instead of failing the others.

    ``dtype``: how new vectors are stored (``float16`` halves the space; the returned array is
    always float32, and a vector read back from float16 differs by < 1e-3). ``progress`` is
    called with the number of texts just encoded, after each chunk is stored.
    """
    items = check_texts(texts)
    if chunk_size < 1:
        raise InvalidInput(f"chunk_size must be >= 1, got {chunk_size}")
    hashes: list[str | None] = []
    failed: dict[int, str] = {}
    for i, t in enumerate(items):
        try:
            hashes.append(text_hash(t))
        except UnicodeError as exc:  # a lone surrogate: no bytes to hash or to encode
            hashes.append(None)
            failed[i] = reason_of(exc)
    with store.read() as tx:
        found = tx.get_embeddings(embedder.name, [h for h in hashes if h is not None])
    missing: dict[str, str] = {}
    for h, t in zip(hashes, items):
        if h is not None and h not in found and h not in missing:
            missing[h] = t
    todo = list(missing.items())
    broken: dict[str, str] = {}  # hash → why its text could not be encoded
    made = len(found)  # vectors at hand: cached ones count (the embedder worked before)
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start : start + chunk_size]
        new = _encode_chunk(embedder, chunk, broken)
        made += len(new)
        if not made and len(broken) >= SYSTEMIC:
            raise EmbeddingModelUnavailable(
                f"the embedder failed on each of the {len(broken)} texts it was given alone "
                f"(first: {next(iter(broken.values()))}): the embedder, not a text")
        if new:
            with store.write() as tx:
                tx.put_embeddings(embedder.name, new, dtype=dtype)
        if dtype == "float16":  # return what a later call will read back
            new = {h: v.astype(np.float16).astype(np.float32) for h, v in new.items()}
        found.update(new)
        if progress is not None:
            progress(len(chunk))
    out = np.zeros((len(items), embedder.dim), dtype=np.float32)
    for i, h in enumerate(hashes):
        if h is None:
            continue
        if h in found:
            out[i] = found[h]
        else:
            failed[i] = broken.get(h, "no vector was made")
    return Embedded(out, dict(sorted(failed.items())))


def _encode_chunk(embedder: Embedder, chunk: list[tuple[str, str]],
                  broken: dict[str, str]) -> dict[str, np.ndarray]:
    """{hash: vector} for a chunk's texts; when the embedder raises for the chunk because of
    what a text holds, each half is encoded again (down to single texts), so one bad text costs
    about 2·log2(n) smaller calls, not n; the texts it fails on alone go to ``broken``."""
    try:
        vectors = np.asarray(embedder.encode([t for _, t in chunk]), dtype=np.float32)
        if vectors.shape != (len(chunk), embedder.dim):
            raise ValueError(f"the embedder returned shape {vectors.shape} for {len(chunk)} "
                             f"texts of dimension {embedder.dim}")
    except Exception as exc:
        if not is_item_error(exc):
            raise
        if len(chunk) == 1:
            broken[chunk[0][0]] = reason_of(exc)
            return {}
        half = len(chunk) // 2
        return {**_encode_chunk(embedder, chunk[:half], broken),
                **_encode_chunk(embedder, chunk[half:], broken)}
    new = {}
    for (h, _), v in zip(chunk, vectors):
        if np.isfinite(v).all():
            new[h] = v
        else:
            broken[h] = "ValueError: the embedder returned a vector that is not finite"
    return new


def embed_cached(
    texts: Sequence[str],
    *,
    embedder: Embedder,
    store: EmbeddingStore,
    dtype: VectorDtype = "float32",
    chunk_size: int = 1024,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """float32 ``(len(texts), embedder.dim)`` vectors, encoding only texts not cached yet
    (:func:`embed_each`); raises :class:`InvalidTexts` when a text cannot be embedded (the
    vectors of the others are cached all the same)."""
    result = embed_each(texts, embedder=embedder, store=store, dtype=dtype,
                        chunk_size=chunk_size, progress=progress)
    if result.failed:
        pos, why = next(iter(result.failed.items()))
        raise InvalidTexts(f"{len(result.failed)} text(s) cannot be embedded; text {pos}: {why}",
                           detail={"positions": list(result.failed)[:20]})
    return result.vectors


class CachedEmbedder:
    """An :class:`Embedder` that goes through :func:`embed_cached` (same name and dim)."""

    def __init__(self, embedder: Embedder, store: EmbeddingStore, *,
                 dtype: VectorDtype = "float32") -> None:
        self.embedder = embedder
        self.store = store
        self.dtype: VectorDtype = dtype

    @property
    def name(self) -> str:
        return self.embedder.name

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return embed_cached(texts, embedder=self.embedder, store=self.store, dtype=self.dtype)
