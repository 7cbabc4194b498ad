"""The content type of media bytes, from their magic numbers (never the extension).

Label Studio serves a file with the type its extension says (a WAV uploaded as ``tone.mp3`` is
served as ``audio/mpeg``) and accepts a PNG in an audio project, so the bytes decide.
"""

from __future__ import annotations

from labelloop.media.types import MediaKind

UNKNOWN = "application/octet-stream"

# which sniffed types each kind accepts; MP4 and WebM containers hold audio or video alike
ACCEPTS: dict[MediaKind, frozenset[str]] = {
    "image": frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp",
                        "image/tiff"}),
    "audio": frozenset({"audio/wav", "audio/flac", "audio/ogg", "audio/mpeg", "audio/aac",
                        "audio/mp4", "video/mp4", "video/webm"}),
    "video": frozenset({"video/mp4", "video/webm", "video/x-matroska", "audio/mp4"}),
}


def sniff(data: bytes) -> str:
    """The media type the first bytes of ``data`` announce, or ``application/octet-stream``."""
    head = data[:64]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:2] == b"BM" and len(head) >= 14:
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:12] in (b"M4A ", b"M4B ") else "video/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm" if b"webm" in head else "video/x-matroska"
    if head[:3] == b"ID3":
        return "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 0x3
        return "audio/aac" if layer == 0 else "audio/mpeg"  # ADTS has layer 00
    return UNKNOWN


def wrong_kind(content_type: str, kind: MediaKind | None) -> str | None:
    """Why bytes of ``content_type`` are not ``kind`` media, or None when they are (or when the
    caller expects no particular kind)."""
    if kind is None or content_type in ACCEPTS[kind]:
        return None
    if content_type == UNKNOWN:
        return f"expected {kind}, the bytes are no known {kind} format"
    return f"expected {kind}, the bytes are {content_type}"
