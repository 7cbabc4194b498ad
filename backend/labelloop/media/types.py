"""The records of a fetch: what came back (:class:`Media`) or why not (:class:`MediaSkip`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from labelloop.errors import InvalidInput

MediaKind = Literal["image", "audio", "video"]
# label_studio: served by the configured Label Studio (token sent); cloud: an s3/gs/azure URI
# resolved through Label Studio; external: another host (allow-listed); data: a data: URL
SourceKind = Literal["label_studio", "cloud", "external", "data"]
SkipCode = Literal[
    "invalid_value",    # not a value labelloop can fetch (unknown scheme, bad data: URL, ...)
    "no_label_studio",  # needs Label Studio (relative path, cloud URI) but none is configured
    "refused",          # host not allowed, link-local/metadata address, too many redirects
    "forbidden",        # 401/403
    "missing",          # 404/410, or Label Studio's 5xx for a missing file
    "too_large",        # over LABELLOOP_MEDIA_MAX_BYTES
    "timeout",          # connect/read timeout, or the whole fetch too slow
    "unreachable",      # connection failed
    "http_error",       # any other status
    "wrong_type",       # the bytes are not the kind the caller expects
]
TRANSIENT: frozenset[SkipCode] = frozenset({"timeout", "unreachable", "http_error"})


@dataclass(frozen=True)
class Media:
    """Fetched bytes. ``content_type`` is sniffed from the bytes (magic numbers), never taken
    from the server or the file name; ``application/octet-stream`` when unknown."""

    data: bytes
    content_type: str
    source: SourceKind
    url: str             # the URL asked for, query string removed (``data:<type>`` for data:)
    cache_hit: bool      # served from the disk cache (after a 304, or an immutable upload)
    bytes_received: int  # body bytes that crossed the network for this fetch (0 on a hit)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class MediaSkip:
    """Why a value gave no bytes. ``transient``: the job may retry it later."""

    code: SkipCode
    reason: str
    value: str  # the value as stored (shortened; data: URLs cut)
    task_id: int | None = None

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


class MediaSkipped(InvalidInput):
    """Raised by :meth:`MediaFetcher.fetch`. An item error (``labelloop.skips.is_item_error``
    is true for it), so a job records the skip and goes on with the other tasks."""

    code = "media_skipped"

    def __init__(self, skip: MediaSkip) -> None:
        super().__init__(str(skip), detail={"code": skip.code, "value": skip.value})
        self.skip = skip


def short(value: str, limit: int = 120) -> str:
    """``value`` for logs and skip records: data: URLs cut after the media type, long values cut."""
    if value[:5].lower() == "data:":
        head = value.split(",", 1)[0]
        return head[:limit] + ",…"
    return value if len(value) <= limit else value[:limit] + "…"
