"""kill -9 during ingest loses no acknowledged item (issue 17).

``labelloop serve`` runs as a subprocess on SQLite; four threads post batches of unique keys
(every fifth batch with one bad item, so some answers are 422s that list the accepted keys) and
record every key the server acknowledged. The server is SIGKILLed mid-stream, restarted on the
same data dir, and labelloop's database is read directly: every acknowledged key is stored, once.
The same keys posted again after the restart come back as duplicates, never selected again.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from tests.conftest import CONFIG, make_settings
from tests.e2e.ls_harness import LabelloopProcess

from labelloop.events.projects import record_project
from labelloop.storage.base import Storage, open_storage

SENDERS = 4
BATCH = 50
PROJECT = 1


def batch(sender: int, n: int) -> tuple[list[dict], list[str]]:
    """Batch ``n`` of ``sender`` and its good keys (every fifth batch has a bad item)."""
    items = [{"key": f"s{sender}-b{n}-{i}", "data": {"text": f"sender {sender} item {n}.{i}"}}
             for i in range(BATCH)]
    good = [it["key"] for it in items]
    if n % 5 == 4:
        items[7] = {"key": items[7]["key"], "data": {"title": "no text"}}
        good.remove(items[7]["key"])
    return items, good


class Sender(threading.Thread):
    def __init__(self, url: str, sender: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.sender, self.stop = url, sender, stop
        self.acked: list[str] = []
        self.in_flight: list[str] = []  # posted, answer never received (the kill)
        self.partial = 0  # 422 answers with an accepted list
        self.unexpected: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as http:
            n = 0
            while not self.stop.is_set():
                items, good = batch(self.sender, n)
                n += 1
                try:
                    r = http.post(f"/api/projects/{PROJECT}/stream", json={"items": items})
                except httpx.TransportError:
                    self.in_flight.extend(good)
                    return
                body = r.json()
                if r.status_code == 200:
                    if body["received"] + body["duplicates"] != len(items):
                        self.unexpected.append(f"200 {body}")
                    self.acked.extend(good)
                elif r.status_code == 422 and "accepted" in body:
                    if sorted(body["accepted"]) != sorted(good):
                        self.unexpected.append(f"422 accepted {body['accepted']} != {good}")
                    self.acked.extend(body["accepted"])
                    self.partial += 1
                else:
                    self.unexpected.append(f"{r.status_code} {r.text[:300]}")
                    return


def stored_keys(storage: Storage, keys: list[str]) -> list[str]:
    found: list[str] = []
    with storage.read() as tx:
        for i in range(0, len(keys), 500):
            found.extend(it.key for it in tx.get_stream_items(PROJECT, keys=keys[i:i + 500]))
    return found


def test_kill9_during_ingest_loses_no_acknowledged_item(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = make_settings(data_dir)
    storage = open_storage(settings.resolved_database_url)
    with storage.write() as tx:
        record_project(tx, PROJECT, label_config=CONFIG)
    storage.close()
    proc = LabelloopProcess(data_dir, env={"LABELLOOP_STREAM_BUDGET": "0.2",
                                           "LABELLOOP_WORKER_MODE": "external"}).start()
    try:
        stop = threading.Event()
        senders = [Sender(proc.url, s, stop) for s in range(SENDERS)]
        for s in senders:
            s.start()
        deadline = time.monotonic() + 30
        while sum(len(s.acked) for s in senders) < 3000 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.kill9()  # mid-stream: every sender has a batch on the wire or about to be
        stop.set()
        for s in senders:
            s.join(15)
        assert not [u for s in senders for u in s.unexpected], [s.unexpected for s in senders]
        acked = [k for s in senders for k in s.acked]
        assert len(acked) >= 3000 and len(set(acked)) == len(acked)
        assert sum(s.partial for s in senders) > 0  # the 422 path was exercised
        assert any(s.in_flight for s in senders)  # the kill did hit the stream mid-way

        proc.start()
        storage = open_storage(settings.resolved_database_url)
        try:
            found = stored_keys(storage, acked)
            assert len(found) == len(acked)  # each stored once (keys are unique per project)
            assert set(found) == set(acked), sorted(set(acked) - set(found))[:20]
            with storage.read() as tx:
                counts = tx.stream_counts(PROJECT)
            # nothing stored that was not sent: acknowledged plus, at most, the batches in flight
            in_flight = [k for s in senders for k in s.in_flight]
            assert len(acked) <= counts.received <= len(acked) + len(in_flight)

            # the same keys again after the restart: duplicates, nothing received or selected
            with httpx.Client(base_url=proc.url, timeout=30) as http:
                for s in senders:
                    items = [{"key": k, "data": {"text": "again"}} for k in s.acked[:BATCH * 4]]
                    r = http.post(f"/api/projects/{PROJECT}/stream", json={"items": items})
                    assert r.status_code == 200, r.text
                    assert r.json() == {"received": 0, "selected": [],  # deferred (default)
                                        "duplicates": len(items), "deciding": 0}
                # a batch lost in flight is retried: stored once whichever way the kill fell
                retry = [{"key": k, "data": {"text": "retry"}} for k in in_flight]
                r = http.post(f"/api/projects/{PROJECT}/stream", json={"items": retry})
                assert r.status_code == 200, r.text
                assert r.json()["received"] + r.json()["duplicates"] == len(retry)
            assert set(stored_keys(storage, in_flight)) == set(in_flight)
            with storage.read() as tx:
                after = tx.stream_counts(PROJECT)
            assert after.received == len(acked) + len(in_flight)
        finally:
            storage.close()
    finally:
        proc.stop()
