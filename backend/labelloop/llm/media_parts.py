"""What an LLM is shown for an image, audio or video task: content parts built from the bytes.

A :class:`MediaInput` is the bytes of one task (an image, an audio file, or a video's frames as
images). The messages of a request hold *placeholder* parts that name each item by its content
hash (and, for images, the resize bound)::

    {"type": "image_url", "image_url": {"url": "labelloop-media:<sha256>?side=768"}}
    {"type": "input_audio", "input_audio": {"data": "labelloop-media:<sha256>?s=3.0",
                                            "format": "wav"}}

so that the cache key (:func:`labelloop.llm.calls.cache_key`) is the content hash + prompt +
model, whatever URL the bytes came from and without hashing megabytes of base64. Just before a
call, :func:`render_parts` builds the real parts (an image resized so its longest side is at most
``max_side``, never upscaled, re-encoded as JPEG, or PNG when it has transparency, as a
``data:`` URL; audio as base64 WAV or MP3) and :meth:`ChatRequest.payload
<labelloop.llm.chat.ChatRequest.payload>` puts them in place of the placeholders.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from labelloop.errors import InvalidInput
from labelloop.llm.errors import LLMError
from labelloop.media.sniff import sniff
from labelloop.media.types import Media, MediaKind

PREFIX = "labelloop-media:"
Capability = Literal["image", "audio"]
AUDIO_FORMATS = {"audio/wav": "wav", "audio/mpeg": "mp3"}
"""The formats OpenAI's ``input_audio`` takes, by sniffed type."""
KEPT_MODES = {"PNG": ("RGB", "RGBA", "L", "LA", "P"), "JPEG": ("RGB", "L")}
"""Images sent as they are when within the bound: a format and mode every server decodes."""
_PLACEHOLDER = re.compile(rf"^{re.escape(PREFIX)}([0-9a-f]{{64}})(?:\?(side|s)=([0-9.]+))?$")


class MediaUnreadable(InvalidInput):
    """The bytes cannot be turned into a content part (an image Pillow cannot decode, audio in
    a format ``input_audio`` does not take). An item error: that task is skipped with the
    reason, the others go on."""

    code = "media_unreadable"


@dataclass(frozen=True)
class MediaInput:
    """The media of one task: one image, one audio file, or a video's frames (images, in
    order). ``content_type``: the sniffed type of an audio file (sniffed here when None)."""

    kind: MediaKind
    items: tuple[bytes, ...]
    content_type: str | None = None

    def __post_init__(self) -> None:
        if not self.items or not all(isinstance(x, (bytes, bytearray)) for x in self.items):
            raise InvalidInput("media input needs at least one byte string")
        if self.kind != "video" and len(self.items) != 1:
            raise InvalidInput(f"{self.kind} media is one file, not {len(self.items)}")

    @classmethod
    def image(cls, data: bytes) -> MediaInput:
        return cls("image", (bytes(data),))

    @classmethod
    def audio(cls, data: bytes, content_type: str | None = None) -> MediaInput:
        return cls("audio", (bytes(data),), content_type)

    @classmethod
    def frames(cls, frames: Sequence[bytes]) -> MediaInput:
        """A video as frames (image bytes, in order); the LLM sees a few of them."""
        if isinstance(frames, (bytes, bytearray)):
            raise InvalidInput("frames must be a sequence of image byte strings")
        return cls("video", tuple(bytes(f) for f in frames))

    @classmethod
    def from_media(cls, media: Media, kind: MediaKind) -> MediaInput:
        """From what the media fetcher returned (for video, pass the frames to :meth:`frames`
        instead: the LLM is shown images)."""
        if kind == "video":
            raise InvalidInput("a video is shown to the LLM as frames: MediaInput.frames(...)")
        return cls(kind, (media.data,), media.content_type if kind == "audio" else None)

    @property
    def capability(self) -> Capability:
        """The endpoint capability it needs: video frames are images."""
        return "audio" if self.kind == "audio" else "image"

    @cached_property
    def hashes(self) -> tuple[str, ...]:
        """SHA-256 of each item's bytes (``embeddings.media_base.media_hash``)."""
        return tuple(hashlib.sha256(x).hexdigest() for x in self.items)


def shown_frames(n: int, k: int) -> list[int]:
    """``k`` positions spread evenly over ``n`` frames (first and last included; the middle
    one when ``k == 1``)."""
    if k >= n:
        return list(range(n))
    if k <= 1:
        return [n // 2]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def describe(media: MediaInput, *, max_frames: int) -> str:
    """What the prompt's ``$media`` says the LLM is shown."""
    if media.kind == "audio":
        return "audio recording"
    if media.kind == "video":
        n = len(shown_frames(len(media.items), max_frames))
        return "image" if n == 1 else f"video, shown as {n} frames in order"
    return "image"


def placeholder_parts(media: MediaInput, *, max_side: int,
                      max_frames: int) -> list[dict[str, Any]]:
    """The content parts of ``media`` as the request holds them (and the cache key sees)."""
    if media.kind == "audio":
        fmt = AUDIO_FORMATS.get(_audio_type(media), "wav")
        seconds = audio_seconds(media.items[0], fmt)
        return [{"type": "input_audio", "input_audio": {
            "data": f"{PREFIX}{media.hashes[0]}?s={seconds:.1f}", "format": fmt}}]
    return [{"type": "image_url", "image_url": {"url": f"{PREFIX}{media.hashes[i]}?side={max_side}"}}
            for i in shown_frames(len(media.items), max_frames)]


def render_parts(media: MediaInput, *, max_side: int,
                 max_frames: int) -> dict[str, dict[str, Any]]:
    """Placeholder string → the real part, for every part :func:`placeholder_parts` gives.
    CPU work (decoding and resizing): run it in a thread. Raises :class:`MediaUnreadable`."""
    out: dict[str, dict[str, Any]] = {}
    for part in placeholder_parts(media, max_side=max_side, max_frames=max_frames):
        if part["type"] == "input_audio":
            key = part["input_audio"]["data"]
            fmt = AUDIO_FORMATS.get(_audio_type(media))
            if fmt is None:
                raise MediaUnreadable(f"input_audio takes WAV or MP3; this audio is "
                                      f"{_audio_type(media)}")
            data = base64.b64encode(media.items[0]).decode("ascii")
            out[key] = {"type": "input_audio", "input_audio": {"data": data, "format": fmt}}
        else:
            key = part["image_url"]["url"]
            item = media.items[media.hashes.index(key[len(PREFIX):len(PREFIX) + 64])]
            out[key] = {"type": "image_url", "image_url": {
                "url": image_data_url(item, max_side=max_side)}}
    return out


def image_data_url(data: bytes, *, max_side: int) -> str:
    """``data:<type>;base64,…`` of the image, its longest side at most ``max_side``."""
    encoded, mime = resize_image(data, max_side=max_side)
    return f"data:{mime};base64,{base64.b64encode(encoded).decode('ascii')}"


def resize_image(data: bytes, *, max_side: int) -> tuple[bytes, str]:
    """The image's bytes and type as sent: unchanged when it is a plain PNG or JPEG within the
    bound, else decoded (first frame, EXIF orientation applied), shrunk to fit ``max_side``
    (never enlarged) and re-encoded: PNG when it has transparency, else JPEG (quality 90)."""
    from PIL import Image, ImageOps  # imported on first use: text-only runs never need it

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, (w, h) = img.format, img.size
            turned = img.getexif().get(0x0112, 1) not in (None, 1)
            if (max(w, h) <= max_side and not turned and fmt in KEPT_MODES
                    and img.mode in KEPT_MODES[fmt]):
                return data, f"image/{fmt.lower()}"
            scale = min(1.0, max_side / max(w, h))
            img.draft(None, (max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))))
            shown = ImageOps.exif_transpose(img) or img
            shown.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise MediaUnreadable(f"the image cannot be decoded: {exc}") from exc
    alpha = shown.mode in ("RGBA", "LA", "PA") or (
        shown.mode == "P" and "transparency" in shown.info)
    shown = shown.convert("RGBA" if alpha else "RGB")
    shown.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    if alpha:
        shown.save(buf, format="PNG", optimize=False)
        return buf.getvalue(), "image/png"
    shown.save(buf, format="JPEG", quality=90)
    return buf.getvalue(), "image/jpeg"


def audio_seconds(data: bytes, fmt: str) -> float:
    """The recording's length, for token estimates: the WAV header's, else at 128 kbit/s."""
    if fmt == "wav":
        try:
            with wave.open(io.BytesIO(data)) as w:
                return w.getnframes() / float(w.getframerate() or 1)
        except (wave.Error, EOFError, ValueError):
            return len(data) / 32000.0
    return len(data) / 16000.0


def part_tokens(part: dict[str, Any]) -> int | None:
    """A rough prompt-token count for a media part (None: not a media part). Images: OpenAI's
    high-detail count for a square image of the bound (85 + 170 per 512-px tile; 765 for a
    real ``data:`` URL); audio: 10 tokens a second."""
    if part.get("type") == "image_url":
        m = _PLACEHOLDER.match(str((part.get("image_url") or {}).get("url") or ""))
        side = float(m.group(3)) if m and m.group(2) == "side" else 768.0
        return 85 + 170 * math.ceil(min(side, 768.0) / 512) ** 2
    if part.get("type") == "input_audio":
        m = _PLACEHOLDER.match(str((part.get("input_audio") or {}).get("data") or ""))
        seconds = float(m.group(3)) if m and m.group(2) == "s" else 30.0
        return max(1, math.ceil(10 * seconds))
    return None


def is_placeholder(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def with_media(messages: list[dict[str, Any]],
               media: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with every placeholder part replaced by its real part; :class:`LLMError`
    when one was not rendered (a placeholder is never sent)."""
    out = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            out.append(message)
            continue
        parts = []
        for part in content:
            inner = part.get("image_url") or part.get("input_audio") or {}
            ref = (inner.get("url") or inner.get("data")) if isinstance(inner, dict) else None
            if is_placeholder(ref):
                if ref not in media:
                    raise LLMError(f"media part {str(ref)[:90]} was not rendered before the call")
                parts.append(media[ref])
            else:
                parts.append(part)
        out.append({**message, "content": parts})
    return out


def _audio_type(media: MediaInput) -> str:
    return media.content_type or sniff(media.items[0])
