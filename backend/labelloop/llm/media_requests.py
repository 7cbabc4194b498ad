"""From a media project's task values to what the LLM labeler takes, and whether it may.

The pre-label job of an image, audio or video project calls, per chunk of tasks (the files of
one chunk are held in memory, so keep chunks to a few hundred)::

    off = media_prelabels_off(schema, labeler)          # None, or why not (shown in /status)
    built = media_label_requests(fetcher, schema, task_ids, values, project_id=pid,
                                 frames=video_frames)   # video only: bytes -> frame images
    outcomes = labeler.label_many_sync(schema, built.requests, project_id=pid)
    # built.skipped: {task id: reason}; built.transient: ids worth fetching again later

and reads stored labels under ``labeler.version_for(schema)`` (the media prompts' version).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.media_item import is_media_schema, off_reason
from labelloop.llm.media_parts import Capability, MediaInput
from labelloop.llm.types import LabelRequest
from labelloop.media.types import Media, MediaKind, MediaSkip
from labelloop.skips import is_item_error, reason_of

if TYPE_CHECKING:
    from labelloop.llm.labeler import LLMLabeler

FrameSampler = Callable[[bytes], Sequence[bytes]]
"""A video's bytes → a few of its frames as image bytes (PNG or JPEG), in order."""


class Fetcher(Protocol):
    """What :class:`labelloop.media.fetch.MediaFetcher` offers the pre-label job."""

    def fetch_many(self, values: Sequence[str], *,
                   task_ids: Sequence[int | None] | None = None, project_id: int | None = None,
                   kind: MediaKind | None = None) -> list[Media | MediaSkip]: ...


@dataclass(frozen=True)
class MediaRequests:
    """``requests`` for the tasks whose media was fetched (in input order); ``skipped``
    {task id: why not}; ``transient``: skipped task ids worth fetching again later."""

    requests: list[LabelRequest]
    skipped: dict[int, str] = field(default_factory=dict)
    transient: frozenset[int] = frozenset()


def capability_of(schema: LabelSchema) -> Capability | None:
    """The endpoint capability a media schema needs (video frames are images); None: text."""
    if not is_media_schema(schema):
        return None
    return "audio" if schema.modality == "audio" else "image"


def media_prelabels_off(schema: LabelSchema, labeler: LLMLabeler | None) -> str | None:
    """Why the LLM does not pre-label this media project (None: it does, or it is a text
    project, or no LLM is configured, or the endpoint's check is still to come: it runs on the
    first item). Reads the stored capabilities: no call."""
    kind = capability_of(schema)
    if kind is None or labeler is None:
        return None
    return off_reason(labeler.media_support(kind))


def media_label_requests(fetcher: Fetcher, schema: LabelSchema, task_ids: Sequence[int],
                         values: Sequence[str], *, project_id: int | None = None,
                         frames: FrameSampler | None = None) -> MediaRequests:
    """Fetch each task's media (``values``: as Label Studio stores them) and build its request.
    A fetch that fails, or a video without ``frames``, is a skip with its reason."""
    if len(task_ids) != len(values):
        raise ValueError(f"{len(values)} values but {len(task_ids)} task ids")
    modality = schema.modality
    if modality not in ("image", "audio", "video"):
        raise ValueError(f"not a media schema: modality {modality!r}")
    fetched = fetcher.fetch_many(list(values), task_ids=list(task_ids), project_id=project_id,
                                 kind=modality)
    requests: list[LabelRequest] = []
    skipped: dict[int, str] = {}
    transient: set[int] = set()
    for task_id, got in zip(task_ids, fetched):
        if isinstance(got, MediaSkip):
            skipped[task_id] = f"media not fetched: {got.code}: {got.reason}"
            if got.transient:
                transient.add(task_id)
            continue
        if modality != "video":
            requests.append(LabelRequest(task_id, "", media=MediaInput.from_media(got, modality)))
            continue
        if frames is None:
            skipped[task_id] = "no frame sampler for video: the LLM is not shown this clip"
            continue
        try:
            shown = list(frames(got.data))
        except Exception as exc:
            if not is_item_error(exc):  # about this clip (UndecodableMedia, …), or re-raised
                raise
            skipped[task_id] = f"video frames not decoded: {reason_of(exc)}"
            continue
        if not shown:
            skipped[task_id] = "video frames not decoded: no frame"
            continue
        requests.append(LabelRequest(task_id, "", media=MediaInput.frames(shown)))
    return MediaRequests(requests, skipped, frozenset(transient))
