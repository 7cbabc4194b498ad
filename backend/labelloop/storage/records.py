"""Plain records that cross the storage boundary (rows in, rows out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Project:
    id: int
    ls_key: str | None
    title: str | None
    label_config: str | None
    schema: dict[str, Any] | None
    supported: bool
    unsupported_reason: str | None
    model_version: str | None
    published_version: str | None
    ls_hostname: str | None
    ls_token: str | None
    created_at: float
    updated_at: float
    last_synced_at: float | None
    sync_error: str | None
    # {"shows", "published", "seen_at", "action", "resolved_at"}: labelstudio/drift.py
    version_drift: dict[str, Any] | None = None


@dataclass(frozen=True)
class Task:
    id: int
    project_id: int
    data: dict[str, Any] | None
    meta: dict[str, Any] | None
    deleted: bool


@dataclass(frozen=True)
class Annotation:
    """One Label Studio annotation as labelloop last saw it."""

    id: int
    task_id: int
    project_id: int
    completed_by: int | None
    result: list[dict[str, Any]]
    was_cancelled: bool
    ground_truth: bool
    lead_time: float | None
    ls_updated_at: str | None
    deleted: bool = False


@dataclass(frozen=True)
class HistoryEntry:
    annotation_id: int
    task_id: int
    kind: str  # created | updated | skipped | deleted
    result: list[dict[str, Any]] | None
    completed_by: int | None
    source: str  # webhook | resync
    at: float


@dataclass(frozen=True)
class Prediction:
    task_id: int
    project_id: int
    source: str  # llm | model
    model_version: str
    result: list[dict[str, Any]]
    score: float | None
    extra: dict[str, Any] | None = None
    created_at: float = 0.0


@dataclass(frozen=True)
class ModelVersion:
    project_id: int
    version: str
    kind: str
    lineage: dict[str, Any]
    created_at: float
    published_at: float | None
    cleaned_at: float | None
