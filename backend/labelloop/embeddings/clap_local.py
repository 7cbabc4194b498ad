"""A configured CLAP audio model through transformers, from local files only.

``LABELLOOP_AUDIO_EMBEDDING_MODEL`` names a folder holding a Hugging Face CLAP model and its
feature extractor (what ``ClapModel.save_pretrained`` and ``ClapProcessor.save_pretrained``
write: ``config.json``, the weights, ``preprocessor_config.json``), or a hub name already in the
local Hugging Face cache: loading never downloads (``local_files_only``). Only the audio tower
and the feature extractor are used (no tokenizer). The model loads on the first call that needs
it, never at import or when the embedder is built.

A file is decoded by the built-in embedder's WAV decoder (:func:`decode_wav`, so what counts as
undecodable is the same for both), resampled to the feature extractor's rate
(``scipy.signal.resample_poly``), and cut into consecutive windows of the extractor's length
(10 s for the LAION models), at most ``max_windows`` of them (a last window shorter than a
quarter of a window is dropped when there are others). Each window is one row of
``get_audio_features``; a file's vector is the mean of its windows' unit rows, L2-normalised.
The windows are cut here, and ``is_longer`` is passed as false, because the extractor's own
handling of longer audio picks random crops (and, for fused models, marks a random item of the
batch as longer): here a file's vector depends on that file alone, whatever the batch.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.embeddings.audio_builtin import decode_wav
from labelloop.embeddings.base import EmbeddingModelUnavailable, l2_normalise
from labelloop.embeddings.media_base import (
    MediaEncoded,
    Modality,
    UndecodableMedia,
    check_items,
    require_all,
)
from labelloop.skips import is_item_error, reason_of

MIN_TAIL = 0.25  # of a window: a shorter last window adds padding, not sound


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Mono samples at ``rate`` resampled to ``target`` (polyphase), as float32."""
    if rate != target:
        from scipy.signal import resample_poly

        g = math.gcd(target, rate)
        x = resample_poly(x, target // g, rate // g)
    return np.asarray(x, dtype=np.float32)


def windows(x: np.ndarray, *, size: int, max_windows: int) -> list[np.ndarray]:
    """Consecutive ``size``-sample windows of ``x`` (at most ``max_windows``; a short tail is
    dropped unless it is all there is)."""
    out = [x[i:i + size] for i in range(0, max(len(x), 1), size)][:max_windows]
    if len(out) > 1 and len(out[-1]) < MIN_TAIL * size:
        out.pop()
    return out


class ClapAudioEmbedder:
    """A :class:`~labelloop.embeddings.media_base.MediaEmbedder` over a local CLAP model.

    ``model``: a local folder, or a hub name present in the local cache.
    ``batch_size``: windows per forward pass. ``max_windows``: windows embedded per file.
    ``torch_threads``: intra-op threads while encoding (None: torch's own default).
    """

    def __init__(self, model: str | Path, *, batch_size: int = 16, max_windows: int = 6,
                 device: str = "cpu", torch_threads: int | None = None) -> None:
        if batch_size < 1 or max_windows < 1:
            raise ValueError(f"batch_size and max_windows must be >= 1, got {batch_size} and "
                             f"{max_windows}")
        self.model_ref = str(model)
        self.batch_size = batch_size
        self.max_windows = max_windows
        self.device = device
        self.torch_threads = torch_threads
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        # the model and how a file becomes windows: a change of either is another vector space
        return f"transformers-clap-audio:{self.model_ref}:windows{self.max_windows}-mean"

    @property
    def modality(self) -> Modality:
        return "audio"

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)

    @property
    def model(self) -> Any:
        """The loaded ``ClapModel`` (loaded on first use)."""
        return self._load_once()[0]

    @property
    def feature_extractor(self) -> Any:
        """The loaded ``ClapFeatureExtractor`` (loaded on first use)."""
        return self._load_once()[1]

    def _load_once(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> tuple[Any, Any]:
        path = Path(self.model_ref).expanduser()
        looks_local = path.is_absolute() or self.model_ref.startswith(".") or path.exists()
        if looks_local and not path.is_dir():
            raise EmbeddingModelUnavailable(f"the audio embedding model folder {path} does not "
                                            "exist")
        try:
            from transformers import AutoConfig, ClapFeatureExtractor, ClapModel
        except ImportError as exc:
            raise EmbeddingModelUnavailable(
                "transformers is not installed: pip install transformers") from exc
        ref = str(path) if looks_local else self.model_ref
        what = f"the audio embedding model {self.model_ref!r}"
        try:
            config = AutoConfig.from_pretrained(ref, local_files_only=True)
            if config.model_type != "clap":
                raise EmbeddingModelUnavailable(
                    f"{what} is not a CLAP model (its config says model_type "
                    f"{config.model_type!r}): LABELLOOP_AUDIO_EMBEDDING_MODEL takes a ClapModel")
            model: Any = ClapModel.from_pretrained(ref, local_files_only=True)
            model = model.to(self.device).eval()
            extractor = ClapFeatureExtractor.from_pretrained(ref, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise EmbeddingModelUnavailable(
                f"cannot load {what} (a ClapModel and its feature extractor) from local files: "
                f"{exc}") from exc
        return model, extractor

    def _windows_of(self, data: bytes) -> list[np.ndarray]:
        extractor = self.feature_extractor
        rate, size = int(extractor.sampling_rate), int(extractor.nb_max_samples)
        x, got = decode_wav(data, max_seconds=self.max_windows * size / rate)
        return windows(resample(x, got, rate), size=size, max_windows=self.max_windows)

    def encode_each(self, items: Sequence[bytes]) -> MediaEncoded:
        blobs = check_items(items)
        dim = self.dim
        out = np.zeros((len(blobs), dim), dtype=np.float32)
        failed: dict[int, str] = {}
        for start in range(0, len(blobs), self.batch_size):
            owners: list[int] = []
            chunks: list[np.ndarray] = []
            for i in range(start, min(start + self.batch_size, len(blobs))):
                try:
                    if not isinstance(blobs[i], (bytes, bytearray, memoryview)):
                        raise UndecodableMedia(f"item is {type(blobs[i]).__name__}, not bytes")
                    got = self._windows_of(bytes(blobs[i]))
                except Exception as exc:
                    if not is_item_error(exc):
                        raise
                    failed[i] = reason_of(exc)
                    continue
                owners += [i] * len(got)
                chunks += got
            for first in range(0, len(chunks), self.batch_size):
                rows = self.encode_windows(chunks[first:first + self.batch_size])
                np.add.at(out, owners[first:first + self.batch_size], rows)
        return MediaEncoded(l2_normalise(out), dict(sorted(failed.items())))

    def encode_windows(self, chunks: Sequence[np.ndarray]) -> np.ndarray:
        """Unit rows of ``get_audio_features`` for mono windows at the extractor's rate (each
        at most its length), one forward pass."""
        import torch

        extractor, model = self.feature_extractor, self.model
        inputs = extractor([np.asarray(c, dtype=np.float32) for c in chunks],
                           sampling_rate=extractor.sampling_rate, return_tensors="pt")
        features = inputs["input_features"].to(device=self.device, dtype=model.dtype)
        not_longer = torch.zeros((len(chunks), 1), dtype=torch.bool, device=self.device)
        previous = torch.get_num_threads()
        if self.torch_threads is not None:
            torch.set_num_threads(self.torch_threads)
        try:
            with torch.inference_mode():
                got = model.get_audio_features(input_features=features, is_longer=not_longer)
        finally:
            if self.torch_threads is not None:
                torch.set_num_threads(previous)
        vectors = got if isinstance(got, torch.Tensor) else got.pooler_output
        return l2_normalise(vectors.float().cpu().numpy())

    def encode(self, items: Sequence[bytes]) -> np.ndarray:
        return require_all(self.encode_each(items))
