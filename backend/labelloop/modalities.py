"""What a task is about (its modality), and the one registry of the modalities labelloop serves.

A labeling config's object tag says what a task's ``$field`` holds: ``<Text>`` a text,
``<Image>`` an image, ``<Audio>``/``<AudioPlus>`` a recording, ``<Video>`` a clip. The label
layer records it in :attr:`labelloop.labelconfig.schema.LabelSchema.modality` when it parses a
config, and :func:`labelloop.labelconfig.kinds.task_input` gives each task's input as a
:class:`TaskInput` (the text itself, or the media value as Label Studio stores it: an upload
path, a URL, a ``data:`` URL, a cloud URI).

:data:`SERVED` says, per served modality, which object tags carry it, what the media fetcher
must find in the bytes (:class:`~labelloop.media.types.MediaKind`; None: the value *is* the
input, a text) and which embedder makes its vectors (None: the process's text embedder). The
loop's input seam (:mod:`labelloop.loop.inputs`) dispatches on it and nowhere else, so serving a
new modality is one entry here, with its embedder's factory, as video's::

    "video": ModalityInput(("Video",), fetch="video", embedder=_video_embedder),

(and its line in :data:`PENDING`, if it had one, removed). Light on purpose: the label layer
imports it, so embedders are imported by their factories, when a job first needs one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from labelloop.media.types import MediaKind

if TYPE_CHECKING:
    from labelloop.embeddings.media_base import MediaEmbedder
    from labelloop.settings import Settings

Modality = Literal["text", "image", "audio", "video"]


@dataclass(frozen=True)
class TaskInput:
    """What one task is about: its ``modality`` and ``value``, the text itself or the media
    value as stored in the task's data (fetched by :class:`labelloop.media.fetch.MediaFetcher`)."""

    modality: Modality
    value: str

    @property
    def is_text(self) -> bool:
        return self.modality == "text"


@dataclass(frozen=True)
class ModalityInput:
    """How the tasks of one modality become vectors. ``object_tags``: the Label Studio object
    tags that carry it; ``fetch``: the media kind the fetched bytes must be (None: the value is
    the text); ``embedder``: builds the modality's media embedder from the settings (None: the
    process's text embedder, :attr:`labelloop.loop.resources.Resources.embedder`)."""

    object_tags: tuple[str, ...]
    fetch: MediaKind | None = None
    embedder: Callable[[Settings], MediaEmbedder] | None = None


def _image_embedder(settings: Settings) -> MediaEmbedder:
    from labelloop.embeddings.media_factory import media_embedder

    return media_embedder(settings, "image")


def _audio_embedder(settings: Settings) -> MediaEmbedder:
    from labelloop.embeddings.media_factory import media_embedder

    return media_embedder(settings, "audio")


def _video_embedder(settings: Settings) -> MediaEmbedder:
    """Frames sampled at ``LABELLOOP_VIDEO_FPS`` (PyAV), embedded by the image embedder, pooled."""
    from labelloop.embeddings.media_factory import media_embedder

    return media_embedder(settings, "video")


SERVED: Mapping[Modality, ModalityInput] = {
    "text": ModalityInput(("Text",)),
    "image": ModalityInput(("Image",), fetch="image", embedder=_image_embedder),
    "audio": ModalityInput(("Audio", "AudioPlus"), fetch="audio", embedder=_audio_embedder),
    "video": ModalityInput(("Video",), fetch="video", embedder=_video_embedder),
}
"""The served modalities: the input seam's dispatch table."""

PENDING: Mapping[str, str] = {}
"""Object tags of modalities not served yet, with the reason ``/setup`` and ``/status`` give."""


def object_modality(tag: str) -> Modality | None:
    """The served modality an object tag carries (None: not served)."""
    for modality, spec in SERVED.items():
        if tag in spec.object_tags:
            return modality
    return None


def pending_reason(tag: str) -> str | None:
    """Why an object tag's modality is not served yet (None: served, or not a known one)."""
    return None if object_modality(tag) is not None else PENDING.get(tag)


def served_object_tags() -> list[str]:
    """Every object tag some modality serves, in registry order."""
    return [tag for spec in SERVED.values() for tag in spec.object_tags]


def modality_input(modality: Modality) -> ModalityInput:
    """The registry entry of a served modality; ValueError for one not served."""
    spec = SERVED.get(modality)
    if spec is None:
        raise ValueError(f"modality {modality!r} is not served")
    return spec
