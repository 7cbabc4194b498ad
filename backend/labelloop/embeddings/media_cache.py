"""Media embeddings through the embedding cache: each (embedder, file content) is encoded once.

The text cache (:mod:`labelloop.embeddings.cache`) keys a vector by the SHA-256 of a text; a
media vector is keyed the same way by the SHA-256 of the file's bytes
(:func:`~labelloop.embeddings.media_base.media_hash`: the content, not the URL, which may serve
other bytes tomorrow or the same bytes under another name), in the same table, under the media
embedder's name (which changes whenever its vectors would).

:func:`embed_media_each` looks the files up, encodes only the ones not stored yet (each distinct
file once) with the embedder's ``encode_each``, stores the new vectors and returns an
:class:`~labelloop.embeddings.cache.Embedded`: a file that does not decode is left out with its
reason, never fatal. An embedder that raises something other than an item error (its model
cannot be loaded) still raises: that is not a bad file.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labelloop.embeddings.cache import Embedded, EmbeddingStore, VectorDtype
from labelloop.embeddings.media_base import MediaEmbedder, check_items, media_hash


def embed_media_each(items: Sequence[bytes], *, embedder: MediaEmbedder, store: EmbeddingStore,
                     dtype: VectorDtype = "float32") -> tuple[Embedded, int]:
    """``(Embedded, encoded)``: vectors of ``items`` (file bytes) in input order, zero rows and
    a reason where a file has none, and how many distinct files were encoded (not cached)."""
    blobs = check_items(items)
    hashes = [media_hash(bytes(b)) for b in blobs]
    with store.read() as tx:
        found = tx.get_embeddings(embedder.name, list(set(hashes)))
    missing: dict[str, bytes] = {}
    for h, b in zip(hashes, blobs):
        if h not in found and h not in missing:
            missing[h] = bytes(b)
    broken: dict[str, str] = {}
    if missing:
        encoded = embedder.encode_each(list(missing.values()))
        new: dict[str, np.ndarray] = {}
        for pos, h in enumerate(missing):
            if pos in encoded.failed:
                broken[h] = encoded.failed[pos]
            elif np.isfinite(encoded.vectors[pos]).all():
                new[h] = encoded.vectors[pos]
            else:
                broken[h] = "ValueError: the embedder returned a vector that is not finite"
        if new:
            with store.write() as tx:
                tx.put_embeddings(embedder.name, new, dtype=dtype)
            if dtype == "float16":  # return what a later call reads back
                new = {h: v.astype(np.float16).astype(np.float32) for h, v in new.items()}
        found.update(new)
    out = np.zeros((len(blobs), embedder.dim), dtype=np.float32)
    failed: dict[int, str] = {}
    for i, h in enumerate(hashes):
        if h in found:
            out[i] = found[h]
        else:
            failed[i] = broken.get(h, "no vector was made")
    return Embedded(out, failed), len(missing)
