"""Embeddings through a cache: each (model, text) is encoded once, ever.

:func:`embed_cached` looks the texts up by content hash, encodes only the ones not stored yet
(each distinct text once, in chunks), stores each chunk as soon as it is encoded, and returns
the vectors in input order. Encoding happens outside any transaction: a long embedding run never
holds the database's write lock for more than one chunk's insert.

The store is anything with ``read()``/``write()`` context managers yielding an object with
``get_embeddings``/``put_embeddings`` — a :class:`labelloop.storage.Storage` is one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Literal, Protocol

import numpy as np

from labelloop.embeddings.base import Embedder, check_texts
from labelloop.errors import InvalidInput

VectorDtype = Literal["float32", "float16"]


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


def embed_cached(
    texts: Sequence[str],
    *,
    embedder: Embedder,
    store: EmbeddingStore,
    dtype: VectorDtype = "float32",
    chunk_size: int = 1024,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """float32 ``(len(texts), embedder.dim)`` vectors, encoding only texts not cached yet.

    ``dtype``: how new vectors are stored (``float16`` halves the space; the returned array is
    always float32, and a vector read back from float16 differs by < 1e-3). ``progress`` is
    called with the number of texts just encoded, after each chunk is stored.
    """
    items = check_texts(texts)
    if chunk_size < 1:
        raise InvalidInput(f"chunk_size must be >= 1, got {chunk_size}")
    hashes = [text_hash(t) for t in items]
    with store.read() as tx:
        found = tx.get_embeddings(embedder.name, hashes)
    missing: dict[str, str] = {}
    for h, t in zip(hashes, items):
        if h not in found and h not in missing:
            missing[h] = t
    todo = list(missing.items())
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start : start + chunk_size]
        vectors = embedder.encode([t for _, t in chunk])
        new = {h: vectors[i] for i, (h, _) in enumerate(chunk)}
        with store.write() as tx:
            tx.put_embeddings(embedder.name, new, dtype=dtype)
        if dtype == "float16":  # return what a later call will read back
            new = {h: v.astype(np.float16).astype(np.float32) for h, v in new.items()}
        found.update(new)
        if progress is not None:
            progress(len(chunk))
    if not items:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.stack([found[h] for h in hashes]).astype(np.float32, copy=False)


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
