"""A disk cache of fetched media, keyed by URL, with the validators to revalidate it.

Each entry is ``<sha256(url)>.bin`` (the bytes) and ``<sha256(url)>.json`` (ETag, Last-Modified,
sniffed type, size). A second fetch of a URL sends ``If-None-Match``/``If-Modified-Since``; a 304
serves the stored bytes (0 body bytes over the network). The cache holds at most ``max_bytes``;
past it the entries used least recently (the ``.json``'s mtime, touched on each use, not the
file system's atime) are removed. Several processes may share the folder: files are written to
a temporary name and renamed, and a missing or torn entry is a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)
TORN_AFTER_S = 300.0  # a bytes file with no entry file this old was torn by a crash


@dataclass(frozen=True)
class CacheEntry:
    url: str
    content_type: str
    size: int
    etag: str | None
    last_modified: str | None

    @property
    def validators(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class MediaCache:
    def __init__(self, folder: Path, *, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes on disk, counted on first store

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def _paths(self, url: str) -> tuple[Path, Path]:
        key = hashlib.sha256(url.encode()).hexdigest()
        return self.folder / f"{key}.json", self.folder / f"{key}.bin"

    def get(self, url: str) -> tuple[CacheEntry, Path] | None:
        """The entry for ``url`` and the path of its bytes, or None."""
        if not self.enabled:
            return None
        meta, blob = self._paths(url)
        try:
            entry = CacheEntry(**json.loads(meta.read_text()))
            if entry.url != url or blob.stat().st_size != entry.size:
                return None
        except (OSError, ValueError, TypeError):
            return None
        return entry, blob

    def read(self, url: str) -> tuple[CacheEntry, bytes] | None:
        """The entry's bytes, its use recorded (LRU); None when gone meanwhile."""
        found = self.get(url)
        if found is None:
            return None
        entry, blob = found
        try:
            data = blob.read_bytes()
            os.utime(self._paths(url)[0])
        except OSError:
            return None
        return (entry, data) if len(data) == entry.size else None

    def touch(self, url: str, *, etag: str | None, last_modified: str | None) -> None:
        """After a 304: record the use and any new validators."""
        found = self.get(url)
        if found is None:
            return
        entry, _ = found
        if (etag or entry.etag) != entry.etag or (last_modified or entry.last_modified) != \
                entry.last_modified:
            entry = CacheEntry(entry.url, entry.content_type, entry.size,
                               etag or entry.etag, last_modified or entry.last_modified)
            self._write(self._paths(url)[0], json.dumps(asdict(entry)).encode())
        else:
            try:
                os.utime(self._paths(url)[0])
            except OSError:
                pass

    def put(self, url: str, data: bytes, *, content_type: str, etag: str | None,
            last_modified: str | None) -> None:
        if not self.enabled or len(data) > self.max_bytes:
            return
        meta, blob = self._paths(url)
        entry = CacheEntry(url, content_type, len(data), etag, last_modified)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            old = blob.stat().st_size if blob.exists() else 0
            self._write(blob, data)
            self._write(meta, json.dumps(asdict(entry)).encode())
        except OSError as exc:  # a full or read-only disk costs a refetch, nothing else
            log.warning("media cache: cannot store %s: %s", meta.name, exc)
            return
        with self._lock:
            if self._total is None:
                self._total = self._count()
            else:
                self._total += len(data) - old
            if self._total > self.max_bytes:
                self._total = self._evict()

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def _count(self) -> int:
        total = 0
        for blob in self.folder.glob("*.bin"):
            try:
                if blob.with_suffix(".json").exists():
                    total += blob.stat().st_size
                elif time.time() - blob.stat().st_mtime > TORN_AFTER_S:
                    # torn by a crash between the two writes; a fresh one is another thread's
                    # (or process's) entry between its two writes: removing it made a fetch
                    # whose bytes were just stored miss the cache for ever after
                    blob.unlink(missing_ok=True)
            except OSError:
                continue
        return total

    def _evict(self) -> int:
        """Remove least recently used entries until the cache holds at most 90 % of its limit;
        return the bytes left."""
        entries: list[tuple[float, int, Path, Path]] = []
        for meta in self.folder.glob("*.json"):
            blob = meta.with_suffix(".bin")
            try:
                entries.append((meta.stat().st_mtime, blob.stat().st_size, meta, blob))
            except OSError:
                continue
        total = sum(e[1] for e in entries)
        target = self.max_bytes * 9 // 10
        for _, size, meta, blob in sorted(entries, key=lambda e: e[0]):
            if total <= target:
                break
            for path in (meta, blob):
                path.unlink(missing_ok=True)
            total -= size
        return total
