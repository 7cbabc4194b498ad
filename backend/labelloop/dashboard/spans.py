"""The queue head of a span (NER) project: each task's text with its pre-label spans highlighted.

:func:`highlight` turns a text and its spans into escaped HTML: the text is cut at every span
boundary, each piece is escaped (:func:`html.escape`, quotes included) and a piece some spans
cover is wrapped in ``<mark data-label="PER">`` (the labels of every span covering it, joined by
``" + "`` when spans overlap), so nested and overlapping spans need no nested markup and the
page's text reads exactly as the task's. The label is shown by the page's CSS from
``data-label``; nothing of the text or the labels reaches the page unescaped.

:func:`head_spans` reads each head task's pre-label (the one rule,
:func:`labelloop.predict.prelabels.stored_prelabels`: the LLM's stored spans, else the model's
stored prediction, validated against the text) back as spans.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from labelloop.labelconfig.kinds import Unusable, read_label
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelconfig.spans import Span
from labelloop.predict.prelabels import stored_prelabels
from labelloop.storage.base import Tx

HIGHLIGHT_CHARS = 400  # longer texts are cut there (spans past the cut are cut with them)


def highlight(text: str, spans: Sequence[Span], *, limit: int = HIGHLIGHT_CHARS) -> str:
    """Escaped HTML of ``text[:limit]`` (``…`` when cut) with ``spans`` marked (see above)."""
    shown = text[:limit]
    inside = [s for s in spans if 0 <= s.start < s.end and s.start < len(shown)]
    cuts = sorted({0, len(shown), *(s.start for s in inside),
                   *(min(s.end, len(shown)) for s in inside)})
    out: list[str] = []
    for a, b in pairwise(cuts):
        piece = html.escape(shown[a:b], quote=True)
        labels = sorted({s.label for s in inside if s.start < b and a < s.end})
        if labels:
            label = html.escape(" + ".join(labels), quote=True)
            out.append(f'<mark data-label="{label}">{piece}</mark>')
        else:
            out.append(piece)
    return "".join(out) + ("…" if len(text) > limit else "")


def head_spans(tx: Tx, project_id: int, schema: LabelSchema,
               texts: dict[int, str | None]) -> dict[int, tuple[str, list[Span]]]:
    """(the source, ``llm`` or ``model``, and the spans) of the pre-label of each task of
    ``texts`` that has one."""
    found = stored_prelabels(tx, project_id, schema, list(texts), texts=texts)
    out: dict[int, tuple[str, list[Span]]] = {}
    for tid, prelabel in found.items():
        label = read_label(schema, prelabel.result, text=texts.get(tid))
        if not isinstance(label, Unusable):
            out[tid] = (prelabel.source, [s for s in label if isinstance(s, Span)])
    return out


def span_rows(tx: Tx, project_id: int, schema: LabelSchema,
              texts: dict[int, str | None]) -> dict[int, dict[str, Any]]:
    """Per head task: its pre-label's ``spans`` (``start``, ``end``, ``label``, ``text``), where
    they come from (``prelabel``: ``llm``, ``model`` or None) and the ``highlighted`` HTML of
    its text (None without a text)."""
    found = head_spans(tx, project_id, schema, texts)
    out: dict[int, dict[str, Any]] = {}
    for tid, text in texts.items():
        source, mine = found.get(tid, (None, []))
        out[tid] = {
            "spans": [{"start": s.start, "end": s.end, "label": s.label,
                       "text": text[s.start:s.end] if text else None} for s in mine],
            "prelabel": source,
            "highlighted": highlight(text, mine) if text is not None else None,
        }
    return out
