"""A configured CLIP-family image model through sentence-transformers, from local files only.

``LABELLOOP_IMAGE_EMBEDDING_MODEL`` names a folder holding a model sentence-transformers loads
with an image modality (a CLIP model saved with its processor, or a sentence-transformers CLIP
folder), or a hub name already in the local Hugging Face cache: loading never downloads
(``local_files_only``). The model loads on the first call that needs it, never at import.

Images are decoded by the built-in embedder's decoder (:func:`decode_image`), so what counts
as undecodable is the same for both; undecodable items are skips, the others are encoded in
batches. Vectors are float32 and L2-normalised, one per item, in input order.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.embeddings.base import EmbeddingModelUnavailable, l2_normalise
from labelloop.embeddings.image_builtin import decode_image
from labelloop.embeddings.media_base import (
    MediaEncoded,
    Modality,
    check_items,
    require_all,
)
from labelloop.skips import is_item_error, reason_of


class SentenceTransformerImageEmbedder:
    """A :class:`~labelloop.embeddings.media_base.MediaEmbedder` over a local image model.

    ``model``: a local folder, or a hub name present in the local cache.
    ``name``: the cache key of the vector space (default: derived from ``model``).
    ``torch_threads``: intra-op threads while encoding (None: torch's own default).
    """

    def __init__(self, model: str | Path, *, name: str | None = None, batch_size: int = 32,
                 device: str = "cpu", torch_threads: int | None = None) -> None:
        self.model_ref = str(model)
        self._name = name or f"sentence-transformers-image:{self.model_ref}"
        self.batch_size = batch_size
        self.device = device
        self.torch_threads = torch_threads
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def modality(self) -> Modality:
        return "image"

    @property
    def dim(self) -> int:
        model = self.model
        get = getattr(model, "get_embedding_dimension", None) or \
            model.get_sentence_embedding_dimension
        return int(get())

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loaded on first use)."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        path = Path(self.model_ref).expanduser()
        looks_local = path.is_absolute() or self.model_ref.startswith(".") or path.exists()
        if looks_local and not path.is_dir():
            raise EmbeddingModelUnavailable(f"the image embedding model folder {path} does not "
                                            "exist")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingModelUnavailable(
                "sentence-transformers is not installed: pip install sentence-transformers"
            ) from exc
        ref = str(path) if looks_local else self.model_ref
        try:
            model = SentenceTransformer(ref, device=self.device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise EmbeddingModelUnavailable(
                f"cannot load the image embedding model {self.model_ref!r} from local files: "
                f"{exc}") from exc
        modalities = getattr(model, "modalities", None)
        if modalities is not None and "image" not in modalities:
            raise EmbeddingModelUnavailable(
                f"the model {self.model_ref!r} does not embed images (modalities: "
                f"{sorted(map(str, modalities))})")
        return model

    def encode_each(self, items: Sequence[bytes]) -> MediaEncoded:
        blobs = check_items(items)
        model = self.model
        dim = self.dim
        out = np.zeros((len(blobs), dim), dtype=np.float32)
        failed: dict[int, str] = {}
        for start in range(0, len(blobs), self.batch_size):
            images: list[object] = []
            positions: list[int] = []
            for i in range(start, min(start + self.batch_size, len(blobs))):
                try:
                    images.append(decode_image(bytes(blobs[i])))
                    positions.append(i)
                except Exception as exc:
                    if not is_item_error(exc):
                        raise
                    failed[i] = reason_of(exc)
            if images:
                out[positions] = self._encode_images(model, images)
        return MediaEncoded(l2_normalise(out), dict(sorted(failed.items())))

    def _encode_images(self, model: Any, images: list[object]) -> np.ndarray:
        import torch

        previous = torch.get_num_threads()
        if self.torch_threads is not None:
            torch.set_num_threads(self.torch_threads)
        try:
            vectors = model.encode(images, batch_size=self.batch_size, show_progress_bar=False,
                                   convert_to_numpy=True, normalize_embeddings=True)
        finally:
            if self.torch_threads is not None:
                torch.set_num_threads(previous)
        return np.asarray(vectors, dtype=np.float32)

    def encode(self, items: Sequence[bytes]) -> np.ndarray:
        return require_all(self.encode_each(items))

    def encode_pixels(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Unit rows for decoded pictures (uint8 ``(h, w, 3)`` RGB arrays, e.g. video frames)."""
        from PIL import Image

        model = self.model
        out = np.zeros((len(frames), self.dim), dtype=np.float32)
        for start in range(0, len(frames), self.batch_size):
            batch = [Image.fromarray(np.asarray(f, dtype=np.uint8), "RGB")
                     for f in frames[start:start + self.batch_size]]
            out[start:start + len(batch)] = self._encode_images(model, list(batch))
        return l2_normalise(out)
