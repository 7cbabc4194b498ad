"""What an embedder is: a name, a dimension and ``encode``.

Anything with these three is an :class:`Embedder` (a Protocol), so tests and the simulator can
swap in a cheap fake without patching. Vectors are float32, L2-normalised (cosine similarity is
a dot product), one row per input text, in input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from labelloop.errors import InvalidInput, LabelloopError


class EmbeddingModelUnavailable(LabelloopError):
    """The embedding model cannot be loaded (package not installed, files missing)."""

    status = 503
    code = "embedding_model_unavailable"


class InvalidTexts(InvalidInput):
    """The texts handed to an embedder are not a sequence of strings."""


@runtime_checkable
class Embedder(Protocol):
    @property
    def name(self) -> str:
        """Identifies the model (and so the vector space): the embedding cache key."""
        ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``(len(texts), dim)``, each row of unit L2 norm."""
        ...


def check_texts(texts: Sequence[str]) -> list[str]:
    """The texts as a list; raises :class:`InvalidTexts` for a bare string or a non-string item."""
    if isinstance(texts, (str, bytes)):
        raise InvalidTexts("texts must be a sequence of strings, not a single string")
    out = list(texts)
    bad = [i for i, t in enumerate(out) if not isinstance(t, str)]
    if bad:
        raise InvalidTexts(f"texts must be strings; item {bad[0]} is "
                           f"{type(out[bad[0]]).__name__}", detail={"positions": bad[:20]})
    return out


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm (zero rows stay zero), as float32."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
