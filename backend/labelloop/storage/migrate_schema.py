"""Migration 14: parse again the configs of projects stored as not supported.

A project's schema is parsed when its labeling config changes (``events.projects``). A NER
project connected before labelloop served ``<Labels>`` on ``<Text>`` was stored as "not
supported", and its config will not change by itself: this migration parses every such config
again with today's parser and stores what it now serves. A config that does not parse is left as
it is (it must not stop the database from opening).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from labelloop.errors import InvalidInput
from labelloop.labelconfig.schema import LabelSchema, parse_label_config
from labelloop.storage import tables as t

log = logging.getLogger(__name__)


def reparse_unsupported_schemas(conn: sa.Connection) -> None:
    c = t.projects.c
    rows = conn.execute(sa.select(c.id, c.label_config, c.schema).where(
        c.supported.is_(False), c.label_config.is_not(None))).all()
    for pid, config, stored in rows:
        instructions = stored.get("instructions") if isinstance(stored, dict) else None
        try:
            schema: LabelSchema = parse_label_config(config, instructions=instructions)
        except InvalidInput:
            continue
        if not schema.supported:
            continue
        conn.execute(sa.update(t.projects).where(c.id == pid).values(
            schema=schema.to_json(), supported=True, unsupported_reason=None))
        log.info("project %s: its config is served now (%s)", pid, schema.task_type)
