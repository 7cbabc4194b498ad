"""The label-quality endpoint: ``GET /api/projects/{id}/quality``.

The handler reads one snapshot of the project's labels and computes the report (pure numpy, a
fraction of a second for 10,000 tasks x 5 annotators), in the thread pool. The JSON shape is
documented in :mod:`labelloop.quality.service` and docs/quality.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from labelloop.api.deps import ServicesDep
from labelloop.errors import InvalidInput
from labelloop.quality.service import DEFAULT_REVIEW_LIMIT, project_quality

router = APIRouter()
MAX_REVIEW_LIMIT = 5000


@router.get("/api/projects/{project_id}/quality")
async def get_quality(project_id: int, services: ServicesDep,
                      review_limit: int = DEFAULT_REVIEW_LIMIT) -> dict[str, Any]:
    """Agreement, LLM/model vs human, the audit estimate and the review list of a project."""
    if not 0 <= review_limit <= MAX_REVIEW_LIMIT:
        raise InvalidInput(f"review_limit must lie in 0..{MAX_REVIEW_LIMIT}; got {review_limit}")
    return await run_in_threadpool(project_quality, services.storage, project_id,
                                   review_limit=review_limit)
