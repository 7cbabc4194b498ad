"""Issue 18's reproduction end to end through the app: a task whose text holds a lone surrogate
(JSON ``"\\udc80"``, which Label Studio stores and sends as given) arrives by webhook, by
``/predict`` and by resync; then 12 clean annotations. Before the edge cleaning, every embed and
retrain of the project died (``UnicodeEncodeError`` in ``embeddings/cache.py``). Jobs run with the
real bundled embedding model."""

from __future__ import annotations

import json

import sqlalchemy as sa
from tests.conftest import CONFIG
from tests.fakes.label_studio import FakeGateway

from labelloop.jobs.registry import default_handlers
from labelloop.jobs.types import JobKind, JobStatus
from labelloop.jobs.worker import Worker
from labelloop.labelstudio.access import GatewayProvider
from labelloop.loop.resources import Resources
from labelloop.storage import tables as t

WORDS = {"positive": "great", "negative": "awful", "neutral": "plot"}
CLASSES = list(WORDS)
BAD = 7
RAW_BAD = f'"{WORDS[CLASSES[BAD % 3]]} movie \\udc80 number {BAD}"'  # JSON text, as sent


def text_of(i: int) -> str:
    return f"{WORDS[CLASSES[i % 3]]} movie number {i}"


def post_json(client, path: str, body: str):
    """POST a JSON text as it is (the test client cannot encode a lone surrogate itself)."""
    return client.post(path, content=body.encode("ascii"),
                       headers={"content-type": "application/json"})


def test_a_lone_surrogate_by_webhook_predict_and_resync_stops_nothing(client_factory,
                                                                      fake_ls: FakeGateway,
                                                                      ) -> None:
    client = client_factory(label_studio_url="http://ls", label_studio_api_key="k" * 10)
    services = client.app.state.services
    fake_ls.add_project(1, CONFIG)
    for i in range(1, 31):  # Label Studio holds the bad text as given: the resync reads it too
        fake_ls.add_task(1, i, {"text": json.loads(RAW_BAD) if i == BAD else text_of(i)})
    assert client.post("/setup", json={"project": "1.1700000000",
                                       "schema": CONFIG}).status_code == 200
    tasks = ",".join(f'{{"id": {i}, "data": {{"text": '
                     f'{RAW_BAD if i == BAD else json.dumps(text_of(i))}}}}}'
                     for i in range(1, 31))
    r = post_json(client, "/webhook",
                  f'{{"action": "TASKS_CREATED", "project": {{"id": 1}}, "tasks": [{tasks}]}}')
    assert r.status_code == 200, r.text
    r = post_json(client, "/predict", f'{{"project": "1.1700000000", "tasks": [{{"id": {BAD}, '
                                      f'"data": {{"text": {RAW_BAD}}}}}]}}')
    assert r.status_code == 200, r.text
    for tid in [i for i in range(1, 14) if i != BAD]:  # 12 clean annotations
        ann = fake_ls.annotate(tid, CLASSES[tid % 3])
        r = client.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": {"id": 1},
                                          "annotation": ann, "task": {"id": tid}})
        assert r.status_code == 200, r.text

    s = services.settings
    worker = Worker(services.storage, s, default_handlers(s),
                    gateways=GatewayProvider(s, lambda *_: fake_ls), resources=Resources(s))
    ran = []
    while (job := worker.run_once()) is not None and len(ran) < 60:
        ran.append(job.kind)
    with services.storage.read() as tx:
        jobs = tx.list_jobs(limit=200)
        project = tx.get_project(1)
        stored = {t.id: t for t in tx.get_tasks(1)}
        original = tx.conn.execute(sa.select(t.tasks.c.original)
                                   .where(t.tasks.c.id == BAD)).scalar_one()
    assert {JobKind.RESYNC, JobKind.EMBED, JobKind.RETRAIN} <= set(ran)
    dead = [(j.kind, j.last_error) for j in jobs if j.status is JobStatus.DEAD]
    assert dead == []
    finished = {j.kind for j in jobs if j.status is JobStatus.SUCCEEDED}
    assert {JobKind.EMBED, JobKind.RETRAIN} <= finished
    assert project is not None and project.published_version is not None
    # cleaned at the edge: U+FFFD in place of the surrogate, the original kept beside it
    assert stored[BAD].data == {"text": f"{WORDS[CLASSES[BAD % 3]]} movie \ufffd number {BAD}"}
    assert json.loads(original)["data"]["text"] == json.loads(RAW_BAD)
    assert BAD in {p["task"] for p in fake_ls.predictions}  # queued and published like any other
    status = client.get("/status").json()
    assert status["skipped"] == {"count": 0, "reasons": []}
    assert not status["dead_jobs"]
