"""Which jobs a change triggers. Pure: the caller enqueues them in its own transaction."""

from __future__ import annotations

from enum import Enum

from labelloop.jobs.types import JobKind, JobSpec, project_serial_key
from labelloop.settings import Settings


class Trigger(str, Enum):
    TASKS_ADDED = "tasks_added"
    TASKS_REMOVED = "tasks_removed"
    LABELS_CHANGED = "labels_changed"
    TRAIN_REQUESTED = "train_requested"
    PROJECT_CHANGED = "project_changed"
    PROJECT_SET_UP = "project_set_up"
    VERSION_MOVED = "version_moved"  # Label Studio shows another model_version than published


# A "train" that resyncs first retrains when the resync ends; this later retrain is the fallback
# for a resync that fails, or that was already queued without the request (deduplicated).
TRAIN_FALLBACK_S = 60.0


def resync_spec(project_id: int, *, then_retrain: bool = False) -> JobSpec:
    """One resync of a project at a time: two running at once would each take the other's
    fresh writes for rows it may not delete, and double the load on Label Studio.
    ``then_retrain``: retrain when it ends, changes found or not (Label Studio's "train")."""
    return JobSpec(JobKind.RESYNC, project_id, dedupe_key=f"resync:{project_id}",
                   serial_key=f"resync:{project_id}",
                   payload={"then_retrain": True} if then_retrain else {})


def check_version_spec(project_id: int) -> JobSpec:
    """Compare the project's model_version in Label Studio with the published one (and put it
    back): after any retrain or publish of the project (its serial key), so a publish's own
    switch is never taken for a drift; one queued per project."""
    return JobSpec(JobKind.CHECK_VERSION, project_id, dedupe_key=f"check_version:{project_id}",
                   serial_key=project_serial_key(project_id))


def embed_spec(project_id: int) -> JobSpec:
    """Embed the project's tasks not embedded yet (also queued by a retrain whose media fetches
    failed for a reason that may pass: the embed job's retries fetch them again)."""
    return JobSpec(JobKind.EMBED, project_id, dedupe_key=f"embed:{project_id}",
                   serial_key=project_serial_key(project_id))


def new_tasks_specs(project_id: int, settings: Settings) -> list[JobSpec]:
    """Tasks arrived: embed them, and pre-label them when an LLM is configured. One pre-label
    job per project at a time: two at once would pay the LLM twice for the same tasks. Embedding
    shares the project's queue serial key: a retrain running beside it would encode the same
    uncached texts at the same time (seen on a 100,000-task project: the two split the cores)."""
    specs = [embed_spec(project_id)]
    if settings.llm_configured:
        specs.append(JobSpec(JobKind.PRELABEL, project_id, dedupe_key=f"prelabel:{project_id}",
                             serial_key=f"prelabel:{project_id}"))
    return specs


def retrain_spec(project_id: int, settings: Settings, *, delay_s: float | None = None) -> JobSpec:
    return JobSpec(
        JobKind.RETRAIN, project_id, dedupe_key=f"retrain:{project_id}",
        serial_key=project_serial_key(project_id),
        delay_s=settings.retrain_debounce_s if delay_s is None else delay_s,
    )


def jobs_for(triggers: set[Trigger], project_id: int | None, settings: Settings, *,
             label_changes: int = 0) -> list[JobSpec]:
    """``label_changes``: annotation changes since the last retrain; at ``retrain_every_n`` the
    retrain is due at once instead of after the debounce delay."""
    if project_id is None or not triggers:
        return []
    specs: list[JobSpec] = []
    can_sync = settings.label_studio_configured or settings.trust_setup_credentials
    train = Trigger.TRAIN_REQUESTED in triggers
    if (train or Trigger.PROJECT_SET_UP in triggers) and can_sync:
        specs.append(resync_spec(project_id, then_retrain=train))
    if Trigger.TASKS_ADDED in triggers or Trigger.PROJECT_SET_UP in triggers:
        specs.extend(new_tasks_specs(project_id, settings))
    if triggers & {Trigger.LABELS_CHANGED, Trigger.TASKS_REMOVED, Trigger.PROJECT_CHANGED}:
        now = label_changes >= settings.retrain_every_n
        specs.append(retrain_spec(project_id, settings, delay_s=0.0 if now else None))
    if Trigger.VERSION_MOVED in triggers and can_sync:
        specs.append(check_version_spec(project_id))
    if train:
        # with a resync, the retrain follows it (the resync queues it at once when it ends, and
        # the earliest due time wins), so it trains on what the resync found; this one is due
        # later only as the fallback. Without one, at once.
        specs.append(retrain_spec(project_id, settings,
                                  delay_s=TRAIN_FALLBACK_S if can_sync else 0.0))
    return specs
