"""Reading a labeled JSONL file for the simulator, and splitting it into train and test."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from labelloop.errors import InvalidInput


class InvalidDataFile(InvalidInput):
    """The JSONL file cannot be used: unreadable, a row without text or label, one class."""


@dataclass(frozen=True)
class LabeledData:
    texts: list[str]
    y: np.ndarray  # class positions into ``labels``
    labels: list[str]  # sorted distinct labels
    is_test: np.ndarray | None  # from a ``split`` field: True = test row; None without one


class Splittable(Protocol):
    """What a split needs of a labelled set (texts, or media: :mod:`.media_data`)."""

    @property
    def y(self) -> np.ndarray: ...

    @property
    def labels(self) -> list[str]: ...

    @property
    def is_test(self) -> np.ndarray | None: ...


def json_rows(path: str | Path) -> list[tuple[int, dict[str, object]]]:
    """The JSON objects of a JSON-lines file with their line numbers (blank lines skipped);
    an unreadable file, a line that is not JSON or not an object is an :class:`InvalidDataFile`."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidDataFile(f"cannot read {path}: {exc}") from exc
    out: list[tuple[int, dict[str, object]]] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidDataFile(f"{path}:{n}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise InvalidDataFile(f"{path}:{n}: each line must be a JSON object")
        out.append((n, row))
    return out


def load_jsonl(path: str | Path, *, text_field: str = "text", label_field: str = "label",
               split_field: str = "split") -> LabeledData:
    """One JSON object per line with a text and a single label (string, number or bool).
    A ``split`` field (``train``/``test``), when every row has one, fixes the split."""
    texts: list[str] = []
    raw: list[str] = []
    splits: list[str | None] = []
    for n, row in json_rows(path):
        text, label = row.get(text_field), row.get(label_field)
        if not isinstance(text, str) or not text.strip():
            raise InvalidDataFile(f"{path}:{n}: no text in field {text_field!r}")
        if label is None or isinstance(label, (list, dict)):
            raise InvalidDataFile(f"{path}:{n}: field {label_field!r} must hold one label")
        split = row.get(split_field)
        if split is not None and split not in ("train", "test"):
            raise InvalidDataFile(f"{path}:{n}: {split_field!r} must be 'train' or 'test'")
        texts.append(text)
        raw.append(str(label))
        splits.append(split)
    labels = sorted(set(raw))
    if len(labels) < 2:
        raise InvalidDataFile(f"{path}: needs at least two distinct labels, found {labels}")
    index = {c: i for i, c in enumerate(labels)}
    y = np.array([index[c] for c in raw], dtype=np.int64)
    is_test = None
    if all(s is not None for s in splits):
        is_test = np.array([s == "test" for s in splits])
        if is_test.all() or not is_test.any():
            raise InvalidDataFile(f"{path}: the split field must mark both train and test rows")
    return LabeledData(texts=texts, y=y, labels=labels, is_test=is_test)


def train_test_split(data: Splittable, *, test_fraction: float = 0.2,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train and test positions: the file's ``split`` when present, else a stratified split."""
    if data.is_test is not None:
        return np.flatnonzero(~data.is_test), np.flatnonzero(data.is_test)
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInput(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    test: list[int] = []
    for c in range(len(data.labels)):
        members = rng.permutation(np.flatnonzero(data.y == c))
        k = round(members.size * test_fraction)
        if members.size >= 2:
            k = min(max(k, 1), members.size - 1)
        test.extend(members[:k].tolist())
    is_test = np.zeros(data.y.size, dtype=bool)
    is_test[test] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
