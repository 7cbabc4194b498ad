"""Labelled images, audio and video for ``labelloop simulate``: where the files are.

Every source gives one record, :class:`MediaSet`: per item where its bytes are (a file, a value
the media fetcher resolves, or the bytes themselves) and its gold label. Nothing is read here:
:func:`read_media` reads a chunk when the embedder or the LLM needs it, so a folder of large
photos is never held in memory at once.

* :func:`load_class_folders` — ``DIR/<label>/<file>`` (sub-folders of a class folder count too);
* :func:`load_labels_csv` — ``DIR`` and a CSV file with a header: a file column (a path relative
  to ``DIR``) and a label column;
* :func:`load_media_jsonl` — JSON lines ``{"image": path-or-URL, "label": ...}`` (or ``audio``,
  ``video``; the key is found in the first row or named), paths relative to the file's folder,
  anything else (``http(s)``, ``data:``, Label Studio paths, cloud URIs) through
  :class:`~labelloop.media.fetch.MediaFetcher` with its host rules; an optional ``split`` field;
* :func:`digits_set` — scikit-learn's bundled digits (1,797 8 × 8 images, 10 classes) as PNGs
  upscaled to ``side`` pixels: an offline demo.

Hidden files (``.DS_Store``) are left out; a file that is not media of the modality is kept and
becomes a skip with its reason when it fails to decode, as in a project.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from labelloop.embeddings.media_base import Modality
from labelloop.media.types import Media
from labelloop.simulate.data import InvalidDataFile, json_rows

if TYPE_CHECKING:
    from labelloop.media.fetch import MediaFetcher

Source = Path | str | bytes
"""Where one item's bytes are: a local file, a value for the media fetcher, or the bytes."""
MODALITY_KEYS: tuple[Modality, ...] = ("image", "audio", "video")
FILE_COLUMNS = ("file", "path", "filename", "image", "audio", "video")


@dataclass(frozen=True)
class MediaSet:
    """``sources[i]`` holds item ``i``, ``names[i]`` says which it is (in skip reasons),
    ``y[i]`` its class position in ``labels`` (sorted distinct); ``is_test``: from a ``split``
    field (None: split at random)."""

    modality: Modality
    sources: list[Source]
    names: list[str]
    y: np.ndarray
    labels: list[str]
    is_test: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, keep: np.ndarray) -> MediaSet:
        """The items where ``keep`` (a boolean mask) is true; labels and their order kept."""
        idx = np.flatnonzero(keep)
        return replace(self, sources=[self.sources[i] for i in idx],
                       names=[self.names[i] for i in idx], y=self.y[idx],
                       is_test=None if self.is_test is None else self.is_test[idx])


@dataclass(frozen=True)
class Unread:
    """Why an item's bytes could not be read (a missing file, a fetch that failed)."""

    reason: str


def labelled(modality: Modality, sources: Sequence[Source], names: Sequence[str],
             raw_labels: Sequence[str], *, where: str,
             is_test: np.ndarray | None = None) -> MediaSet:
    """A :class:`MediaSet` from parallel lists; at least two distinct labels."""
    labels = sorted(set(raw_labels))
    if len(labels) < 2:
        raise InvalidDataFile(f"{where}: needs at least two distinct labels, found {labels}")
    index = {c: i for i, c in enumerate(labels)}
    y = np.array([index[c] for c in raw_labels], dtype=np.int64)
    return MediaSet(modality, list(sources), list(names), y, labels, is_test)


def _visible_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def load_class_folders(root: str | Path, *, modality: Modality) -> MediaSet:
    """``root/<label>/…/<file>``: every visible file under a class folder, labelled with the
    folder's name (files directly in ``root`` are not labelled, so not used)."""
    base = Path(root)
    if not base.is_dir():
        raise InvalidDataFile(f"{base}: not a folder")
    paths: list[Path] = []
    raw: list[str] = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = _visible_files(folder)
        paths += files
        raw += [folder.name] * len(files)
    if not paths:
        raise InvalidDataFile(f"{base}: no files in class sub-folders (expected "
                              f"{base}/<label>/<file>)")
    return labelled(modality, paths, [str(p.relative_to(base)) for p in paths], raw,
                    where=str(base))


def load_labels_csv(root: str | Path, table: str | Path, *, modality: Modality,
                    file_column: str | None = None, label_column: str = "label") -> MediaSet:
    """Files under ``root`` labelled by a CSV file with a header: ``file_column`` (default the
    first of ``file``, ``path``, ``filename``, ``image``, ``audio``, ``video`` present) holds
    each path relative to ``root``, ``label_column`` its label."""
    base = Path(root)
    try:
        with Path(table).open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise InvalidDataFile(f"cannot read {table}: {exc}") from exc
    columns = list(rows[0]) if rows else []
    column = file_column or next((c for c in FILE_COLUMNS if c in columns), None)
    if column is None or column not in columns or label_column not in columns:
        wanted = file_column or "/".join(FILE_COLUMNS)
        raise InvalidDataFile(f"{table}: needs a header with a file column ({wanted}) and "
                              f"{label_column!r}; found {columns}")
    paths: list[Path] = []
    raw: list[str] = []
    for n, row in enumerate(rows, start=2):
        name, label = (row.get(column) or "").strip(), (row.get(label_column) or "").strip()
        if not name or not label:
            raise InvalidDataFile(f"{table}:{n}: empty {column!r} or {label_column!r}")
        paths.append(base / name)
        raw.append(label)
    return labelled(modality, paths, [str(p.relative_to(base)) for p in paths], raw,
                    where=str(table))


def media_field(path: str | Path) -> Modality | None:
    """The media key (``image``, ``audio``, ``video``) of a JSON-lines file's first row."""
    rows = json_rows(path)
    return next((k for k in MODALITY_KEYS if rows and k in rows[0][1]), None)


def load_media_jsonl(path: str | Path, *, field: str | None = None, label_field: str = "label",
                     split_field: str = "split", modality: Modality | None = None) -> MediaSet:
    """One ``{field: path-or-URL, label_field: label}`` object per line (see the module);
    ``field`` defaults to the media key of the first row, which is also the modality unless
    ``modality`` says otherwise."""
    key = field or media_field(path)
    kind = modality or (key if key in MODALITY_KEYS else None)
    if key is None or kind is None:
        raise InvalidDataFile(f"{path}: no media field: rows need an 'image', 'audio' or "
                              "'video' key (or name the field and the modality)")
    folder = Path(path).parent
    sources: list[Source] = []
    names: list[str] = []
    raw: list[str] = []
    splits: list[object] = []
    for n, row in json_rows(path):
        value, label = row.get(key), row.get(label_field)
        if not isinstance(value, str) or not value.strip():
            raise InvalidDataFile(f"{path}:{n}: no file or URL in field {key!r}")
        if label is None or isinstance(label, (list, dict)):
            raise InvalidDataFile(f"{path}:{n}: field {label_field!r} must hold one label")
        local = folder / value
        sources.append(local if "://" not in value and not value.startswith("data:")
                       and local.is_file() else value)
        names.append(value if not value.startswith("data:") else f"{path}:{n} (data: URL)")
        raw.append(str(label))
        splits.append(row.get(split_field))
    is_test = None
    if all(s in ("train", "test") for s in splits):
        is_test = np.array([s == "test" for s in splits])
        if is_test.all() or not is_test.any():
            raise InvalidDataFile(f"{path}: the split field must mark both train and test rows")
    return labelled(kind, sources, names, raw, where=str(path), is_test=is_test)


def digits_set(*, side: int = 64) -> MediaSet:
    """scikit-learn's digits (bundled with it: nothing downloaded) as ``side`` × ``side`` grey
    PNGs, labels ``"0"``…``"9"``."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    blobs: list[Source] = []
    for a in d.images:
        img = Image.fromarray((a * 255 / 16).astype(np.uint8)).resize(
            (side, side), Image.Resampling.NEAREST)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        blobs.append(buf.getvalue())
    return labelled("image", blobs, [f"digits[{i}]" for i in range(len(blobs))],
                    [str(int(t)) for t in d.target], where="digits")


def read_media(sources: Sequence[Source], *, modality: Modality,
               fetcher: MediaFetcher | None = None) -> list[bytes | Unread]:
    """The bytes of each source, in order, or why there are none. Values that are not files go
    through ``fetcher`` (its host rules, size limit and content check); without one they are
    :class:`Unread`."""
    out: list[bytes | Unread] = [Unread("not read")] * len(sources)
    values: dict[int, str] = {}
    for i, src in enumerate(sources):
        if isinstance(src, bytes):
            out[i] = src
        elif isinstance(src, Path):
            try:
                out[i] = src.read_bytes()
            except OSError as exc:
                out[i] = Unread(f"cannot read the file: {exc.strerror or exc}")
        else:
            values[i] = src
    if values and fetcher is None:
        for i in values:
            out[i] = Unread("not a file here, and no media fetcher to get it")
    elif values and fetcher is not None:
        got = fetcher.fetch_many(list(values.values()), kind=modality)
        for i, media in zip(values, got):
            out[i] = media.data if isinstance(media, Media) else Unread(str(media))
    return out
