"""Thumbnails of the tasks in the dashboard's queue head, served by labelloop itself.

The browser never talks to Label Studio: it asks labelloop for
``api/projects/{id}/tasks/{task_id}/thumbnail`` and :func:`task_thumbnail` does the rest —

* the media value is the one labelloop stored for that task of that project (never taken from
  the request: the endpoint is no proxy to arbitrary URLs), read with the label layer's
  :func:`~labelloop.labelconfig.kinds.task_input`;
* the bytes come from the process's :class:`~labelloop.media.fetch.MediaFetcher` with the
  project's Label Studio credentials (the token goes to Label Studio only; SSRF rules, size
  limit, type sniffed from the bytes, its disk cache);
* the picture is decoded and drawn again by :mod:`labelloop.media.thumbnail` (never the
  original bytes: no SVG or HTML reaches the page), and kept in a :class:`ThumbnailCache` keyed
  by the file's content hash.

Audio and text projects have no thumbnail; a value that does not fetch or decode neither. Each
case is a :class:`~labelloop.errors.NoThumbnail` (404) whose ``detail.reason`` says which, and
the page shows a placeholder. :func:`media_cells` is what the queue head shows per task of a
media project instead of a text: a file name (no query string, no host) and the thumbnail URL.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from labelloop.embeddings.media_base import UndecodableMedia
from labelloop.errors import NotFound, NoThumbnail, UnknownProject
from labelloop.labelconfig.kinds import task_input
from labelloop.labelconfig.schema import LabelSchema
from labelloop.media.thumbnail import (
    THUMB_SIDE,
    Thumbnail,
    ThumbnailCache,
    content_hash,
    image_thumbnail,
    video_thumbnail,
)
from labelloop.media.types import MediaKind, MediaSkipped
from labelloop.media.video import VideoLimits
from labelloop.storage.records import Task

if TYPE_CHECKING:
    from labelloop.api.deps import Services

PICTURED: frozenset[str] = frozenset({"image", "video"})  # modalities that have a thumbnail
NAME_CHARS = 80
_WHERE = re.compile(r" \([^()]*://[^()]*\)$")  # the " (http://…)" a fetch reason ends with


def thumbnail_path(project_id: int, task_id: int) -> str:
    """The thumbnail's URL relative to the dashboard page (as the page's own data requests)."""
    return f"api/projects/{project_id}/tasks/{task_id}/thumbnail"


def media_name(value: str) -> str:
    """What the page shows of a media value: its file name only — no host, no query string
    (presigned URLs carry signatures), a ``data:`` URL as its media type."""
    if value[:5].lower() == "data:":
        return value.split(",", 1)[0].split(";", 1)[0][:NAME_CHARS]
    try:
        parts = urlsplit(value)
    except ValueError:
        return "media"
    path = parts.path
    if path.rstrip("/").endswith("/data/local-files"):  # Label Studio's ?d=<path>
        path = (parse_qs(parts.query).get("d") or [""])[0]
    name = posixpath.basename(unquote(path).rstrip("/")) or "media"
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def media_cells(project_id: int, schema: LabelSchema,
                tasks: Mapping[int, Task]) -> dict[int, dict[str, Any]]:
    """Per task of a media project: ``media`` (its modality), ``name`` (:func:`media_name`)
    and ``thumbnail`` (its URL, None for audio or a task without a value)."""
    out: dict[int, dict[str, Any]] = {}
    for tid, task in tasks.items():
        got = task_input(schema, task.data)
        pictured = got is not None and schema.modality in PICTURED
        out[tid] = {"media": schema.modality, "name": media_name(got.value) if got else None,
                    "thumbnail": thumbnail_path(project_id, tid) if pictured else None}
    return out


def task_thumbnail(services: Services, cache: ThumbnailCache, project_id: int, task_id: int, *,
                   max_side: int = THUMB_SIDE) -> Thumbnail:
    """The thumbnail of one task's media (see the module); :class:`UnknownProject`,
    :class:`NotFound` (no such task in that project) or :class:`NoThumbnail`."""
    with services.storage.read() as tx:
        project = tx.get_project(project_id)
        if project is None:
            raise UnknownProject(f"unknown project {project_id}")
        tasks = tx.get_tasks(project_id, [task_id])
    if not tasks:
        raise NotFound(f"no task {task_id} in project {project_id}")
    schema = LabelSchema.from_json(project.schema) if project.schema else None
    modality = schema.modality if schema is not None else "text"
    if schema is None or modality not in PICTURED:
        raise NoThumbnail(f"project {project_id} is a {modality} project: its tasks have no "
                          "picture", detail={"reason": modality})
    value = task_input(schema, tasks[0].data)
    if value is None:
        raise NoThumbnail(f"task {task_id} has no {modality} value ({schema.data_key})",
                          detail={"reason": "no_value"})
    fetcher = services.resources.media_fetcher(services.gateways.credentials(project))
    kind: MediaKind = "video" if modality == "video" else "image"
    try:
        media = fetcher.fetch(value.value, task_id=task_id, project_id=project_id, kind=kind)
    except MediaSkipped as exc:
        skip = exc.skip
        raise NoThumbnail(f"task {task_id}'s {modality} did not fetch: {skip.code}: "
                          f"{_WHERE.sub('', skip.reason)}",
                          detail={"reason": skip.code, "transient": skip.transient}) from None
    key = (content_hash(media.data), max_side)
    thumb = cache.get(key)
    if thumb is None:
        try:
            thumb = (video_thumbnail(media.data, max_side=max_side,
                                     limits=VideoLimits.from_settings(services.settings))
                     if kind == "video" else image_thumbnail(media.data, max_side=max_side))
        except UndecodableMedia as exc:
            raise NoThumbnail(f"task {task_id}'s {modality} does not decode: {exc.message}",
                              detail={"reason": "undecodable"}) from None
        cache.put(key, thumb)
    return thumb
