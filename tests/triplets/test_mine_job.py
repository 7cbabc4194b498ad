"""The ``triplet_mine`` job against the fake Label Studio and the loopback fake LLM: triplets
created as tasks in batches with the LLM's pre-judgement as a valid prediction, held-out items
never asked, nothing created twice (a run again, a lost answer, a second round), Label Studio
refusing one triplet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labelloop.errors import LabelStudioUnavailable
from labelloop.jobs.registry import default_handlers
from labelloop.jobs.triggers import new_tasks_specs
from labelloop.jobs.types import JobKind, JobStatus
from labelloop.jobs.worker import Worker
from labelloop.labelconfig.kinds import validate_result
from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelstudio.access import GatewayProvider
from labelloop.llm import LLMLabeler
from labelloop.loop.resources import Resources
from labelloop.storage.base import Storage
from labelloop.triplets.mine_job import mine_spec
from labelloop.triplets.plan import KEY_FIELD, held_out_mask
from labelloop.triplets.service import add_corpus, queue_mining
from tests.fakes.label_studio import FakeGateway
from tests.fakes.llm_server import FakeLLM
from tests.llm.conftest import llm_settings
from tests.triplets.configs import TRIPLET_CONFIG
from tests.triplets.helpers import (
    GroupEmbedder,
    corpus_rows,
    gold_for,
    make_worker,
    rule,
    run_all,
    setup_project,
    triplet_settings,
)

SCHEMA = parse_label_config(TRIPLET_CONFIG)


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    texts = [r.text for r in corpus_rows()]
    server = FakeLLM(gold_for(texts), labels=["first", "second", "tie"]).start()
    yield server
    server.stop()


def ls_triplets(ls: FakeGateway) -> list[dict]:
    return [t for t in sorted(ls.tasks.values(), key=lambda t: t["id"]) if t["project"] == 1]


def test_a_round_creates_pre_judged_triplet_tasks_in_batches(
        storage: Storage, fake_ls: FakeGateway, tmp_path: Path, llm: FakeLLM) -> None:
    s = llm_settings(tmp_path, llm, **{k: v for k, v in triplet_settings(tmp_path)
                                       .model_dump().items()
                                       if k.startswith(("triplet", "label_studio", "job_"))})
    setup_project(storage, fake_ls)
    got = add_corpus(storage, 1, corpus_rows())
    assert got.mining
    w = make_worker(storage, fake_ls, s, labeler=LLMLabeler(s, storage))
    ran = run_all(storage, w)
    assert [j.kind for j in ran] == [JobKind.TRIPLET_MINE]
    tasks = ls_triplets(fake_ls)
    assert len(tasks) == 8
    assert [len(ids) for ids in fake_ls.imports] == [3, 3, 2]  # triplet_import_batch
    with storage.read() as tx:
        stored = {t.key: t for t in tx.get_triplet_tasks(1)}
        corpus = tx.get_corpus(1)
        known = {t.id for t in tx.get_tasks(1)}
    held = {c.id for c, h in zip(corpus, held_out_mask(1, corpus, fraction=s.triplet_heldout))
            if h}
    assert held  # some grouped items are held out ...
    texts = {c.id: c.text for c in corpus}
    for task in tasks:
        key = task["data"][KEY_FIELD]
        t = stored[key]
        assert task["meta"][KEY_FIELD] == key and t.ls_task_id == task["id"]
        assert task["data"]["anchor"] == texts[t.anchor_id]
        assert (task["data"]["first"], task["data"]["second"]) == (texts[t.first_id],
                                                                    texts[t.second_id])
        assert not held & {t.anchor_id, t.first_id, t.second_id}  # ... and never asked
        assert t.round == 1 and t.status == "created" and 0.0 <= (t.hardness or 0) <= 1.0
        assert t.llm_judgement == rule(texts[t.anchor_id], texts[t.first_id],
                                       texts[t.second_id])
    assert known == {t["id"] for t in tasks}  # in labelloop's tasks table at once
    preds = {p["task"]: p for p in fake_ls.predictions}
    assert set(preds) == {t["id"] for t in tasks}
    for task in tasks:
        p = preds[task["id"]]
        validate_result(SCHEMA, p["result"])
        assert p["result"][0]["value"]["choices"] == [stored[task["data"][KEY_FIELD]]
                                                      .llm_judgement]
        assert p["model_version"].startswith("llm-") and 0 < p["score"] <= 1
    calls = llm.calls
    # the same round again: nothing mined, nothing asked, nothing created twice
    with storage.write() as tx:
        tx.enqueue(mine_spec(1, 1))
    run_all(storage, w)
    assert len(ls_triplets(fake_ls)) == 8 and llm.calls == calls
    # the next round: new triplets only (no key again, in either candidate order)
    assert queue_mining(storage, 1) == 2
    run_all(storage, w)
    with storage.read() as tx:
        after = tx.get_triplet_tasks(1)
    assert len(after) == 16 and len({t.key for t in after}) == 16
    assert sorted({t.round for t in after}) == [1, 2]
    assert len(ls_triplets(fake_ls)) == 16


def test_a_lost_answer_is_recovered_without_a_double(
        storage: Storage, fake_ls: FakeGateway, tmp_path: Path) -> None:
    s = triplet_settings(tmp_path)  # no LLM: tasks without predictions
    setup_project(storage, fake_ls)
    add_corpus(storage, 1, corpus_rows())
    fake_ls.lose_answer_next = 1
    w = make_worker(storage, fake_ls, s)
    run_all(storage, w)
    with storage.read() as tx:
        jobs = tx.list_jobs(project_id=1)
        tasks = tx.get_triplet_tasks(1)
    assert [j.status for j in jobs] == [JobStatus.SUCCEEDED]
    assert len(jobs) == 1 and jobs[0].attempts == 2  # failed once, then recovered
    assert len(ls_triplets(fake_ls)) == 8 == len(tasks)
    assert {t.status for t in tasks} == {"created"}
    assert len({t.ls_task_id for t in tasks}) == 8
    assert fake_ls.predictions == []


def test_label_studio_refusing_one_triplet_parks_it(
        storage: Storage, fake_ls: FakeGateway, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    s = triplet_settings(tmp_path)
    setup_project(storage, fake_ls)
    add_corpus(storage, 1, corpus_rows())
    real = fake_ls.import_tasks
    refused: list[str] = []

    def refuse_first(project_id: int, tasks: list[dict]) -> list[int]:
        bad = refused[0] if refused else tasks[0]["data"][KEY_FIELD]
        refused[:1] = [bad]
        if any(t["data"][KEY_FIELD] == bad for t in tasks):
            raise LabelStudioUnavailable("400", detail={"call": "import_tasks", "status": 400})
        return real(project_id, tasks)

    monkeypatch.setattr(fake_ls, "import_tasks", refuse_first)
    run_all(storage, make_worker(storage, fake_ls, s))
    with storage.read() as tx:
        by_status = {t.key: t.status for t in tx.get_triplet_tasks(1)}
        counts = tx.triplet_counts(1)
    assert by_status[refused[0]] == "failed"
    assert (counts.created, counts.failed) == (7, 1) and len(ls_triplets(fake_ls)) == 7


def test_without_label_studio_credentials_the_job_dies_saying_why(
        storage: Storage, fake_ls: FakeGateway, tmp_path: Path) -> None:
    s = triplet_settings(tmp_path, label_studio_url=None, label_studio_api_key=None)
    setup_project(storage, fake_ls)
    add_corpus(storage, 1, corpus_rows())
    w = Worker(storage, s, default_handlers(s), gateways=GatewayProvider(s), worker_id="w",
               resources=Resources(s, embedder=GroupEmbedder()))
    run_all(storage, w)
    with storage.read() as tx:
        (job,) = tx.list_jobs(project_id=1)
        assert tx.get_triplet_tasks(1) == []
    assert job.status is JobStatus.DEAD and "Label Studio" in (job.last_error or "")


def test_the_classic_loop_leaves_triplet_tasks_alone(
        storage: Storage, fake_ls: FakeGateway, tmp_path: Path, llm: FakeLLM) -> None:
    """New tasks queue embed and pre-label jobs (webhooks): on a triplet project they end at
    once, embedding nothing and asking the LLM nothing."""
    s = llm_settings(tmp_path, llm, label_studio_url="http://ls",
                     label_studio_api_key="k", job_backoff_scale=0.0)
    setup_project(storage, fake_ls)
    with storage.write() as tx:
        tx.upsert_tasks(1, [{"id": 7, "data": {"anchor": "a cat", "first": "a car",
                                                "second": "soup"}}])
        for spec in new_tasks_specs(1, s):
            tx.enqueue(spec)
    ran = run_all(storage, make_worker(storage, fake_ls, s, labeler=LLMLabeler(s, storage)))
    assert sorted(j.kind.value for j in ran) == ["embed", "prelabel"]
    with storage.read() as tx:
        assert all(j.status is JobStatus.SUCCEEDED for j in tx.list_jobs(project_id=1))
        assert tx.count_embeddings() == 0 and tx.get_llm_labels(1) == {}
    assert llm.calls == 0
