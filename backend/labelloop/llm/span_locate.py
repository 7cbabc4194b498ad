"""From the LLM's entities to spans of the task's text, each paired with the entity it came from.

The offsets are found by :func:`labelloop.labelconfig.spans.locate` (never taken from the LLM:
repeated surface forms are resolved in reading order, an entity not in the text is dropped with
its reason). ``locate`` returns the spans sorted; the pairing with the entities (to carry each
entity's label confidence over to its span) takes, per label, the spans covering exactly the
entity's text in the order the entities came, then those a whitespace/case-tolerant match found.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from labelloop.labelconfig.spans import Span, locate
from labelloop.llm.span_answers import Entity
from labelloop.llm.types import DroppedEntity

log = logging.getLogger(__name__)


def _loose(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().casefold()


def locate_entities(text: str, entities: Sequence[Entity], *, labels: Sequence[str],
                    ) -> tuple[list[tuple[Span, Entity | None]], list[DroppedEntity]]:
    """The spans of ``entities`` in ``text`` (sorted), each with the entity it came from (None
    when no entity can be told), and the entities that gave no span."""
    spans, dropped = locate(text, [(e.text, e.label) for e in entities], labels=labels)
    free = list(entities)
    paired: dict[Span, Entity | None] = dict.fromkeys(spans)
    for same in (lambda a, b: a.strip() == b, lambda a, b: _loose(a) == _loose(b)):
        for span in spans:
            if paired[span] is not None:
                continue
            covered = text[span.start:span.end]
            for i, e in enumerate(free):
                if e.label == span.label and same(e.text, covered):
                    paired[span] = free.pop(i)
                    break
    gone = [DroppedEntity(str(d.text)[:200], str(d.label)[:100], str(d.reason))
            for d in dropped]
    return [(s, paired[s]) for s in spans], gone


def log_dropped(task_id: int, dropped: Sequence[DroppedEntity]) -> None:
    """One log line per task with the entities that gave no span and why."""
    if dropped:
        log.info("task %s: %d LLM entit%s dropped: %s", task_id, len(dropped),
                 "y" if len(dropped) == 1 else "ies",
                 "; ".join(f"{d.text[:60]!r} ({d.label[:40]}): {d.reason}" for d in dropped[:20]))
