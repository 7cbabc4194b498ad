"""The stream's outbox against a real Label Studio 1.23.2: items posted to ``POST
/api/projects/{id}/stream`` of a running ``labelloop serve`` that were selected become Label
Studio tasks exactly once each, carrying their key in ``meta`` and ``data``; and an import whose
answer was lost (Label Studio did the work, the answer never came) is found again by key, not
sent twice."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import make_settings
from tests.e2e.fault_proxy import FaultProxy
from tests.e2e.ls_harness import LabelStudioServer
from tests.e2e.test_foundation_e2e import wait_for
from tests.loop.test_retrain import ToyEmbedder

from labelloop.events.projects import record_project
from labelloop.jobs.registry import default_handlers
from labelloop.jobs.types import JobStatus
from labelloop.jobs.worker import Worker
from labelloop.labelstudio.access import GatewayProvider
from labelloop.labelstudio.client import make_gateway
from labelloop.loop.resources import Resources
from labelloop.storage.base import Storage, open_storage
from labelloop.storage.records_stream import StreamItemRow
from labelloop.stream.ingest import stream_export_spec
from labelloop.stream.outbox_plan import KEY_FIELD, stream_key_of

pytestmark = pytest.mark.e2e
WORDS = ["great", "awful", "okay"]


def ls_tasks(label_studio: LabelStudioServer, pid: int) -> list[dict[str, Any]]:
    return list(label_studio.gateway.iter_tasks(pid))


def test_selected_stream_items_become_label_studio_tasks_once(
        label_studio: LabelStudioServer, new_project, labelloop_process) -> None:
    p = new_project(3)  # tasks of its own besides the stream's
    proc = labelloop_process({
        "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.token,
        "LABELLOOP_RETRAIN_DEBOUNCE_S": "3600", "LABELLOOP_RESYNC_INTERVAL_S": "0",
        "LABELLOOP_JOB_POLL_INTERVAL_S": "0.2", "LABELLOOP_STREAM_BUDGET": "0.2",
        "LABELLOOP_STREAM_EXPORT_BATCH": "25",
        # the answers name the picks (the deferred default is test_stream_e2e's)
        "LABELLOOP_STREAM_DECIDE": "ingest"})
    label_studio.sdk.ml.create(project=p.id, url=proc.url, title="labelloop", auth_method="NONE")
    selected: list[str] = []
    for b in range(3):
        body = {"items": [{"key": f"key-{b}-{i}", "data": {"text": f"{WORDS[i % 3]} item {i}"}}
                          for i in range(100)]}
        r = httpx.post(f"{proc.url}/api/projects/{p.id}/stream", json=body, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["received"] == 100
        selected += r.json()["selected"]
    assert 40 <= len(selected) <= 80  # 20 % of 300, within the budget manager's band

    def stream_keys() -> Counter[str | None]:
        return Counter(stream_key_of(t) for t in ls_tasks(label_studio, p.id))

    wait_for("every selected item in Label Studio",
             lambda: sum(n for k, n in stream_keys().items() if k) >= len(selected))
    time.sleep(1.0)  # anything created twice would show now
    keys = stream_keys()
    assert keys.pop(None) == 3
    assert keys == Counter(selected), "each selected key exactly once, nothing else"
    for task in ls_tasks(label_studio, p.id):
        key = stream_key_of(task)
        if key is not None:  # Label Studio 1.23.2 keeps both copies of the key
            assert task["meta"] == {KEY_FIELD: key} and task["data"][KEY_FIELD] == key
            assert task["data"]["text"].endswith(f"item {key.rsplit('-', 1)[1]}")
    storage = open_storage(f"sqlite:///{proc.data_dir / 'labelloop.db'}")
    try:
        with storage.read() as tx:
            counts = tx.stream_counts(p.id)
            known = {t.id: t for t in tx.get_tasks(p.id)}
        assert counts.created == len(selected) and counts.pending == counts.sending == 0
        with_key = {t.meta[KEY_FIELD] for t in known.values() if t.meta and KEY_FIELD in t.meta}
        assert with_key == set(selected)  # labelloop's own tasks table knows them
    finally:
        storage.close()


def test_an_import_whose_answer_was_lost_is_found_by_key_not_sent_again(
        label_studio: LabelStudioServer, new_project, tmp_path: Path) -> None:
    p = new_project(2)
    proxy = FaultProxy(label_studio.url, hang_s=1.0).start()
    try:
        s = make_settings(tmp_path, label_studio_url=proxy.url,
                          label_studio_api_key=label_studio.token, stream_export_batch=4,
                          job_backoff_scale=0.0)
        storage = open_storage(s.resolved_database_url)
        with storage.write() as tx:
            record_project(tx, p.id, label_config=label_studio.gateway.get_project(p.id)[
                "label_config"])
            tx.add_stream_items(p.id, [StreamItemRow(
                key=f"lost-{i}", data={"text": f"{WORDS[i % 3]} thing {i}"}, prediction=None,
                feedback=None, correction=None, selected=True, reason="uncertain")
                for i in range(10)], at=time.time())
        gateways = GatewayProvider(s, lambda url, key, timeout: make_gateway(
            url, key, timeout=timeout, max_retries=0, slow_timeout=5.0))
        worker = Worker(storage, s, default_handlers(s), gateways=gateways, worker_id="e2e",
                        resources=Resources(s, embedder=ToyEmbedder()))
        proxy.arm(2, "hang")  # the second import: Label Studio stores it, the answer is lost
        status = run_export(worker, storage, p.id)
        assert status is JobStatus.QUEUED
        assert Counter(it.status for it in items(storage, p.id)) == {
            "created": 4, "sending": 4, "pending": 2}
        assert run_export(worker, storage, p.id) is JobStatus.SUCCEEDED
        assert Counter(it.status for it in items(storage, p.id)) == {"created": 10}
        keys = Counter(stream_key_of(t) for t in ls_tasks(label_studio, p.id))
        assert keys.pop(None) == 2 and keys == Counter(f"lost-{i}" for i in range(10))
        imports = [r for r in proxy.log if r == f"POST /api/projects/{p.id}/import"]
        assert len(imports) == 3  # 4 + 4 (answer lost, found again) + 2: nothing sent twice
        for it in items(storage, p.id):
            task = label_studio.gateway.iter_tasks(p.id, after_id=it.ls_task_id - 1)
            assert stream_key_of(next(task)) == it.key
        storage.close()
    finally:
        proxy.stop()


def run_export(worker: Worker, storage: Storage, pid: int) -> JobStatus:
    with storage.write() as tx:
        jid, _ = tx.enqueue(stream_export_spec(pid))
        tx.conn.exec_driver_sql("UPDATE jobs SET run_after = 0 WHERE status = 'queued'")
    while (job := worker.run_once()) is not None and job.id != jid:
        pass
    with storage.read() as tx:
        return tx.get_job(jid).status  # type: ignore[union-attr]


def items(storage: Storage, pid: int):
    with storage.read() as tx:
        return tx.get_stream_items(pid)
