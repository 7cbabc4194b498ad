"""A row of the dataset export and its two text formats (JSON lines, CSV).

One row per live task: ``task_id``, ``data`` (the task's data as Label Studio holds it),
``label`` (an output value; a list of them for multiple choice; ``[{start, end, label}]`` for
spans), ``source`` (``human``, ``consensus``, ``llm``, ``model``, ``ensemble``; None when nothing
labelled the task), ``p_correct``, ``n_annotations`` (usable human annotations), ``llm_label``,
``model_label`` and ``accepted``. In CSV, ``data`` and list labels are JSON text, None is an empty
cell and booleans are ``true`` / ``false``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

ExportFormat = Literal["jsonl", "csv"]
Source = Literal["human", "consensus", "llm", "model", "ensemble"]
SOURCES: tuple[Source, ...] = ("human", "consensus", "llm", "model", "ensemble")
COLUMNS = ("task_id", "data", "label", "source", "p_correct", "n_annotations", "llm_label",
           "model_label", "accepted")
JsonLabel = str | list[str] | list[dict[str, int | str]]
MEDIA_TYPES: dict[ExportFormat, str] = {"jsonl": "application/x-ndjson",
                                        "csv": "text/csv; charset=utf-8"}


@dataclass(frozen=True)
class DatasetRow:
    task_id: int
    data: dict[str, object] | None
    label: JsonLabel | None
    source: Source | None  # None: neither a human nor a machine labelled the task
    p_correct: float | None
    n_annotations: int
    llm_label: JsonLabel | None
    model_label: JsonLabel | None
    accepted: bool = False


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def encode(rows: Iterable[DatasetRow], fmt: ExportFormat, *, batch: int = 200) -> Iterator[str]:
    """The rows as JSON lines or CSV text (header first; ``data`` and list labels as JSON),
    in pieces of ``batch`` rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(COLUMNS)
    for n, row in enumerate(rows, 1):
        d = {c: getattr(row, c) for c in COLUMNS}
        if fmt == "jsonl":
            buf.write(json.dumps(d, ensure_ascii=False) + "\n")
        else:
            writer.writerow([_cell(d[c]) for c in COLUMNS])
        if n % batch == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    if buf.tell():
        yield buf.getvalue()
