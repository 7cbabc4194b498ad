"""Publishing the queue: make Label Studio serve unlabeled tasks in labelloop's order.

Measured on Label Studio 1.23.2 (see docs/label-studio.md): under "Uncertainty sampling" the
annotators' queue serves the unlabeled task whose prediction of ``project.model_version`` has the
lowest ``score`` first. So a publish is:

1. bulk-import one prediction per ranked task under a new model version, with ``score`` (lower =
   label first) and the task's pre-label as ``result`` (validated against the config; an empty
   result when there is none);
2. PATCH ``project.model_version`` to that version (and ``sampling``, unless configured off) -
   the queue follows at once;
3. off the critical path (a separate job), delete superseded *labelloop* versions from Label
   Studio so predictions do not pile up. Versions labelloop did not create are never touched.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labelloop.errors import InvalidInput, PermanentJobError, UnknownProject
from labelloop.events.projects import schema_of
from labelloop.jobs.context import JobContext
from labelloop.jobs.types import JobKind, JobSpec, project_serial_key
from labelloop.labelconfig.results import validate_result
from labelloop.labelstudio.gateway import LabelStudioGateway
from labelloop.settings import Settings
from labelloop.storage.base import Storage, Tx

log = logging.getLogger(__name__)
UNCERTAINTY_SAMPLING = "Uncertainty sampling"


@dataclass
class PublishReport:
    version: str
    published: int
    stored_by_label_studio: int
    skipped: int
    seconds: float


def next_version(tx: Tx, project_id: int, prefix: str, *, tag: str = "") -> str:
    n = len(tx.list_model_versions(project_id)) + 1
    return f"{prefix}-{n}" + (f"+{tag}" if tag else "")


def publish_queue(storage: Storage, gateway: LabelStudioGateway, project_id: int,
                  scores: Mapping[int, float], *, settings: Settings, version: str | None = None,
                  results: Mapping[int, list[dict[str, Any]]] | None = None,
                  lineage: dict[str, Any] | None = None) -> PublishReport:
    started = time.perf_counter()
    with storage.read() as tx:
        project = tx.get_project(project_id)
        if project is None:
            raise UnknownProject(f"project {project_id} is not known to labelloop")
        known = {t.id for t in tx.get_tasks(project_id, ids=list(scores))}
        stored = tx.latest_predictions(project_id, sorted(known))
        version = version or next_version(tx, project_id, settings.model_version_prefix)
    schema = schema_of(project)
    preds: list[dict[str, Any]] = []
    skipped = 0
    for task_id, score in sorted(scores.items(), key=lambda kv: (kv[1], kv[0])):
        if task_id not in known or not math.isfinite(score):
            skipped += 1
            continue
        result = (results or {}).get(task_id)
        if result is None and task_id in stored:
            result = stored[task_id].result
        if result and (schema is None or not _valid(schema, result)):
            result = None
        preds.append({"task": task_id, "result": result or [], "score": float(score),
                      "model_version": version})
    if not preds:
        # Label Studio refuses (400) a model_version without predictions: nothing to switch to.
        log.info("project %s: nothing to publish (%d scores skipped)", project_id, skipped)
        return PublishReport(version, 0, 0, skipped, time.perf_counter() - started)
    n_stored = 0
    for i in range(0, len(preds), settings.publish_batch_size):
        n_stored += gateway.import_predictions(project_id, preds[i:i + settings.publish_batch_size])
    fields: dict[str, Any] = {"model_version": version}
    if settings.set_uncertainty_sampling:
        fields["sampling"] = UNCERTAINTY_SAMPLING
    gateway.update_project(project_id, **fields)
    with storage.write() as tx:
        tx.add_model_version(project_id, version, kind="queue",
                             lineage={**(lineage or {}), "published_tasks": len(preds)})
        tx.mark_version(project_id, version, published=True)
        tx.save_project(project_id, published_version=version, model_version=version)
    report = PublishReport(version, len(preds), n_stored, skipped, time.perf_counter() - started)
    log.info("project %s: published %d scores as %s in %.1fs (%d skipped)", project_id,
             report.published, version, report.seconds, skipped)
    return report


def _valid(schema: Any, result: list[dict[str, Any]]) -> bool:
    try:
        validate_result(schema, result)
    except InvalidInput as exc:
        log.warning("not publishing an invalid pre-label: %s", exc.message)
        return False
    return True


def cleanup_spec(project_id: int, settings: Settings) -> JobSpec:
    """Clean-up never overlaps a publish of the same project (serial key): on Label Studio with
    SQLite, deleting a large version locks its database and the import would fail."""
    return JobSpec(JobKind.CLEANUP_VERSIONS, project_id, dedupe_key=f"cleanup:{project_id}",
                   serial_key=project_serial_key(project_id), delay_s=settings.cleanup_delay_s)


def _gateway(ctx: JobContext) -> tuple[int, LabelStudioGateway]:
    pid = ctx.project_id()
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
    if project is None:
        raise PermanentJobError(f"project {pid} is not known to labelloop")
    gateway = ctx.gateways.for_project(project)
    if gateway is None:
        raise PermanentJobError(ctx.gateways.why_not())
    return pid, gateway


def handle_publish(ctx: JobContext) -> None:
    """Job handler: publish ``payload["scores"]`` ({task id: score}) as the queue."""
    pid, gateway = _gateway(ctx)
    raw = ctx.job.payload.get("scores")
    if not isinstance(raw, dict) or not raw:
        raise PermanentJobError("publish job without scores")
    scores = {int(k): float(v) for k, v in raw.items()}
    publish_queue(ctx.storage, gateway, pid, scores, settings=ctx.settings,
                  version=ctx.job.payload.get("version"), lineage={"source": "api"})
    ctx.enqueue(cleanup_spec(pid, ctx.settings))


def handle_cleanup(ctx: JobContext) -> None:
    """Job handler: delete superseded labelloop versions' predictions from Label Studio."""
    pid, gateway = _gateway(ctx)
    with ctx.storage.read() as tx:
        current = tx.get_project(pid).published_version  # type: ignore[union-attr]
    prefix = ctx.settings.model_version_prefix + "-"
    for version in gateway.list_model_versions(pid):
        if version.startswith(prefix) and version != current:
            gateway.delete_model_version(pid, version)
            with ctx.storage.write() as tx:
                tx.mark_version(pid, version, cleaned=True)
            log.info("project %s: deleted superseded predictions of %s", pid, version)
