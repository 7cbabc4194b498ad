"""The Label Studio API as labelloop uses it: a Protocol, so tests swap in fakes.

The real implementation (:mod:`labelloop.labelstudio.client`) is built on label-studio-sdk 2.1.x.
Every method raises :class:`labelloop.errors.LabelStudioUnavailable` when Label Studio cannot be
reached or answers with an error, with a message that says which call failed and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol


class LabelStudioGateway(Protocol):
    def get_project(self, project_id: int) -> dict[str, Any]:
        """The project JSON (``id``, ``title``, ``label_config``, ``model_version``,
        ``sampling``, ``expert_instruction``, …)."""

    def iter_tasks(self, project_id: int, *, page_size: int = 500, after_id: int | None = None,
                   upto: int | None = None) -> Iterator[dict[str, Any]]:
        """Every task of the project with an id in ``(after_id, upto]`` (open ends when None),
        in id order, page by page, each with its ``annotations`` list (Label Studio task JSON:
        ``id``, ``data``, ``meta``, ``annotations`` [{``id``, ``result``, ``was_cancelled``,
        ``ground_truth``, ``completed_by``, ``lead_time``, ``updated_at``, …}]). A page Label
        Studio cannot serve raises :class:`LabelStudioUnavailable` (``detail["status"]``)."""

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        """Create tasks ``{"data", "meta"?, "predictions"?}`` in one import; return their ids in
        request order. Never retried inside the call: an answer lost after Label Studio stored
        the tasks must not store them twice (the caller finds them again by what they carry)."""

    def import_predictions(self, project_id: int, predictions: list[dict[str, Any]]) -> int:
        """Bulk-create predictions ``{"task", "result", "score", "model_version"}``; return how
        many Label Studio stored."""

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        """PATCH the project (e.g. ``model_version``, ``sampling``); return the project JSON."""

    def list_model_versions(self, project_id: int) -> dict[str, int]:
        """Model versions that have predictions in the project, with their counts."""

    def delete_model_version(self, project_id: int, version: str) -> None:
        """Delete every prediction of ``version`` in the project."""

    def next_task(self, project_id: int) -> dict[str, Any] | None:
        """What ``GET /api/projects/{id}/next/`` serves the API user (None when nothing)."""

    def list_ml_backends(self, project_id: int) -> list[dict[str, Any]]:
        """The project's ML backends (``id``, ``url``, ``title``, ``auth_method``, …)."""

    def list_webhooks(self, project_id: int) -> list[dict[str, Any]]:
        """The project's webhooks (``id``, ``url``, ``headers``, ``send_for_all_actions``, …)."""

    def update_webhook(self, webhook_id: int, **fields: Any) -> dict[str, Any]:
        """PATCH a webhook (e.g. its ``headers``)."""

    def request_annotations(self, task_id: int, *, total: int = 2) -> bool:
        """Make Label Studio serve the task (to another user) until it has ``total``
        annotations; False when it already has them (nothing changed)."""
