"""The media cache's count of its bytes removes torn entries (bytes with no entry file) only
when they are old: a fresh one is another thread's entry between its two writes (found by the
image retrain test: a concurrent fetch's bytes were deleted, so that file was fetched again on
every later run)."""

from __future__ import annotations

import os
import time

from labelloop.media.cache import TORN_AFTER_S, MediaCache


def test_counting_keeps_an_entry_being_written_and_removes_an_old_torn_one(tmp_path) -> None:
    cache = MediaCache(tmp_path, max_bytes=10_000)
    fresh = tmp_path / ("a" * 64 + ".bin")
    fresh.write_bytes(b"x" * 10)  # another writer's bytes; its .json comes next
    old = tmp_path / ("b" * 64 + ".bin")
    old.write_bytes(b"y" * 10)
    past = time.time() - TORN_AFTER_S - 5
    os.utime(old, (past, past))
    cache.put("http://ls/data/upload/1/c.png", b"z" * 20, content_type="image/png", etag=None,
              last_modified=None)
    assert fresh.exists() and not old.exists()
    fresh.with_suffix(".json").write_text("{}")  # the other writer finishes
    assert cache._count() == 30
