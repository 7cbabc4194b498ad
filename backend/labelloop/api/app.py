"""``create_app(settings)``: the FastAPI application, built from one Settings object."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from labelloop import __version__
from labelloop.api.classify import router as classify_router
from labelloop.api.dataset import router as dataset_router
from labelloop.api.deps import Services
from labelloop.api.errors import install_error_handlers
from labelloop.api.metrics import router as metrics_router
from labelloop.api.middleware import (
    BasicAuthMiddleware,
    BodyLimitMiddleware,
    ClientNetworkMiddleware,
    RequestMetricsMiddleware,
    describe_access,
    guards_own_api,
)
from labelloop.api.openapi import install_openapi
from labelloop.api.protocol import router as protocol_router
from labelloop.api.quality import router as quality_router
from labelloop.api.status import router as status_router
from labelloop.api.stream import router as stream_router
from labelloop.api.triplets import router as triplets_router
from labelloop.dashboard.router import router as dashboard_router
from labelloop.embeddings import Embedder
from labelloop.events.ingestor import WebhookIngestor
from labelloop.jobs.registry import default_handlers
from labelloop.jobs.worker import WorkerPool
from labelloop.labelstudio.access import GatewayFactory, GatewayProvider
from labelloop.loop.resources import Resources, preload_job_libraries
from labelloop.metrics import AppMetrics, StorageCollector
from labelloop.predict.base import Predictor
from labelloop.predict.classify import Classifier
from labelloop.predict.service import ServicePredictor
from labelloop.settings import Settings
from labelloop.storage.base import Storage, open_storage
from labelloop.stream.ingest import StreamIngest

log = logging.getLogger(__name__)


@dataclass
class Overrides:
    """Parts a test (or an embedding program) may swap; defaults are the real ones."""

    storage: Storage | None = None
    gateway_factory: GatewayFactory | None = None
    predictor: Callable[[Storage], Predictor] | None = None
    start_worker: bool | None = None
    preload_libraries: bool = True
    embedder: Embedder | None = None


def create_app(settings: Settings, overrides: Overrides | None = None) -> FastAPI:
    ov = overrides or Overrides()
    metrics = AppMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = ov.storage or open_storage(settings.resolved_database_url)
        gateways = GatewayProvider(settings, ov.gateway_factory)
        start_worker = settings.worker_mode == "inprocess" if ov.start_worker is None \
            else ov.start_worker
        resources = Resources(settings, embedder=ov.embedder)
        pool = WorkerPool(storage, settings, default_handlers(settings), gateways=gateways,
                          resources=resources) if start_worker else None
        predictor = ov.predictor(storage) if ov.predictor else \
            ServicePredictor(storage, resources, settings)
        wake = pool.wake if pool else (lambda: None)
        ingestor = WebhookIngestor(storage, settings, on_jobs=wake)
        app.state.services = Services(settings, storage, gateways, predictor, ingestor, wake,
                                      resources, StreamIngest(storage, settings, wake=wake),
                                      Classifier(storage, resources, settings,
                                                 embedder=resources.request_embedder))
        collector = StorageCollector(storage)
        metrics.registry.register(collector)
        _log_startup(settings, storage, pool)
        if pool and ov.preload_libraries:
            # uvicorn listens only after this: the GIL-heavy imports are over before any request
            await asyncio.to_thread(preload_job_libraries)
        # Everything imported and built so far lives as long as the process: move it out of the
        # garbage collector's view, so a full collection does not walk it (measured: ~200 ms
        # stalls in webhook acks otherwise).
        gc.collect()
        gc.freeze()
        ingestor.start()
        if pool:
            pool.start()
        try:
            yield
        finally:
            metrics.registry.unregister(collector)
            ingestor.stop()
            if pool:
                pool.stop()
            resources.close()
            if ov.storage is None:
                storage.close()

    app = FastAPI(title="labelloop", version=__version__, lifespan=lifespan,
                  description="LLM-assisted active-learning ML backend for Label Studio")
    app.state.metrics = metrics
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(protocol_router)
    app.include_router(status_router)
    app.include_router(quality_router)
    app.include_router(dataset_router)
    app.include_router(stream_router)
    app.include_router(triplets_router)
    app.include_router(classify_router)
    app.include_router(metrics_router)
    app.include_router(dashboard_router)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    if settings.basic_auth_user:
        app.add_middleware(BasicAuthMiddleware, settings=settings)
    elif guards_own_api(settings):
        app.add_middleware(ClientNetworkMiddleware, settings=settings)
    # added last, so outermost: it also counts the requests auth or the body limit refuse
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    return app


def _log_startup(settings: Settings, storage: Storage, pool: WorkerPool | None) -> None:
    log.info("labelloop %s: storage %s (%s)", __version__, storage.dialect,
             _safe_url(storage.url))
    if pool:
        log.info("jobs: in-process worker, %d thread(s)", len(pool.workers))
    else:
        log.info("jobs: not run by this process (worker mode %s): start `labelloop worker`",
                 settings.worker_mode)
    for line in settings.describe_off():
        log.info("%s", line)
    log.info("%s", describe_access(settings))


def _safe_url(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
