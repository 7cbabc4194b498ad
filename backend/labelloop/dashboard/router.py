"""The dashboard: ``GET /`` (one HTML page), its static files, and its data endpoint.

The page is self-contained: plain HTML, CSS and a small script that draws SVG itself (no chart
library, no CDN), shipped as package data under ``labelloop/dashboard/static/``. It lists the
projects from ``/status`` and shows one from ``/api/projects/{id}/dashboard``.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from labelloop.api.deps import ServicesDep
from labelloop.api.errors import COMMON_ERRORS, error_responses
from labelloop.api.quality import ReportCacheDep
from labelloop.dashboard.data import dashboard_data
from labelloop.errors import NotFound
from labelloop.inputs import Id

router = APIRouter()
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".svg": "image/svg+xml", ".html": "text/html; charset=utf-8"}
_NO_STORE = {"Cache-Control": "no-cache"}


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
