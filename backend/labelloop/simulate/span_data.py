"""Reading a span-labeled JSONL file for the simulator (NER), and splitting it.

One JSON object per line: ``{"text": "...", "spans": [{"start", "end", "label"}, ...]}``, offsets
in Python code points (``text[start:end]`` is the entity), as
:class:`~labelloop.labelconfig.spans.Span`. A row may have no spans (``[]``): a sentence without
entities is data too. A span outside its text, with a non-integer offset or repeated, makes the
file unusable (:class:`~labelloop.simulate.data.InvalidDataFile`, naming the line): the
simulator never trains on, nor scores against, a span Label Studio could not show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import numpy as np

from labelloop.errors import InvalidInput
from labelloop.labelconfig.spans import Span, validate_spans
from labelloop.simulate.data import InvalidDataFile, json_rows


@dataclass(frozen=True)
class SpanData:
    texts: list[str]
    spans: list[list[Span]]  # per text, sorted
    labels: list[str]  # sorted distinct span labels
    is_test: np.ndarray | None  # from a ``split`` field: True = test row; None without one


def is_span_file(path: str | Path, *, spans_field: str = "spans") -> bool:
    """True when the file's first row holds a ``spans_field`` key (span data, not classes)."""
    rows = json_rows(path)
    return bool(rows) and spans_field in rows[0][1]


def _is_int(x: object) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)


def _span(raw: object, where: str) -> Span:
    if not isinstance(raw, dict):
        raise InvalidDataFile(f"{where}: a span must be an object with start, end and label")
    start, end, label = raw.get("start"), raw.get("end"), raw.get("label")
    if not isinstance(label, str) or not label:
        raise InvalidDataFile(f"{where}: a span needs a string label")
    if not (_is_int(start) and _is_int(end)):
        raise InvalidDataFile(f"{where}: span offsets must be integers, got {start!r}, {end!r}")
    return Span(start, end, label)


def load_span_jsonl(path: str | Path, *, text_field: str = "text", spans_field: str = "spans",
                    split_field: str = "split") -> SpanData:
    """The texts and spans of ``path`` (see the module docstring). A ``split`` field
    (``train``/``test``), when every row has one, fixes the split."""
    texts: list[str] = []
    spans: list[list[Span]] = []
    splits: list[object] = []
    for n, row in json_rows(path):
        where = f"{path}:{n}"
        text, raw = row.get(text_field), row.get(spans_field)
        if not isinstance(text, str) or not text.strip():
            raise InvalidDataFile(f"{where}: no text in field {text_field!r}")
        if not isinstance(raw, list):
            raise InvalidDataFile(f"{where}: field {spans_field!r} must be a list of spans")
        found = [_span(s, where) for s in raw]
        try:
            validate_spans(text, found, labels={s.label for s in found})
        except InvalidInput as exc:
            raise InvalidDataFile(f"{where}: {exc.message}") from exc
        split = row.get(split_field)
        if split is not None and split not in ("train", "test"):
            raise InvalidDataFile(f"{where}: {split_field!r} must be 'train' or 'test'")
        texts.append(text)
        spans.append(sorted(found))
        splits.append(split)
    labels = sorted({s.label for found in spans for s in found})
    if not labels:
        raise InvalidDataFile(f"{path}: no spans at all: nothing to learn")
    is_test = None
    if texts and all(s is not None for s in splits):
        is_test = np.array([s == "test" for s in splits])
        if is_test.all() or not is_test.any():
            raise InvalidDataFile(f"{path}: the split field must mark both train and test rows")
    return SpanData(texts=texts, spans=spans, labels=labels, is_test=is_test)


def span_train_test_split(data: SpanData, *, test_fraction: float = 0.2,
                          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train and test positions: the file's ``split`` when present, else a random split
    (at least one row on each side)."""
    if data.is_test is not None:
        return np.flatnonzero(~data.is_test), np.flatnonzero(data.is_test)
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInput(f"test_fraction must be in (0, 1), got {test_fraction}")
    n = len(data.texts)
    if n < 2:
        raise InvalidDataFile("span data needs at least two rows (train and test)")
    k = min(max(round(n * test_fraction), 1), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[k:]), np.sort(perm[:k])
