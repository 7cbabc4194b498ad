"""Heavy objects shared by a process's jobs, created on first use (never at import or start),
and :func:`preload_job_libraries`, which a server with an in-process worker calls before it
answers its first request."""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from labelloop.embeddings import Embedder, SentenceTransformerEmbedder
from labelloop.embeddings.base import EmbeddingModelUnavailable
from labelloop.embeddings.finetune import directory_hash
from labelloop.embeddings.pinned import PinnedThreadsEmbedder
from labelloop.embeddings.sentence_transformer import resolve_precision
from labelloop.llm import LLMLabeler
from labelloop.loop.encoders import EncoderManifest, current_encoder
from labelloop.modalities import Modality, modality_input
from labelloop.settings import Settings
from labelloop.storage.base import Storage

if TYPE_CHECKING:
    from labelloop.embeddings.media_base import MediaEmbedder
    from labelloop.media.fetch import MediaFetcher

log = logging.getLogger(__name__)

# What the jobs import on first use. Importing torch and sentence-transformers takes ~7 s here
# and holds the GIL for up to ~0.45 s at a time (shared libraries load inside the import): done
# by the worker thread while the server answers, it delayed webhook acknowledgements past Label
# Studio's 1 s timeout (measured in the end-to-end tests right after connecting).
JOB_LIBRARIES = ("sentence_transformers", "sklearn.linear_model", "sklearn.model_selection",
                 "sklearn.cluster", "sklearn.metrics", "openai")


def preload_job_libraries(names: tuple[str, ...] = JOB_LIBRARIES) -> dict[str, str]:
    """Import ``names`` now; returns {name: why} for those that failed (a missing optional
    library is reported by the job that needs it, with its own message)."""
    started = time.perf_counter()
    failed: dict[str, str] = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any import failure is the job's to report
            failed[name] = f"{type(exc).__name__}: {exc}"
    log.info("jobs: libraries loaded in %.1fs before serving%s", time.perf_counter() - started,
             f" (not loaded: {', '.join(failed)})" if failed else "")
    return failed


class Resources:
    """``embedder``: the text embedder; ``media_embedders``: {modality: embedder} to use instead
    of the settings' (tests); both are otherwise built on first use."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None,
                 labeler: LLMLabeler | None = None,
                 media_embedders: Mapping[Modality, MediaEmbedder] | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._labeler = labeler
        self._media_embedders: dict[Modality, MediaEmbedder] = dict(media_embedders or {})
        self._request_embedder: PinnedThreadsEmbedder | None = None
        # fine-tuned text encoders by cache name (loop/encoders.py), and their request twins
        self._encoders: dict[str, SentenceTransformerEmbedder] = {}
        self._request_encoders: dict[str, PinnedThreadsEmbedder] = {}
        self._fetchers: dict[tuple[str, str] | None, MediaFetcher] = {}
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

    @property
    def request_embedder(self) -> Embedder:
        """The text embedder of request handlers (``/classify``): :attr:`embedder`'s model
        (loaded once for both), encoding on threads of its own at
        ``settings.classify_threads`` torch threads each, one thread per core
        (:class:`~labelloop.embeddings.pinned.PinnedThreadsEmbedder`); the jobs' threads are
        untouched, and in ``settings.classify_precision`` (bfloat16 where the CPU has it: the
        jobs' vectors, which models train on, stay float32). ``classify_threads`` 0, or an
        embedder that sets torch's threads itself: :attr:`embedder` as it is."""
        base = self.embedder
        n = self.settings.classify_threads
        with self._lock:
            if self._request_embedder is None and n > 0:
                inner = base.with_threads(None, precision=self._request_precision) \
                    if isinstance(base, SentenceTransformerEmbedder) else base
                if getattr(inner, "torch_threads", None) is None:
                    self._request_embedder = PinnedThreadsEmbedder(
                        inner, torch_threads=n, workers=os.cpu_count() or 1)
            return self._request_embedder or base

    @property
    def _request_precision(self) -> Literal["float32", "bfloat16"]:
        """The request path's embedding precision (``settings.classify_precision``)."""
        return resolve_precision(self.settings.classify_precision)

    def close(self) -> None:
        """Stop the request embedders' threads (started on their first encode)."""
        with self._lock:
            pinned, self._request_embedder = self._request_embedder, None
            twins, self._request_encoders = list(self._request_encoders.values()), {}
        for p in [pinned, *twins]:
            if p is not None:
                p.close()

    def text_encoder(self, manifest: EncoderManifest | None, *,
                     request: bool = False) -> Embedder:
        """The text embedder of a project whose current encoder is ``manifest`` (None: the
        process's, :attr:`embedder`): a fine-tuned folder, checked against its content hash
        when first used in this process, loaded once. ``request``: as
        :attr:`request_embedder` encodes (threads of its own)."""
        if manifest is None:
            return self.request_embedder if request else self.embedder
        with self._lock:
            got = self._encoders.get(manifest.name)
        if got is None:
            path = Path(manifest.path)
            if not path.is_dir() or directory_hash(path) != manifest.sha256:
                raise EmbeddingModelUnavailable(
                    f"the fine-tuned encoder {manifest.name} at {path} is missing or changed")
            with self._lock:
                got = self._encoders.setdefault(manifest.name, SentenceTransformerEmbedder(
                    path, name=manifest.name, torch_threads=self.settings.embedding_threads))
        n = self.settings.classify_threads
        if not request or n <= 0:
            return got
        with self._lock:
            twin = self._request_encoders.get(manifest.name)
            if twin is None:
                twin = self._request_encoders[manifest.name] = PinnedThreadsEmbedder(
                    got.with_threads(None, precision=self._request_precision),
                    torch_threads=n, workers=os.cpu_count() or 1)
            return twin

    def project_text_embedder(self, storage: Storage, project_id: int | None) -> Embedder:
        """The project's current text encoder (:func:`labelloop.loop.encoders.current_encoder`;
        the process's without a project)."""
        if project_id is None:
            return self.embedder
        with storage.read() as tx:
            manifest = current_encoder(tx, project_id)
        return self.text_encoder(manifest)

    def media_embedder(self, modality: Modality) -> MediaEmbedder:
        """The process's embedder of a media modality (:data:`labelloop.modalities.SERVED`'s
        factory, built once); ValueError for text or a modality not served."""
        with self._lock:
            got = self._media_embedders.get(modality)
            if got is None:
                factory = modality_input(modality).embedder
                if factory is None:
                    raise ValueError(f"{modality} has no media embedder")
                got = self._media_embedders[modality] = factory(self.settings)
            return got

    def input_embedder_name(self, modality: Modality) -> str:
        """The name of the embedder whose vectors a project of ``modality`` trains on."""
        if modality_input(modality).embedder is None:
            return self.embedder.name
        return self.media_embedder(modality).name

    def media_fetcher(self, label_studio: tuple[str, str] | None) -> MediaFetcher:
        """The process's media fetcher for a Label Studio (URL, key): one per pair, kept (it is
        thread-safe and holds the connection pool); None: the settings' own."""
        from labelloop.media.fetch import MediaFetcher

        with self._lock:
            got = self._fetchers.get(label_studio)
            if got is None:
                got = self._fetchers[label_studio] = MediaFetcher(
                    self.settings, label_studio=label_studio)
            return got
