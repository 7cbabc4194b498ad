"""Heavy objects shared by a process's jobs, created on first use (never at import or start)."""

from __future__ import annotations

import threading

from labelloop.embeddings import Embedder, SentenceTransformerEmbedder
from labelloop.settings import Settings


class Resources:
    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                s = self.settings
                self._embedder = SentenceTransformerEmbedder(
                    s.embedding_model_path, torch_threads=s.embedding_threads)
            return self._embedder
