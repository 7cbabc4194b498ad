"""The Label Studio ML backend protocol: /health, /setup, /predict, /webhook, /versions.

Handlers persist, enqueue and answer; none trains, calls an LLM or calls Label Studio. /health
and /setup touch neither a model nor the network (Label Studio calls both before predictions and
on every settings page load, with 1 s and 3 s timeouts).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from labelloop import __version__
from labelloop.api.bodies import (
    PredictBody,
    PredictRequest,
    SetupBody,
    SetupRequest,
    WebhookEvent,
    documented,
    read_event_body,
)
from labelloop.api.deps import ServicesDep
from labelloop.api.errors import COMMON_ERRORS, error_responses
from labelloop.errors import InvalidInput, UnknownProject
from labelloop.events.parse import parse_task, project_id_of
from labelloop.events.projects import record_project, schema_of
from labelloop.jobs.triggers import Trigger, jobs_for, resync_spec
from labelloop.jobs.types import JobKind, JobStatus
from labelloop.predict.service import published_answer_version
from labelloop.storage.base import Tx
from labelloop.storage.records import Project

log = logging.getLogger(__name__)
router = APIRouter()


def base_version(prefix: str) -> str:
    return f"{prefix}-0"


@router.get("/health", responses=error_responses(*COMMON_ERRORS))
def health() -> dict[str, Any]:
    return {"status": "UP", "model_class": "labelloop", "version": __version__}


@router.post("/setup", openapi_extra=documented(SetupRequest),
             responses=error_responses(400, *COMMON_ERRORS, 422, 503))
async def setup(body: SetupBody, services: ServicesDep) -> dict[str, Any]:
    pid = project_id_of(body.project)
    xml = body.label_config
    trust = services.settings.trust_setup_credentials
    hostname = body.hostname if trust else None
    token = body.access_token if trust else None

    def _write() -> tuple[Project, bool]:
        with services.storage.write() as tx:
            before = tx.get_project(pid)
            project = record_project(tx, pid, label_config=xml, ls_key=str(body.project),
                                     ls_hostname=hostname, ls_token=token)
            specs = []
            if before is None or before.label_config != xml:
                specs = jobs_for({Trigger.PROJECT_SET_UP}, pid, services.settings)
            elif (project.last_synced_at is None and services.gateways.credentials(project)
                  and not _resync_running(tx, pid)):
                # credentials arrived after the first /setup. Not while the first resync runs:
                # Label Studio calls /setup on every settings page load, and a 100,000-task
                # resync takes minutes; each call would queue another full one behind it.
                specs = [resync_spec(pid)]
            created = [tx.enqueue(spec)[1] for spec in specs]
        return project, any(created)

    project, enqueued = await run_in_threadpool(_write)
    if enqueued:
        services.wake()
    return {"model_version": answering_version(services, project)}


def _resync_running(tx: Tx, pid: int) -> bool:
    return any(j.kind is JobKind.RESYNC
               for j in tx.list_jobs(project_id=pid, status=JobStatus.RUNNING, limit=20))


def answering_version(services: ServicesDep, project: Project) -> str:
    """The version /setup and /predict answer with, which Label Studio uses as its re-prediction
    key. Once labelloop published a queue: the version the project shows in Label Studio (when
    labelloop created it, else the published one), so that Label Studio, which asks /predict
    for tasks without a prediction of this version (the quick view does), stores the answers
    under a version that exists and creates no stray one. Before: the LLM's when one is
    configured (its version for the project's task type: span prompts have their own), else the
    base version."""
    published = published_answer_version(project, services.settings.model_version_prefix)
    if published is not None:
        return published
    labeler = services.resources.labeler(services.storage)
    if labeler is not None:
        schema = schema_of(project)
        return labeler.model_version if schema is None else labeler.version_for(schema)
    return base_version(services.settings.model_version_prefix)


@router.post("/predict", openapi_extra=documented(PredictRequest),
             responses=error_responses(400, *COMMON_ERRORS, 404, 422, 503))
async def predict(body: PredictBody, services: ServicesDep) -> dict[str, Any]:
    tasks = []
    for i, raw in enumerate(body.tasks):
        try:
            tasks.append(parse_task(raw.model_dump(), None))
        except InvalidInput as exc:
            raise InvalidInput(f"tasks[{i}]: {exc.message}") from None
    raw_pid = body.project or tasks[0].get("project")
    if raw_pid is None:
        raise InvalidInput("cannot tell the project: no 'project' field and tasks carry none")
    pid = project_id_of(raw_pid)
    xml = body.label_config

    def _write() -> Project:
        with services.storage.write() as tx:
            project = tx.get_project(pid)
            if project is None and not xml:
                raise UnknownProject(f"project {pid} is unknown: connect the backend (/setup) "
                                     "or send 'label_config'")
            if project is None or (xml and xml != project.label_config):
                project = record_project(tx, pid, label_config=xml)
            new = tx.upsert_tasks(pid, [{"id": t["id"], "data": t["data"], "meta": t["meta"],
                                         "original": t.get("original")}
                                        for t in tasks if t["data"] is not None])
            if new:
                for spec in jobs_for({Trigger.TASKS_ADDED}, pid, services.settings):
                    tx.enqueue(spec)
        return project

    project = await run_in_threadpool(_write)
    entries = await services.predictor.predict(project, schema_of(project),
                                               [t["id"] for t in tasks])
    sent = sum(1 for e in entries if e)
    if not project.supported:
        log.info("predict: project %s config unsupported (%s): %d empty answers", pid,
                 project.unsupported_reason, len(entries))
    return {"results": entries, "model_version": answering_version(services, project),
            "count": {"tasks": len(entries), "predictions": sent}}


@router.post("/webhook", openapi_extra=documented(WebhookEvent),
             responses=error_responses(400, *COMMON_ERRORS, 422, 503))
async def webhook(request: Request, services: ServicesDep) -> JSONResponse:
    """Record the event (a stub when it is not applied), apply it, answer."""
    body = await read_event_body(request, services.settings.webhook_max_event_bytes)
    result = await asyncio.wrap_future(services.ingestor.submit(body))
    if result.error is not None:
        raise result.error
    return JSONResponse({"status": result.status, "event_id": result.event_id,
                         "action": result.action, "changes": result.changes,
                         "jobs": len(result.jobs)})


@router.get("/versions", responses=error_responses(*COMMON_ERRORS, 503))
def versions(services: ServicesDep) -> dict[str, Any]:
    with services.storage.read() as tx:
        found = [v.version for p in tx.list_projects() for v in tx.list_model_versions(p.id)
                 if v.kind != "encoder"]  # fine-tuned encoders are not prediction versions
    seen: list[str] = [base_version(services.settings.model_version_prefix)]
    for v in found:
        if v not in seen:
            seen.append(v)
    return {"versions": seen}
