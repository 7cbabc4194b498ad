"""Publishing the queue: make Label Studio serve unlabeled tasks in labelloop's order.

Measured on Label Studio 1.23.2 (see docs/label-studio.md): under "Uncertainty sampling" the
annotators' queue serves the unlabeled task whose prediction of ``project.model_version`` has the
lowest ``score`` first. So a publish is:

1. bulk-import one prediction per ranked task under a new model version, with ``score`` (lower =
   label first) and the task's pre-label as ``result`` (validated against the config; an empty
   result when there is none; spans checked against the task's text) - on the critical path only the head of the queue
   (``publish_head_size`` tasks, lowest scores first);
2. PATCH ``project.model_version`` to that version (and ``sampling``, unless configured off) -
   the queue follows at once (Label Studio serves only tasks with a prediction of that version,
   so the head *is* the queue until the rest arrives);
3. the rest of the queue in a ``publish_tail`` job (:mod:`labelloop.labelstudio.tail`), in
   requests of ``publish_tail_batch_size``, giving way as soon as a newer queue is on its way;
4. off the critical path (a separate job), delete superseded *labelloop* versions from Label
   Studio so predictions do not pile up. Versions labelloop did not create are never touched.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from labelloop.errors import InvalidInput, PermanentJobError, UnknownProject
from labelloop.events.projects import schema_of
from labelloop.jobs.context import JobContext
from labelloop.jobs.types import JobKind, JobSpec, project_serial_key
from labelloop.labelconfig.kinds import Region, validate_result
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelstudio.access import project_and_gateway
from labelloop.labelstudio.gateway import LabelStudioGateway
from labelloop.predict.prelabels import stored_prelabels as resolved_prelabels
from labelloop.predict.prelabels import task_texts
from labelloop.settings import Settings
from labelloop.storage.base import Storage, Tx
from labelloop.storage.records import Project
from labelloop.storage.sql_queue import QueueEntry

log = logging.getLogger(__name__)
UNCERTAINTY_SAMPLING = "Uncertainty sampling"


@dataclass
class PublishReport:
    version: str
    published: int
    stored_by_label_studio: int
    skipped: int
    seconds: float
    remaining: int = 0  # ranked tasks left for the publish_tail job


def version_number(version: str, prefix: str) -> int | None:
    """``n`` of a ``<prefix>-<n>`` (or ``<prefix>-<n>+<tag>``) version; None for other names."""
    m = re.fullmatch(re.escape(prefix) + r"-(\d+)(?:\+.*)?", version)
    return int(m.group(1)) if m else None


def next_version(tx: Tx, project_id: int, prefix: str, *, tag: str = "") -> str:
    """A version never handed out before for the project: one above every ``<prefix>-<n>`` it
    has recorded or published (not a count: a version named by hand, or one whose records are
    gone, would be handed out again), and past any queue stored under a number without a record
    (left by a publish that failed before this allocation existed). Call it in the write
    transaction that records the version, so no other job can take the same number."""
    project = tx.get_project(project_id)
    names = tx.model_version_names(project_id, prefix=prefix)
    if project is not None:
        names += [v for v in (project.published_version, project.model_version) if v]
    n = max((version_number(v, prefix) or 0 for v in names), default=0) + 1
    while tx.get_queue(project_id, f"{prefix}-{n}", limit=1):
        n += 1
    return f"{prefix}-{n}" + (f"+{tag}" if tag else "")


def queue_order(tx: Tx, project_id: int, scores: Mapping[int, float]) -> tuple[list[int], int]:
    """Task ids to publish, label-first first (score, then id), and how many scores were
    skipped (a task labelloop does not know, or a score that is not finite)."""
    ranked = sorted(((s, t) for t, s in scores.items() if math.isfinite(s)))
    ids = [t for _, t in ranked]
    known: set[int] = set()
    for i in range(0, len(ids), 20_000):
        known.update(t.id for t in tx.get_tasks(project_id, ids=ids[i:i + 20_000]))
    order = [t for t in ids if t in known]
    return order, len(scores) - len(order)


def stored_prelabels(tx: Tx, project: Project, task_ids: list[int]) -> dict[int, list[Region]]:
    """The pre-label Label Studio shows with each task, for every task type: the one rule
    (:func:`labelloop.predict.prelabels.stored_prelabels`: the LLM's stored label, else the
    newest stored prediction), built and validated against the config and the task's text."""
    schema = schema_of(project)
    if schema is None or not schema.supported:
        return {}
    found = resolved_prelabels(tx, project.id, schema, task_ids)
    return {tid: p.result for tid, p in found.items()}


def publish_texts(tx: Tx, project: Project, task_ids: list[int]) -> dict[int, str | None]:
    """The texts the pre-labels of ``task_ids`` are checked against (spans need them)."""
    schema = schema_of(project)
    if schema is None or not schema.supported or schema.task_type != "text_spans":
        return {}
    return task_texts(tx, project.id, schema, task_ids)


def predictions_for(project: Project, order: list[int], scores: Mapping[int, float],
                    version: str, results: Mapping[int, list[Region]], *,
                    texts: Mapping[int, str | None] | None = None) -> list[dict[str, Any]]:
    """One prediction per task of ``order``: its score and its pre-label, validated against the
    config and (for spans) the task's text in ``texts``; an invalid pre-label is dropped,
    logged, and the task keeps its score with an empty result."""
    schema = schema_of(project)
    preds = []
    for tid in order:
        result = results.get(tid)
        if result and (schema is None or not _valid(schema, result, tid,
                                                    (texts or {}).get(tid))):
            result = None
        preds.append({"task": tid, "result": result or [], "score": float(scores[tid]),
                      "model_version": version})
    return preds


Existing = Literal["new", "replace", "resume"]


def _import(gateway: LabelStudioGateway, project_id: int, preds: list[dict[str, Any]],
            batch: int, *, version: str, existing: Existing = "new") -> int:
    """Import ``preds`` (all of ``version``) so that Label Studio ends up holding each once.

    ``existing`` says what Label Studio may already hold of the version: ``new`` nothing (a
    version just allocated); ``replace`` an earlier publish under the same name (deleted first);
    ``resume`` this very queue, from an earlier attempt that failed half-way: held whole, it is
    kept (only the switch is left to do); held in part, it is deleted and imported again (a
    request that timed out may still land, so the rest cannot be counted on)."""
    if existing != "new":
        held = gateway.list_model_versions(project_id).get(version, 0)
        if existing == "resume" and held == len(preds):
            log.info("project %s: %s already in Label Studio (%d predictions)", project_id,
                     version, held)
            return held
        if held:
            log.info("project %s: deleting the %d predictions of %s an earlier publish left",
                     project_id, held, version)
            gateway.delete_model_version(project_id, version)
    return sum(gateway.import_predictions(project_id, preds[i:i + batch])
               for i in range(0, len(preds), batch))


def publish_queue(storage: Storage, gateway: LabelStudioGateway, project_id: int,
                  scores: Mapping[int, float], *, settings: Settings, version: str | None = None,
                  results: Mapping[int, list[dict[str, Any]]] | None = None,
                  lineage: dict[str, Any] | None = None,
                  existing: Existing = "new") -> PublishReport:
    """Publish the head of the queue and switch Label Studio to it. ``results``: pre-labels by
    task (those missing are read from storage); ``existing``: what Label Studio may hold of
    ``version`` already (see :func:`_import`); the caller queues :func:`tail_spec` when the
    report has ``remaining`` tasks. Safe to call again after a failure at any step."""
    started = time.perf_counter()
    with storage.read() as tx:
        project = tx.get_project(project_id)
        if project is None:
            raise UnknownProject(f"project {project_id} is not known to labelloop")
        order, skipped = queue_order(tx, project_id, scores)
        head = order[:settings.publish_head_size] if settings.publish_head_size else order
        missing = [t for t in head if t not in (results or {})]
        found = stored_prelabels(tx, project, missing) if missing else {}
        texts = publish_texts(tx, project, head)
    if version is None and head:  # taken and recorded before Label Studio sees any of it
        with storage.write() as tx:
            version = next_version(tx, project_id, settings.model_version_prefix)
            tx.add_model_version(project_id, version, kind="queue", lineage=lineage)
    version = version or ""
    if not head:
        # Label Studio refuses (400) a model_version without predictions: nothing to switch to.
        log.info("project %s: nothing to publish (%d scores skipped)", project_id, skipped)
        return PublishReport(version, 0, 0, skipped, time.perf_counter() - started)
    preds = predictions_for(project, head, scores, version, {**found, **(results or {})},
                            texts=texts)
    n_stored = _import(gateway, project_id, preds, settings.publish_batch_size,
                       version=version, existing=existing)
    fields: dict[str, Any] = {"model_version": version}
    if settings.set_uncertainty_sampling:
        fields["sampling"] = UNCERTAINTY_SAMPLING
    gateway.update_project(project_id, **fields)
    remaining = len(order) - len(head)
    with storage.write() as tx:
        tx.add_model_version(project_id, version, kind="queue", lineage=lineage)
        tx.mark_version(project_id, version, published=True, lineage={
            **(lineage or {}), "published_tasks": len(head), "ranked_tasks": len(order)})
        tx.save_project(project_id, published_version=version, model_version=version)
    report = PublishReport(version, len(preds), n_stored, skipped, time.perf_counter() - started,
                           remaining)
    log.info("project %s: published %d scores as %s in %.1fs (%d skipped, %d to follow)",
             project_id, report.published, version, report.seconds, skipped, remaining)
    return report


def _valid(schema: LabelSchema, result: list[Region], task_id: int, text: str | None) -> bool:
    try:
        validate_result(schema, result, text=text)
    except InvalidInput as exc:
        log.warning("task %s: not publishing an invalid pre-label: %s", task_id, exc.message)
        return False
    return True


def cleanup_spec(project_id: int, settings: Settings) -> JobSpec:
    """Clean-up never overlaps a publish of the same project (serial key): on Label Studio with
    SQLite, deleting a large version locks its database and the import would fail."""
    return JobSpec(JobKind.CLEANUP_VERSIONS, project_id, dedupe_key=f"cleanup:{project_id}",
                   serial_key=project_serial_key(project_id), delay_s=settings.cleanup_delay_s)


def tail_spec(project_id: int) -> JobSpec:
    """The rest of the published queue; one queued per project (it always works on the version
    published when it runs)."""
    return JobSpec(JobKind.PUBLISH_TAIL, project_id, dedupe_key=f"publish_tail:{project_id}",
                   serial_key=project_serial_key(project_id))


def job_gateway(ctx: JobContext) -> tuple[int, LabelStudioGateway]:
    pid = ctx.project_id()
    return pid, project_and_gateway(ctx.storage, ctx.gateways, pid)[1]


def stored_publish_spec(project_id: int, version: str) -> JobSpec:
    """Publish the queue stored under ``version``: a retrain whose own publish failed hands it
    over (its model and queue are kept; only the Label Studio part is retried)."""
    return JobSpec(JobKind.PUBLISH, project_id, payload={"version": version, "stored": True},
                   serial_key=project_serial_key(project_id))


def older_than_published(tx: Tx, project_id: int, version: str) -> str | None:
    """Why publishing ``version`` now would set the project back: a version recorded after it
    is already published."""
    project = tx.get_project(project_id)
    current = project.published_version if project else None
    if not current or current == version:
        return None
    mine, theirs = tx.get_model_version(project_id, version), \
        tx.get_model_version(project_id, current)
    if mine and theirs and theirs.created_at > mine.created_at:
        return f"{current}, recorded after it, is published"
    return None


def handle_publish(ctx: JobContext) -> None:
    """Job handler: publish ``payload["scores"]`` ({task id: score}) as the queue (the API's
    ordering), or with ``payload["stored"]`` the queue stored under ``payload["version"]``.

    Safe to run again after a failure at any step: the version is allocated once and kept in
    the job's progress, the queue is saved again over itself, and what Label Studio already
    holds of the version is kept when whole, else deleted and imported again."""
    pid, gateway = job_gateway(ctx)
    payload = ctx.job.payload
    earlier = (ctx.job.progress or {}).get("version")  # this job's version, from a failed attempt
    if payload.get("stored"):
        version = str(payload.get("version") or "")
        with ctx.storage.read() as tx:
            why = older_than_published(tx, pid, version)
            scores = {e.task_id: e.score for e in tx.get_queue(pid, version)}
        if why or not scores:
            log.info("project %s: not publishing %s: %s", pid, version,
                     why or "no queue is stored under it")
            return
        existing: Existing = "resume"
        lineage = {"source": "retrain"}
    else:
        raw = payload.get("scores")
        if not isinstance(raw, dict) or not raw:
            raise PermanentJobError("publish job without scores")
        scores = {int(k): float(v) for k, v in raw.items()}
        named = payload.get("version")
        with ctx.storage.write() as tx:  # the tail job reads the order back from here
            version = named or earlier or next_version(tx, pid, ctx.settings.model_version_prefix)
            order, _ = queue_order(tx, pid, scores)
            tx.add_model_version(pid, version, kind="queue", lineage={"source": "api"})
            tx.delete_queue(pid, version)
            tx.save_queue([QueueEntry(pid, version, tid, r, scores[tid], "api", False, None)
                           for r, tid in enumerate(order)])
        ctx.progress(step="publish", version=version)
        existing = "resume" if earlier == version else "replace" if named else "new"
        lineage = {"source": "api"}
    report = publish_queue(ctx.storage, gateway, pid, scores, settings=ctx.settings,
                           version=version, lineage=lineage, existing=existing)
    ctx.enqueue(*([tail_spec(pid)] if report.remaining else []), cleanup_spec(pid, ctx.settings))
