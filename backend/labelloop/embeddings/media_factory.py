"""The media embedder a project of a modality uses, from the settings (one place to wire).

Images: the configured ``image_embedding_model`` when set, else the built-in HOG + colour
embedder; audio: the configured CLAP ``audio_embedding_model`` when set, else the built-in
MFCC-statistics embedder; video: frames sampled as the settings say (``video_fps``,
``video_max_frames``), embedded by the image embedder, mean-pooled.
Building loads nothing: a configured model loads on its first ``encode``.
"""

from __future__ import annotations

from labelloop.embeddings.audio_builtin import BuiltinAudioEmbedder
from labelloop.embeddings.clap_local import ClapAudioEmbedder
from labelloop.embeddings.clip_local import SentenceTransformerImageEmbedder
from labelloop.embeddings.image_builtin import BuiltinImageEmbedder
from labelloop.embeddings.media_base import MediaEmbedder, Modality
from labelloop.embeddings.video import VideoEmbedder
from labelloop.media.video import VideoLimits
from labelloop.settings import Settings


def media_embedder(settings: Settings, modality: Modality) -> MediaEmbedder:
    """The embedder for ``modality`` under ``settings``."""
    if modality == "image":
        if settings.image_embedding_model:
            return SentenceTransformerImageEmbedder(
                settings.image_embedding_model, batch_size=settings.image_embedding_batch_size,
                torch_threads=settings.embedding_threads)
        return BuiltinImageEmbedder()
    if modality == "audio":
        if settings.audio_embedding_model:
            return ClapAudioEmbedder(
                settings.audio_embedding_model, batch_size=settings.audio_embedding_batch_size,
                torch_threads=settings.embedding_threads)
        return BuiltinAudioEmbedder()
    if modality == "video":
        return VideoEmbedder(media_embedder(settings, "image"),
                             limits=VideoLimits.from_settings(settings))
    raise ValueError(f"no embedder for modality {modality!r}")
