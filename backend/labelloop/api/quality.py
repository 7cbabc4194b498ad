"""The label-quality endpoint: ``GET /api/projects/{id}/quality``.

The handler reads the project's labels and computes the report in the thread pool, or answers the
last report while the project's data has not changed (:class:`~labelloop.quality.cache.
ReportCache`, one per app). The JSON shape is documented in :mod:`labelloop.quality.service` and
docs/quality.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from labelloop.api.deps import ServicesDep
from labelloop.api.errors import COMMON_ERRORS, error_responses
from labelloop.inputs import Id, bounded_int
from labelloop.quality.cache import ReportCache
from labelloop.quality.service import DEFAULT_REVIEW_LIMIT

router = APIRouter()
MAX_REVIEW_LIMIT = 5000


def report_cache(request: Request) -> ReportCache:
    """The app's report cache, created on first use (it lives as long as the app)."""
    cache = getattr(request.app.state, "quality_cache", None)
    if cache is None:
        cache = request.app.state.quality_cache = ReportCache()
    return cache


ReportCacheDep = Annotated[ReportCache, Depends(report_cache)]


if TYPE_CHECKING:  # a pydantic-checked int at run time (``bounded_int``), an int to mypy
    ReviewLimit = int
else:
    ReviewLimit = bounded_int(0, MAX_REVIEW_LIMIT, "review_limit")


@router.get("/api/projects/{project_id}/quality",
            responses=error_responses(*COMMON_ERRORS, 403, 404, 422, 503))
async def get_quality(project_id: Annotated[Id, Path()], services: ServicesDep,
                      cache: ReportCacheDep,
                      review_limit: ReviewLimit = DEFAULT_REVIEW_LIMIT) -> dict[str, Any]:
    """Agreement, LLM/model vs human, the audit estimate and the review list of a project
    (for a span project: span F1 between annotators, token kappa/alpha, and the LLM's and the
    model's span precision/recall/F1 per label)."""
    return await run_in_threadpool(cache.report, services.storage, project_id,
                                   review_limit=review_limit)
