"""Small pictures of media, made from decoded pixels (for the dashboard's queue head).

A thumbnail is never the original file passed through: the bytes are decoded by Pillow (only
the raster formats the media fetcher accepts as images: PNG, JPEG, GIF, WebP, BMP, TIFF; never
SVG, EPS or anything a plug-in would hand to another program), the first frame is turned
upright (EXIF orientation), shrunk to fit ``max_side`` (never enlarged) and encoded again —
PNG when it has transparency, JPEG otherwise. Whatever else the file held (scripts, markup,
metadata, further frames) is gone. A video's thumbnail is its middle frame, decoded by
:func:`labelloop.media.video.sample_frames` under the same limits as the loop's.

:class:`ThumbnailCache` keeps the latest thumbnails in memory, keyed by the content hash of the
file they were made from (and the size), so the same file is decoded once::

    thumb = image_thumbnail(media.data, max_side=128)      # Thumbnail(data, content_type, …)
    cache.put(key, thumb); cache.get(key)

Files that do not decode raise :class:`~labelloop.embeddings.media_base.UndecodableMedia`.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from labelloop.embeddings.image_builtin import MAX_PIXELS
from labelloop.embeddings.media_base import UndecodableMedia

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image as PILImage

    from labelloop.media.video import VideoLimits

THUMB_SIDE = 128
JPEG_QUALITY = 85
# Pillow format names of the raster images the fetcher accepts as "image" (media/sniff.py)
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
ThumbnailType = Literal["image/png", "image/jpeg"]


@dataclass(frozen=True)
class Thumbnail:
    """A picture made by labelloop: ``data`` in ``content_type`` (labelloop's own encoding),
    ``width`` × ``height`` pixels (the longest side at most the ``max_side`` asked for),
    ``source_hash`` the SHA-256 of the file it was made from."""

    data: bytes
    content_type: ThumbnailType
    width: int
    height: int
    source_hash: str

    @property
    def etag(self) -> str:
        return f'"{self.source_hash[:32]}-{max(self.width, self.height)}"'


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image_thumbnail(data: bytes, *, max_side: int = THUMB_SIDE,
                    max_pixels: int = MAX_PIXELS) -> Thumbnail:
    """The thumbnail of an image file's bytes (see the module); :class:`UndecodableMedia` when
    Pillow cannot read them as one of :data:`FORMATS` or the image has more than
    ``max_pixels`` pixels."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise UndecodableMedia(f"the image is {width}x{height}, more than "
                                       f"{max_pixels} pixels")
            img.seek(0)
            img.draft(None, (max_side, max_side))  # JPEG: decode at a reduced scale
            upright = ImageOps.exif_transpose(img)
            upright.load()
            return _encode(upright, max_side=max_side, source_hash=content_hash(data))
    except UnidentifiedImageError as exc:
        raise UndecodableMedia("not an image labelloop shows (PNG, JPEG, GIF, WebP, BMP or "
                               "TIFF)") from exc
    except UndecodableMedia:
        raise
    except Exception as exc:  # a parser of untrusted bytes: whatever it raises is the file's
        raise UndecodableMedia(f"the image cannot be decoded: {exc}") from exc


def frame_thumbnail(frame: np.ndarray, *, max_side: int = THUMB_SIDE,
                    source_hash: str) -> Thumbnail:
    """The thumbnail of one RGB frame, uint8 ``(h, w, 3)``."""
    from PIL import Image

    return _encode(Image.fromarray(frame), max_side=max_side,
                   source_hash=source_hash)


def video_thumbnail(data: bytes, *, max_side: int = THUMB_SIDE,
                    limits: VideoLimits | None = None) -> Thumbnail:
    """The thumbnail of a video file's middle frame; ``limits``' decode timeout and pixel bound
    apply (its rate and frame count do not: one frame is decoded)."""
    from labelloop.media.video import DEFAULT_LIMITS, sample_frames

    one = replace(limits or DEFAULT_LIMITS, fps=None, max_frames=1, max_side=max_side)
    frames = sample_frames(data, limits=one)
    return frame_thumbnail(frames.frames[0], max_side=max_side, source_hash=content_hash(data))


def _encode(img: PILImage, *, max_side: int, source_hash: str) -> Thumbnail:
    from PIL import Image

    alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    shown = img.convert("RGBA" if alpha else "RGB")
    shown.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    if alpha:
        shown.save(buf, format="PNG")
        kind: ThumbnailType = "image/png"
    else:
        shown.save(buf, format="JPEG", quality=JPEG_QUALITY)
        kind = "image/jpeg"
    return Thumbnail(buf.getvalue(), kind, shown.width, shown.height, source_hash)


class ThumbnailCache:
    """The latest thumbnails, at most ``max_bytes`` of them, least recently used dropped first.
    Thread-safe. Keys are the caller's (e.g. ``(content hash, max_side)``)."""

    def __init__(self, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, int], Thumbnail] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple[str, int]) -> Thumbnail | None:
        with self._lock:
            got = self._items.get(key)
            if got is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return got

    def put(self, key: tuple[str, int], thumb: Thumbnail) -> None:
        if len(thumb.data) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old.data)
            self._items[key] = thumb
            self._size += len(thumb.data)
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped.data)
