"""Recording a project and its label schema (from /setup, a webhook, /predict or a resync)."""

from __future__ import annotations

import logging
from typing import Any

from labelloop.labelconfig.schema import LabelSchema, parse_label_config
from labelloop.storage.base import Tx
from labelloop.storage.records import Project

log = logging.getLogger(__name__)


def record_project(
    tx: Tx,
    project_id: int,
    *,
    label_config: str | None = None,
    instructions: str | None = None,
    **fields: Any,
) -> Project:
    """Create or update a project; re-parse its schema only when the config text changed.

    An unsupported config is stored with its reason (and logged once, when it changes): the
    connection works, and predictions for it are answered with "no prediction".
    """
    existing = tx.get_project(project_id)
    changes = {k: v for k, v in fields.items() if v is not None}
    config_changed = label_config is not None and (
        existing is None or existing.label_config != label_config
    )
    old_instr = (existing.schema or {}).get("instructions") if existing else None
    if config_changed or (instructions is not None and instructions != old_instr and label_config):
        schema = parse_label_config(label_config, instructions=instructions)  # type: ignore[arg-type]
        changes.update(label_config=label_config, schema=schema.to_json(),
                       supported=schema.supported, unsupported_reason=schema.reason)
        if not schema.supported:
            log.warning("project %s: labeling config not supported, predictions will be empty: %s",
                        project_id, schema.reason)
        else:
            log.info("project %s: %s on '%s' with %d labels%s", project_id, schema.task_type,
                     schema.data_key, len(schema.choices),
                     " (multiple choice)" if schema.multiple else "")
    if existing is not None and not changes:
        return existing
    return tx.save_project(project_id, **changes)


def schema_of(project: Project) -> LabelSchema | None:
    return LabelSchema.from_json(project.schema) if project.schema else None
