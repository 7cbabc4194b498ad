"""Heavy objects shared by a process's jobs, created on first use (never at import or start)."""

from __future__ import annotations

import threading

from labelloop.embeddings import Embedder, SentenceTransformerEmbedder
from labelloop.llm import LLMLabeler
from labelloop.settings import Settings
from labelloop.storage.base import Storage


class Resources:
    def __init__(self, settings: Settings, *, embedder: Embedder | None = None,
                 labeler: LLMLabeler | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._labeler = labeler
        self._lock = threading.Lock()

    def labeler(self, storage: Storage) -> LLMLabeler | None:
        """The process's LLM labeler (one, so its limits and circuit breaker are shared);
        None when no LLM is configured."""
        with self._lock:
            if self._labeler is None and self.settings.llm_configured:
                self._labeler = LLMLabeler(self.settings, storage)
            return self._labeler

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                s = self.settings
                self._embedder = SentenceTransformerEmbedder(
                    s.embedding_model_path, torch_threads=s.embedding_threads)
            return self._embedder
