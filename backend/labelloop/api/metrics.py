"""``GET /metrics``: the app's registry in the Prometheus text format.

A scrape runs the database collector's few grouped queries (in the thread pool) and reads the
in-process counters; it loads no model and calls neither Label Studio nor an LLM. Basic auth, when
configured, applies here as on every endpoint (Prometheus sends it: ``basic_auth`` in the scrape
config).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from labelloop.api.errors import COMMON_ERRORS, error_responses

router = APIRouter()


def metrics_registry(request: Request) -> CollectorRegistry:
    return request.app.state.metrics.registry


RegistryDep = Annotated[CollectorRegistry, Depends(metrics_registry)]


@router.get("/metrics", response_class=Response,
            responses=error_responses(*COMMON_ERRORS, 403, 503))
def metrics(registry: RegistryDep) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
