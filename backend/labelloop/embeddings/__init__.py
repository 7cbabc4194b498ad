"""Text embeddings: the :class:`Embedder` protocol, the bundled sentence-transformers model, and
a storage-backed cache so that each (model, text) is encoded once.

Typical use (the service's jobs)::

    embedder = SentenceTransformerEmbedder(torch_threads=2)      # loads nothing yet
    vectors = embed_cached(texts, embedder=embedder, store=storage)  # (n, 384) float32
"""

from labelloop.embeddings.base import (
    Embedder,
    EmbeddingModelUnavailable,
    InvalidTexts,
    l2_normalise,
)
from labelloop.embeddings.cache import (
    CachedEmbedder,
    Embedded,
    embed_cached,
    embed_each,
    text_hash,
)
from labelloop.embeddings.sentence_transformer import (
    DEFAULT_MODEL_NAME,
    SentenceTransformerEmbedder,
    bundled_model_path,
)

__all__ = [
    "DEFAULT_MODEL_NAME", "CachedEmbedder", "Embedded", "Embedder", "EmbeddingModelUnavailable",
    "InvalidTexts", "SentenceTransformerEmbedder", "bundled_model_path", "embed_cached",
    "embed_each", "l2_normalise", "text_hash",
]
