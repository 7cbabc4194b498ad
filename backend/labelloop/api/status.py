"""labelloop's own API: status, jobs, and operator actions (resync, publish an ordering)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from labelloop import __version__
from labelloop.api.bodies import QueueBody, QueueRequest, documented
from labelloop.api.deps import ServicesDep
from labelloop.api.errors import COMMON_ERRORS, error_responses
from labelloop.api.middleware import access_report
from labelloop.errors import (
    InvalidInput,
    LabelloopError,
    LabelStudioUnavailable,
    UnknownProject,
)
from labelloop.events.projects import schema_of
from labelloop.inputs import Id, bounded_int
from labelloop.jobs.triggers import resync_spec
from labelloop.jobs.types import Job, JobKind, JobSpec, JobStatus, project_serial_key
from labelloop.labelstudio.drift import describe as describe_drift
from labelloop.loop.llm_inputs import llm_prelabels_off
from labelloop.quality.distillation import distillation
from labelloop.quality.queue_aim import queue_aim
from labelloop.quality.stopping import retrain_points, stopping_signal
from labelloop.storage.base import Tx
from labelloop.storage.records import Project
from labelloop.stream.status import stream_status

router = APIRouter()


def _job(j: Job) -> dict[str, Any]:
    return {"id": j.id, "kind": j.kind.value, "project": j.project_id, "status": j.status.value,
            "attempts": j.attempts, "max_attempts": j.max_attempts, "last_error": j.last_error,
            "progress": j.progress, "created_at": j.created_at, "finished_at": j.finished_at}


def _project(tx: Tx, p: Project, services: Any) -> dict[str, Any]:
    return {
        "id": p.id, "title": p.title, "supported": p.supported,
        "unsupported_reason": p.unsupported_reason, "model_version": p.model_version,
        "published_version": p.published_version,
        "tasks": tx.count_tasks(p.id), "annotations": tx.count_annotations(p.id),
        "label_studio_api": bool(services.gateways.credentials(p)),
        "last_synced_at": p.last_synced_at, "sync_error": p.sync_error,
        # Label Studio showing another model_version than published: labelstudio/drift.py
        "version_drift": describe_drift(p.version_drift),
        "schema": p.schema,
        # controls of the config labelloop does not serve (yet), each with why
        "not_served": list((p.schema or {}).get("not_served") or ()),
        # why the LLM does not pre-label this project (a media project: loop/llm_inputs.py)
        "llm_prelabels_off": _llm_off(p, services),
        # tasks a job skipped (text it cannot encode, a value the database refuses, …) and why
        "skipped": tx.skip_summary(p.id).to_json(),
        # the production stream: counts, budget, realised rate, drift (stream/status.py)
        "stream": stream_status(tx, p.id, services.settings),
    }


def _llm_off(p: Project, services: Any) -> str | None:
    schema = schema_of(p)
    if not services.settings.llm_configured or schema is None or not schema.supported:
        return None
    try:  # the endpoint's stored media check (no LLM call)
        labeler = services.resources.labeler(services.storage)
    except LabelloopError as exc:  # e.g. a prompt folder that does not load
        return f"the LLM labeler cannot start: {exc.message}"
    return llm_prelabels_off(schema, labeler)


def project_status(services: Any, project_id: int) -> dict[str, Any]:
    with services.storage.read() as tx:
        p = tx.get_project(project_id)
        if p is None:
            raise UnknownProject(f"project {project_id} is not known to labelloop")
        out = _project(tx, p, services)
        out["jobs"] = tx.job_counts(project_id)
        out["recent_jobs"] = [_job(j) for j in tx.list_jobs(project_id=project_id, limit=20)]
        out["events"] = tx.event_counts(project_id)
        versions = tx.list_model_versions(project_id)
        out["model_versions"] = [
            {"version": v.version, "kind": v.kind, "created_at": v.created_at,
             "published_at": v.published_at, "cleaned_at": v.cleaned_at,
             "lineage": _lineage(v.lineage)} for v in versions]
    # whether more labels still pay (quality/stopping.py), in plain words and figures
    out["stopping"] = stopping_signal(retrain_points(versions)).to_json()
    # what the queue aims at and what is auto-accepted (quality/queue_aim.py), in plain words
    out["queue_aim"] = queue_aim(versions)
    # whether the local model also learns from the LLM's labels (quality/distillation.py)
    out["llm_distillation"] = distillation(versions)
    return out


def _lineage(lineage: dict[str, Any]) -> dict[str, Any]:
    """A version's lineage as the status shows it: the stop set's 500 labels (read by
    quality/stopping.py) as their count."""
    stop = lineage.get("stop_set")
    if not isinstance(stop, dict):
        return lineage
    return {**lineage, "stop_set": {"size": len(stop.get("task_ids") or ())}}


OWN_API_ERRORS = (*COMMON_ERRORS, 403)
"""Without basic auth, labelloop's own API answers 403 outside the allowed networks."""
ProjectIdPath = Annotated[Id, Path(description="the Label Studio project id")]
if TYPE_CHECKING:  # a pydantic-checked int at run time (``bounded_int``), an int to mypy
    JobLimit = int
else:
    JobLimit = bounded_int(1, 500, "limit")


@router.get("/status", responses=error_responses(*OWN_API_ERRORS, 503))
def status(services: ServicesDep) -> dict[str, Any]:
    s = services.settings
    with services.storage.read() as tx:
        projects = [_project(tx, p, services) for p in tx.list_projects()]
        jobs = tx.job_counts()
        failing = [_job(j) for j in tx.list_jobs(status=JobStatus.DEAD, limit=10)]
        events = tx.event_counts()
        skipped = tx.skip_summary().to_json()
    return {
        "version": __version__,
        "storage": services.storage.dialect,
        "worker_mode": s.worker_mode,
        "off": s.describe_off(),
        "access": access_report(s),
        "projects": projects,
        "jobs": jobs,
        "dead_jobs": failing,
        "events": events,
        "skipped": skipped,
    }


@router.get("/api/projects/{project_id}/status",
            responses=error_responses(*OWN_API_ERRORS, 404, 422, 503))
def get_project_status(project_id: ProjectIdPath, services: ServicesDep) -> dict[str, Any]:
    return project_status(services, project_id)


@router.get("/api/jobs", responses=error_responses(*OWN_API_ERRORS, 422, 503))
def list_jobs(services: ServicesDep, project: Id | None = None,
              status: Annotated[str | None, Query(max_length=32)] = None,
              limit: JobLimit = 50) -> dict[str, Any]:
    try:
        st = JobStatus(status) if status else None
    except ValueError:
        raise InvalidInput(f"unknown job status {status!r}; one of "
                           f"{[s.value for s in JobStatus]}") from None
    with services.storage.read() as tx:
        return {"jobs": [_job(j) for j in tx.list_jobs(project_id=project, status=st,
                                                       limit=limit)]}


def _enqueue(services: Any, project_id: int, spec: JobSpec) -> dict[str, Any]:
    with services.storage.write() as tx:
        p = tx.get_project(project_id)
        if p is None:
            raise UnknownProject(f"project {project_id} is not known to labelloop")
        if not services.gateways.credentials(p):
            raise LabelStudioUnavailable(services.gateways.why_not())
        job_id, created = tx.enqueue(spec)
    services.wake()
    return {"job": job_id, "created": created}


@router.post("/api/projects/{project_id}/resync", status_code=202,
             responses=error_responses(*OWN_API_ERRORS, 404, 422, 503))
async def resync(project_id: ProjectIdPath, services: ServicesDep) -> dict[str, Any]:
    return await run_in_threadpool(_enqueue, services, project_id, resync_spec(project_id))


@router.post("/api/projects/{project_id}/queue", status_code=202,
             openapi_extra=documented(QueueRequest),
             responses=error_responses(400, *OWN_API_ERRORS, 404, 422, 503))
async def publish_order(project_id: ProjectIdPath, body: QueueBody,
                        services: ServicesDep) -> dict[str, Any]:
    """Publish an explicit ordering: ``{"scores": {"<task id>": score, …}}`` (lower = first)."""
    spec = JobSpec(JobKind.PUBLISH, project_id,
                   payload={"scores": dict(body.scores), "version": body.version},
                   serial_key=project_serial_key(project_id))
    return await run_in_threadpool(_enqueue, services, project_id, spec)
