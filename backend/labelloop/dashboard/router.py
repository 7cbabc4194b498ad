"""The dashboard: ``GET /`` (one HTML page), its static files, and its data endpoint.

The page is self-contained: plain HTML, CSS and a small script that draws SVG itself (no chart
library, no CDN), shipped as package data under ``labelloop/dashboard/static/``. It lists the
projects from ``/status`` and shows one from ``/api/projects/{id}/dashboard``; the queue head of
an image (or video) project shows each task's picture from
``/api/projects/{id}/tasks/{task_id}/thumbnail`` (:mod:`labelloop.dashboard.thumbnails`).
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from labelloop.api.deps import ServicesDep
from labelloop.api.errors import COMMON_ERRORS, error_responses
from labelloop.api.quality import ReportCacheDep
from labelloop.dashboard.data import dashboard_data
from labelloop.dashboard.thumbnails import task_thumbnail
from labelloop.errors import NotFound
from labelloop.inputs import Id
from labelloop.media.thumbnail import ThumbnailCache

router = APIRouter()
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".svg": "image/svg+xml", ".html": "text/html; charset=utf-8"}
_NO_STORE = {"Cache-Control": "no-cache"}
THUMBNAIL_MAX_AGE_S = 300


def _static(name: str) -> bytes:
    """A file of ``dashboard/static`` by plain name (no directories); NotFound otherwise."""
    if "/" in name or "\\" in name or name.startswith(".") or not name.strip():
        raise NotFound(f"no dashboard file {name!r}")
    ref = resources.files("labelloop.dashboard").joinpath("static", name)
    if not ref.is_file():
        raise NotFound(f"no dashboard file {name!r}")
    return ref.read_bytes()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index() -> HTMLResponse:
    return HTMLResponse(_static("index.html"), headers=_NO_STORE)


@router.get("/dashboard/static/{name}", include_in_schema=False)
def static_file(name: Annotated[str, Path(max_length=128)]) -> Response:
    suffix = name[name.rfind("."):] if "." in name else ""
    if suffix not in _TYPES:
        raise NotFound(f"no dashboard file {name!r}")
    return Response(_static(name), media_type=_TYPES[suffix], headers=_NO_STORE)


@router.get("/api/projects/{project_id}/dashboard",
            responses=error_responses(*COMMON_ERRORS, 403, 404, 422, 503))
async def project_dashboard(project_id: Annotated[Id, Path()], services: ServicesDep,
                            cache: ReportCacheDep) -> dict[str, Any]:
    """Status, learning curve, queue head, LLM usage and quality of one project, for the page."""
    return await run_in_threadpool(dashboard_data, services, cache, project_id)


def thumbnail_cache(request: Request) -> ThumbnailCache:
    """The app's thumbnail cache, created on first use (it lives as long as the app)."""
    cache = getattr(request.app.state, "thumbnail_cache", None)
    if cache is None:
        cache = request.app.state.thumbnail_cache = ThumbnailCache()
    return cache


ThumbnailCacheDep = Annotated[ThumbnailCache, Depends(thumbnail_cache)]
_PICTURE = {"content": {"image/png": {}, "image/jpeg": {}},
            "description": "The picture, drawn again by labelloop (at most 128 px a side)."}


@router.get("/api/projects/{project_id}/tasks/{task_id}/thumbnail", response_class=Response,
            responses={200: _PICTURE, 304: {"description": "Not modified (If-None-Match)."},
                       **error_responses(*COMMON_ERRORS, 403, 404, 422, 503)})
async def task_thumbnail_image(project_id: Annotated[Id, Path()],
                               task_id: Annotated[Id, Path()], request: Request,
                               services: ServicesDep, cache: ThumbnailCacheDep) -> Response:
    """A small picture of a task's image (or a video's middle frame), for the queue head.

    The media value is the task's as labelloop stored it, fetched with the project's Label
    Studio credentials; the answer is labelloop's own PNG/JPEG of the decoded pixels. 404
    ``no_thumbnail`` (``detail.reason``) for an audio or text project, a task without a value,
    or media that does not fetch or decode."""
    thumb = await run_in_threadpool(task_thumbnail, services, cache, project_id, task_id)
    headers = {"Cache-Control": f"private, max-age={THUMBNAIL_MAX_AGE_S}", "ETag": thumb.etag,
               "X-Content-Type-Options": "nosniff",
               "Cross-Origin-Resource-Policy": "same-origin",
               "Content-Security-Policy": "default-src 'none'"}
    if thumb.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(thumb.data, media_type=thumb.content_type, headers=headers)
