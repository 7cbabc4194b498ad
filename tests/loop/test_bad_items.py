"""One bad task among good ones: each job succeeds for the rest, skips the bad one with its
reason, records it in ``skipped_items`` and shows it in the status endpoint (issue 18)."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import CONFIG, make_settings
from tests.fakes.label_studio import FakeGateway
from tests.loop.test_retrain import WORDS, ToyEmbedder

from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.jobs.worker import Worker
from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelstudio.access import GatewayProvider
from labelloop.labelstudio.sync import handle_resync, resync_project
from labelloop.llm import LabelOutcome
from labelloop.loop.embed import handle_embed
from labelloop.loop.prelabel import handle_prelabel
from labelloop.loop.resources import Resources
from labelloop.loop.retrain import handle_retrain
from labelloop.storage.base import Storage

BAD = 7  # the poisoned task
CLASSES = list(WORDS)


@pytest.fixture
def storage(any_storage: Storage) -> Storage:
    """Every job test runs on SQLite and on PostgreSQL (which store, and refuse, differently:
    an id beyond 2**63 - 1 is an OverflowError in one and a DataError in the other)."""
    return any_storage


def text_of(i: int) -> str:
    return f"{WORDS[CLASSES[i % 3]]} movie number {i}"


def seed(storage: Storage, n: int = 30, bad: dict[int, str] | None = None) -> None:
    """Tasks 1..n stored as a database from before the edge cleaning holds them: task BAD's text
    has a lone surrogate (``upsert_tasks`` directly, not through ``parse_task``)."""
    bad = {BAD: text_of(BAD) + " \udc80"} if bad is None else bad
    with storage.write() as tx:
        tx.save_project(1, label_config=CONFIG, supported=True,
                        schema=parse_label_config(CONFIG).to_json())
        tx.upsert_tasks(1, [{"id": i, "data": {"text": bad.get(i, text_of(i))}}
                            for i in range(1, n + 1)])


def run(storage: Storage, tmp_path: Any, kind: JobKind, handler: Any, *, ls: Any = None,
        labeler: Any = None, embedder: Any = None) -> Any:
    s = make_settings(tmp_path, label_studio_url="http://ls", label_studio_api_key="k" * 10)
    worker = Worker(storage, s, {kind: handler}, gateways=GatewayProvider(s, lambda *_: ls),
                    resources=Resources(s, embedder=embedder or ToyEmbedder(), labeler=labeler))
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(kind, 1))
    worker.run_once()
    with storage.read() as tx:
        job = tx.get_job(jid)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job.last_error
    return job


def skips(storage: Storage, kind: str) -> dict[int, Any]:
    with storage.read() as tx:
        return {i.task_id: i for i in tx.skipped_items(1, job_kind=kind)}


def test_embed_skips_a_text_that_cannot_be_encoded(storage, tmp_path) -> None:
    seed(storage)
    run(storage, tmp_path, JobKind.EMBED, handle_embed)
    with storage.read() as tx:
        assert tx.count_embeddings("toy-embedder") == 29  # every good text
    bad = skips(storage, "embed")
    assert list(bad) == [BAD] and "not valid Unicode" in bad[BAD].reason
    run(storage, tmp_path, JobKind.EMBED, handle_embed)  # again: the row is updated, not added
    again = skips(storage, "embed")
    assert list(again) == [BAD] and again[BAD].count == 2


class RefusingEmbedder(ToyEmbedder):
    """Fails any call that holds the text of task 5 (as a tokenizer may)."""

    def encode(self, texts):
        if text_of(5) in texts:
            raise ValueError("sequence cannot be tokenized")
        return super().encode(texts)


def test_embed_splits_a_batch_the_embedder_refuses_until_only_the_bad_text_is_left(
        storage, tmp_path) -> None:
    seed(storage, bad={})
    run(storage, tmp_path, JobKind.EMBED, handle_embed, embedder=RefusingEmbedder())
    with storage.read() as tx:
        assert tx.count_embeddings("toy-embedder") == 29
    assert "cannot be tokenized" in skips(storage, "embed")[5].reason


def label(storage: Storage, ls: FakeGateway, task_ids: list[int]) -> None:
    for tid in task_ids:
        ls.annotate(tid, CLASSES[tid % 3])
    with storage.write() as tx:
        tx.upsert_annotations([_annotation(a) for t in task_ids
                               for a in ls.tasks[t]["annotations"]], source="resync")


def _annotation(raw: dict[str, Any]) -> Any:
    from labelloop.events.parse import parse_annotation

    return parse_annotation(raw, project_id=1)


@pytest.fixture
def ls() -> FakeGateway:
    fake = FakeGateway()
    fake.add_project(1, CONFIG)
    for i in range(1, 31):
        fake.add_task(1, i, {"text": text_of(i)})
    return fake


def test_retrain_after_clean_annotations_skips_the_bad_task(storage, ls, tmp_path) -> None:
    # the reproduction: 30 tasks, one bad, 12 annotations -> retrain was dead
    seed(storage)
    label(storage, ls, [t for t in range(1, 14) if t != BAD])
    run(storage, tmp_path, JobKind.RETRAIN, handle_retrain, ls=ls)
    with storage.read() as tx:
        version = tx.get_project(1).published_version  # type: ignore[union-attr]
        queue = {e.task_id for e in tx.get_queue(1, version)}
        lineage = tx.get_model_version(1, version).lineage  # type: ignore[union-attr]
    assert queue == set(range(14, 31))  # the good unlabeled tasks, not the bad one
    assert lineage["n_labeled"] == 12
    assert "not valid Unicode" in skips(storage, "retrain")[BAD].reason
    # the task repaired (a resync through the edge cleaning): the next retrain queues it and
    # forgets the skip
    resync_project(storage, ls, 1)
    run(storage, tmp_path, JobKind.RETRAIN, handle_retrain, ls=ls)
    assert skips(storage, "retrain") == {}


def test_a_labeled_bad_task_is_left_out_of_training(storage, ls, tmp_path) -> None:
    seed(storage)
    label(storage, ls, list(range(1, 13)))  # BAD (7) is among the labeled ones
    run(storage, tmp_path, JobKind.RETRAIN, handle_retrain, ls=ls)
    with storage.read() as tx:
        version = tx.get_project(1).published_version  # type: ignore[union-attr]
        lineage = tx.get_model_version(1, version).lineage  # type: ignore[union-attr]
    assert lineage["n_labeled"] == 11 and lineage["model"]["n_train"] == 11


class FakeLabeler:
    """Answers every text with its class; 'weird' texts get an answer outside the label set;
    a run that holds a 'poison' text raises (after answering the items before it)."""

    model_version = "llm-fake-p0"

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.runs: list[list[int]] = []

    def status(self) -> Any:
        return SimpleNamespace(state="ok", reason=None)

    def version_for(self, schema: Any) -> str:  # as the real labeler: per task type's prompts
        return self.model_version

    def label_many_sync(self, schema, items, *, examples, project_id, on_outcome):
        from labelloop.storage.records_llm import LlmLabel

        self.runs.append([r.task_id for r in items])
        out = []
        for r in items:
            if "poison" in r.text:
                raise TypeError("cannot render the prompt")
            if "weird" in r.text:
                o = LabelOutcome(r.task_id, None, None, None, "unknown",
                                 failure="answer outside the label set after a retry: 'maybe'",
                                 failure_kind="invalid_answer")
            else:
                label = next(c for c, w in WORDS.items() if w in r.text)
                o = LabelOutcome(r.task_id, [label], {label: 0.9}, 0.9, "logprobs")
            with self.storage.write() as tx:
                tx.save_llm_labels([LlmLabel(project_id, r.task_id, self.model_version, o.labels,
                                             o.distribution, o.confidence, o.confidence_method,
                                             failure=o.failure)])
            on_outcome(o)
            out.append(o)
        return out


def test_prelabel_skips_bad_texts_and_unparseable_answers(storage, tmp_path) -> None:
    seed(storage, bad={BAD: text_of(BAD) + " \udc80", 3: text_of(3) + " poison",
                       4: text_of(4) + " weird"})
    labeler = FakeLabeler(storage)
    run(storage, tmp_path, JobKind.PRELABEL, handle_prelabel, labeler=labeler)
    with storage.read() as tx:
        labels = tx.get_llm_labels(1)
    assert {t for t, lab in labels.items() if lab.labels} == set(range(1, 31)) - {3, 4, BAD}
    assert labels[4].failure and 3 not in labels and BAD not in labels
    # after the run raised at task 3, the unanswered items went again in halves: task 3 alone
    # once, and far fewer runs than one per item
    assert [3] in labeler.runs and len(labeler.runs) < 12
    bad = skips(storage, "prelabel")
    assert set(bad) == {3, 4, BAD}
    assert "TypeError" in bad[3].reason and "outside the label set" in bad[4].reason
    assert "not valid Unicode" in bad[BAD].reason


def test_second_opinion_skips_a_task_label_studio_refuses(storage, ls, tmp_path,
                                                          monkeypatch) -> None:
    from labelloop.storage.records_llm import LlmLabel

    for i in range(31, 91):
        ls.add_task(1, i, {"text": text_of(i)})
    for tid in range(1, 31):  # two annotators
        ls.annotate(tid, CLASSES[tid % 3], user=1 + tid % 2)
    resync_project(storage, ls, 1)
    run(storage, tmp_path, JobKind.RETRAIN, handle_retrain, ls=ls)
    with storage.write() as tx:
        tx.save_llm_labels([LlmLabel(1, tid, "llm-x", [CLASSES[tid % 3]],
                                     {c: 0.95 if c == CLASSES[tid % 3] else 0.025
                                      for c in CLASSES}, 0.95, "logprobs")
                            for tid in range(31, 91)])
    for tid in range(31, 37):  # one annotator, wrong labels: both machines disagree
        ls.annotate(tid, CLASSES[(tid + 1) % 3], user=1)
    resync_project(storage, ls, 1)
    asked = ls.request_annotations

    def refusing(task_id: int, *, total: int = 2) -> bool:
        if task_id == 32:
            raise ValueError("Label Studio answered a task without 'overlap'")
        return asked(task_id, total=total)

    monkeypatch.setattr(ls, "request_annotations", refusing)
    run(storage, tmp_path, JobKind.RETRAIN, handle_retrain, ls=ls)
    with storage.read() as tx:
        version = tx.get_project(1).published_version  # type: ignore[union-attr]
        reopened = [e.task_id for e in tx.get_queue(1, version) if e.reason == "second_opinion"]
    assert reopened and 32 not in reopened
    assert "without 'overlap'" in skips(storage, "second_opinion")[32].reason


class RefusingStorage:
    """A storage whose transactions refuse to store task 13 (as a database refuses a value)."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.url, self.dialect = inner.url, inner.dialect

    @contextmanager
    def write(self):
        with self.inner.write() as tx:
            yield _RefusingTx(tx)

    def read(self):
        return self.inner.read()

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        self.inner.close()


class _RefusingTx:
    def __init__(self, tx: Any) -> None:
        self._tx = tx

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    def upsert_tasks(self, project_id: int, items: list[dict[str, Any]]) -> int:
        if any(i["id"] == 13 for i in items):
            raise sa.exc.DataError("INSERT …", {}, ValueError("value out of range"))
        return self._tx.upsert_tasks(project_id, items)


def test_resync_skips_a_task_that_cannot_be_stored(storage, ls, tmp_path) -> None:
    ls.add_task(1, 31, {"text": "no id to keep"})["id"] = 2**63  # beyond any database's ids
    ls.tasks[2**63] = ls.tasks.pop(31)
    for tid in (12, 13, 14):
        ls.annotate(tid, CLASSES[tid % 3])
    run(RefusingStorage(storage), tmp_path, JobKind.RESYNC, handle_resync, ls=ls)
    with storage.read() as tx:
        stored = {t.id for t in tx.get_tasks(1)}
        annotated = {a.task_id for a in tx.get_annotations(1)}
        jobs = {j.kind for j in tx.list_jobs()}
    assert stored == set(range(1, 31)) - {13} and annotated == {12, 14}
    assert JobKind.RETRAIN in jobs  # the labels that came in still trigger a retrain
    bad = skips(storage, "resync")
    assert set(bad) >= {13} and "value out of range" in bad[13].reason
    assert len(bad) == 2  # and the task whose id no database holds (id 0: unreadable)


def test_skips_are_shown_in_the_status_endpoints(client, tmp_path) -> None:
    storage = client.app.state.services.storage
    seed(storage)
    with storage.write() as tx:
        tx.record_skips(1, "embed", {BAD: "UnicodeEncodeError: the text is not valid Unicode"})
        tx.record_skips(1, "retrain", {BAD: "UnicodeEncodeError: the text is not valid Unicode"})
    one = client.get("/api/projects/1/status").json()["skipped"]
    assert one["count"] == 1
    assert [(r["job"], r["tasks"], r["task_ids"]) for r in one["reasons"]] == [
        ("embed", 1, [BAD]), ("retrain", 1, [BAD])]
    every = client.get("/status").json()
    assert every["skipped"]["count"] == 1
    assert every["projects"][0]["skipped"]["count"] == 1
    board = client.get("/api/projects/1/dashboard").json()
    assert board["project"]["skipped"]["count"] == 1


@pytest.mark.parametrize("bad", [1, 17, 30])
def test_resync_skips_a_task_label_studio_cannot_serve(storage, ls, tmp_path, bad) -> None:
    # Label Studio 1.23.2 stores a lone surrogate as given, then answers 500 for every page of
    # its task API that holds the task: one task stopped every resync of the project
    ls.tasks[bad]["data"]["text"] = text_of(bad) + " \udc80"
    ls.unservable = {bad}
    for tid in (bad - 1, bad + 1):
        if tid in ls.tasks:
            ls.annotate(tid, CLASSES[tid % 3])
    report = resync_project(storage, ls, 1, page_size=8)
    with storage.read() as tx:
        stored = {t.id for t in tx.get_tasks(1)}
        annotated = {a.task_id for a in tx.get_annotations(1)}
    assert stored == set(range(1, 31)) - {bad}  # every other task, those after it included
    assert annotated == {bad - 1, bad + 1} & set(range(1, 31))
    assert report.after_id == 30
    bad_skips = skips(storage, "resync")
    assert list(bad_skips) == [bad] and "answers 500" in bad_skips[bad].reason
    # through the job: it succeeds, and the task stays skipped until Label Studio serves it
    run(storage, tmp_path, JobKind.RESYNC, handle_resync, ls=ls)
    assert skips(storage, "resync")[bad].count == 2
    ls.unservable = set()
    run(storage, tmp_path, JobKind.RESYNC, handle_resync, ls=ls)
    assert skips(storage, "resync") == {}


def test_resync_still_fails_when_label_studio_is_away(storage, ls, monkeypatch) -> None:
    from labelloop.errors import LabelStudioUnavailable

    def away(*_a, **_kw):  # a 503, not a task's fault
        raise LabelStudioUnavailable("iter_tasks: Label Studio answered 503",
                                     detail={"call": "iter_tasks", "status": 503})

    monkeypatch.setattr(ls, "iter_tasks", away)
    with pytest.raises(LabelStudioUnavailable, match="503"):
        resync_project(storage, ls, 1)
    assert skips(storage, "resync") == {}


class BrokenLabeler(FakeLabeler):
    def label_many_sync(self, schema, items, *, examples, project_id, on_outcome):
        self.runs.append([r.task_id for r in items])
        raise TypeError("a bug in the labeler, not in a task")


def test_prelabel_still_fails_when_every_item_raises_alone(storage, tmp_path) -> None:
    seed(storage, bad={})
    s = make_settings(tmp_path)
    labeler = BrokenLabeler(storage)
    worker = Worker(storage, s, {JobKind.PRELABEL: handle_prelabel},
                    gateways=GatewayProvider(s), resources=Resources(s, labeler=labeler))
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.PRELABEL, 1))
    worker.run_once()
    with storage.read() as tx:
        job = tx.get_job(jid)
    assert job is not None and job.status is not JobStatus.SUCCEEDED
    assert "a bug in the labeler" in (job.last_error or "")
    assert len(labeler.runs) < 12  # gave up after three single items, not thirty
