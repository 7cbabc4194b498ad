"""What a media embedder is: a name, a dimension, a modality and ``encode`` over raw bytes.

The text :class:`~labelloop.embeddings.base.Embedder` takes strings; a :class:`MediaEmbedder`
takes the bytes of image or audio files (as the media fetcher returns them) and keeps the same
contract: float32 rows of unit L2 norm, one per input, in input order, and a ``name`` that keys
the embedding cache (it changes whenever the vectors would).

One file that cannot be decoded (truncated, not an image, an audio format the decoder does not
read) never costs the others their vectors: ``encode_each`` returns a :class:`MediaEncoded`
with zero rows and, by position, why those items have no vector; ``encode`` wants every vector
and raises :class:`UndecodableMedia` (an item error, see :mod:`labelloop.skips`) naming the
first bad position. :func:`media_hash` is the cache key of a file's content.

Typical use (the loop, once media projects are wired)::

    embedder = BuiltinImageEmbedder()            # or media_embedder(settings, "image")
    encoded = embedder.encode_each(blobs)        # MediaEncoded(vectors, failed)
    usable = encoded.vectors[encoded.ok]
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from labelloop.embeddings.base import l2_normalise
from labelloop.embeddings.cache import Embedded
from labelloop.errors import InvalidInput
from labelloop.skips import is_item_error, reason_of

Modality = Literal["image", "audio", "video"]


class UndecodableMedia(InvalidInput):
    """The bytes of a media item cannot be decoded (or are not a sequence of bytes at all)."""

    code = "undecodable_media"


# What ``encode_each`` made: ``vectors`` (float32 ``(n, dim)``, zero rows where it failed) and
# ``failed``: {position: why that item has no vector} — the record texts' ``embed_each`` makes
MediaEncoded = Embedded


@runtime_checkable
class MediaEmbedder(Protocol):
    @property
    def name(self) -> str:
        """Identifies the model and its parameters (the vector space): the cache key."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def modality(self) -> Modality: ...

    def encode(self, items: Sequence[bytes]) -> np.ndarray:
        """float32 ``(len(items), dim)``, unit rows; :class:`UndecodableMedia` on a bad item."""
        ...

    def encode_each(self, items: Sequence[bytes]) -> MediaEncoded:
        """Vectors for the items that decode, and per position why the others do not."""
        ...


def media_hash(data: bytes) -> str:
    """The cache key of a media file: SHA-256 of its bytes, hex (the URL is not the content)."""
    return hashlib.sha256(data).hexdigest()


def check_items(items: Sequence[bytes]) -> list[bytes]:
    """The items as a list; a bare ``bytes`` (one file, not a sequence of files) is refused."""
    if isinstance(items, (bytes, bytearray, memoryview, str)):
        raise UndecodableMedia("items must be a sequence of byte strings, not a single value")
    return list(items)


def require_all(encoded: MediaEncoded) -> np.ndarray:
    """``encoded.vectors`` when every item has one; else :class:`UndecodableMedia`."""
    if encoded.failed:
        pos, why = next(iter(encoded.failed.items()))
        raise UndecodableMedia(f"{len(encoded.failed)} item(s) cannot be embedded; item {pos}: "
                               f"{why}", detail={"positions": list(encoded.failed)[:20]})
    return encoded.vectors


def encode_per_item(items: Sequence[bytes], features: Callable[[bytes], np.ndarray],
                    dim: int) -> MediaEncoded:
    """``encode_each`` for an embedder whose vector of an item depends on that item alone:
    ``features(data)`` gives one raw ``(dim,)`` row (normalised here); an item error it raises
    (see :func:`labelloop.skips.is_item_error`) becomes that position's skip reason, anything
    else (the embedder is broken) propagates."""
    blobs = check_items(items)
    out = np.zeros((len(blobs), dim), dtype=np.float32)
    failed: dict[int, str] = {}
    for i, data in enumerate(blobs):
        try:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise UndecodableMedia(f"item is {type(data).__name__}, not bytes")
            row = np.asarray(features(bytes(data)), dtype=np.float64)
            if row.shape != (dim,) or not np.isfinite(row).all():
                raise ValueError(f"the features of the item are not {dim} finite numbers")
        except Exception as exc:
            if not is_item_error(exc):
                raise
            failed[i] = reason_of(exc)
            continue
        out[i] = row
    vectors = l2_normalise(out)
    return MediaEncoded(vectors, failed)
