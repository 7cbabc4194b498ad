"""Video embeddings: frames sampled from the clip, embedded by an image embedder, mean-pooled.

A :class:`VideoEmbedder` wraps the project's image embedder (the built-in HOG + colour one, or a
configured CLIP model) and keeps the :class:`~labelloop.embeddings.media_base.MediaEmbedder`
contract for video files: :func:`labelloop.media.video.sample_frames` takes frames at
``LABELLOOP_VIDEO_FPS`` (at most ``LABELLOOP_VIDEO_MAX_FRAMES``, spread evenly over longer
clips), each frame gets the image embedder's unit vector, and the clip's vector is their mean,
L2-normalised: the average look of the clip, blind to the order of its frames.

An image embedder that offers ``encode_pixels`` (:class:`FrameEmbedder`: both of labelloop's)
gets the decoded frames as arrays; any other gets them as PNG files through ``encode``. A video
that does not decode within the limits (corrupt, not MP4/WebM, too large a frame, too slow) is
a skip with its reason, like an undecodable image. The name is the frame sampling's parameters
and the image embedder's name (it keys the embedding cache)::

    embedder = VideoEmbedder(BuiltinImageEmbedder(), limits=VideoLimits.from_settings(s))
    encoded = embedder.encode_each(clips)      # MediaEncoded(vectors, failed)
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from labelloop.embeddings.base import l2_normalise
from labelloop.embeddings.media_base import (
    MediaEmbedder,
    MediaEncoded,
    Modality,
    UndecodableMedia,
    encode_per_item,
    require_all,
)
from labelloop.media.video import DEFAULT_LIMITS, VideoLimits, sample_frames


@runtime_checkable
class FrameEmbedder(Protocol):
    def encode_pixels(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Unit rows for uint8 ``(h, w, 3)`` RGB arrays, one per frame, in order."""
        ...


def pool_frames(vectors: np.ndarray) -> np.ndarray:
    """One clip's vector from its frames' ``(n, dim)`` vectors: the mean, unit length (a zero
    mean, frames that cancel out, stays zero)."""
    if vectors.ndim != 2 or len(vectors) == 0:
        raise ValueError(f"expected (n >= 1, dim) frame vectors, got shape {vectors.shape}")
    return l2_normalise(vectors.astype(np.float64).mean(axis=0, keepdims=True))[0]


class VideoEmbedder:
    """A :class:`~labelloop.embeddings.media_base.MediaEmbedder` for video (see the module).

    ``image``: the embedder of the frames (``modality`` ``"image"``); ``limits``: what is
    sampled and what is refused (:class:`~labelloop.media.video.VideoLimits`).
    """

    def __init__(self, image: MediaEmbedder, *, limits: VideoLimits = DEFAULT_LIMITS) -> None:
        if image.modality != "image":
            raise ValueError(f"frames need an image embedder, not a {image.modality} one")
        self.image = image
        self.limits = limits

    @property
    def name(self) -> str:
        return f"labelloop/video-mean-v1:{self.limits.key}+{self.image.name}"

    @property
    def dim(self) -> int:
        return self.image.dim

    @property
    def modality(self) -> Modality:
        return "video"

    def frame_vectors(self, data: bytes) -> np.ndarray:
        """The unit ``(n, dim)`` vectors of the frames sampled from one video file."""
        frames = sample_frames(data, limits=self.limits).frames
        if isinstance(self.image, FrameEmbedder):
            return np.asarray(self.image.encode_pixels(list(frames)), dtype=np.float32)
        return self.image.encode([_png(f) for f in frames])

    def features(self, data: bytes) -> np.ndarray:
        """One video file's pooled ``(dim,)`` vector."""
        pooled = pool_frames(self.frame_vectors(data))
        if not pooled.any():
            raise UndecodableMedia("the video's frame vectors cancel out (no direction)")
        return pooled

    def encode_each(self, items: Sequence[bytes]) -> MediaEncoded:
        return encode_per_item(items, self.features, self.dim)

    def encode(self, items: Sequence[bytes]) -> np.ndarray:
        return require_all(self.encode_each(items))


def _png(frame: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame, "RGB").save(buf, format="PNG")
    return buf.getvalue()
