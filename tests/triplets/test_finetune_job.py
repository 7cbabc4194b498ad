"""The ``triplet_finetune`` job with a tiny sentence-transformer built offline: judgements
arrive as annotations, the retrain a label change queues hands the project to the triplet
round when it is due, the round measures recall@10 / MRR on held-out items before and after,
records its lineage and adopts only when not worse; and the pure parts it rests on."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelloop.embeddings import SentenceTransformerEmbedder
from labelloop.jobs.triggers import retrain_spec
from labelloop.jobs.types import JobKind, JobStatus
from labelloop.loop.encoders import ENCODER_KIND, current_encoder
from labelloop.storage.base import Storage
from labelloop.storage.records import Annotation
from labelloop.storage.records_triplets import CorpusItem, CorpusItemRow
from labelloop.triplets.plan import adopt_encoder, finetune_due, held_out_mask
from labelloop.triplets.service import add_corpus, triplet_status
from tests.embeddings.st_tiny import build_tiny_sentence_transformer
from tests.fakes.label_studio import FakeGateway
from tests.triplets.helpers import make_worker, run_all, setup_project, triplet_settings

POS = ["good", "great", "fine", "lovely", "superb", "fun"]
NEG = ["bad", "awful", "poor", "dull", "boring", "ugly"]
FRAMES = ["the movie was {}", "a {} film", "the plot is very {}", "{} {}"]


def tiny_corpus() -> list[CorpusItemRow]:
    rows = []
    for group, words in (("pos", POS), ("neg", NEG)):
        for i, w in enumerate(words):
            for j, frame in enumerate(FRAMES):
                other = words[(i + j + 1) % len(words)]
                rows.append(CorpusItemRow(frame.format(w, other) if frame.count("{}") == 2
                                          else frame.format(w), group))
    return rows


def judge_all(storage: Storage, ls: FakeGateway, *, pid: int = 1) -> int:
    """Annotate every created triplet by the group rule (stored as a webhook would)."""
    with storage.read() as tx:
        group = {c.id: c.group for c in tx.get_corpus(pid)}
        tasks = [t for t in tx.get_triplet_tasks(pid) if t.ls_task_id is not None]
    anns = []
    for k, t in enumerate(tasks):
        a, f, s = group[t.anchor_id], group[t.first_id], group[t.second_id]
        choice = "first" if f == a != s else "second" if s == a != f else "tie"
        anns.append(Annotation(5000 + k, t.ls_task_id or 0, pid, 3, [
            {"from_name": "closer", "to_name": "anchor", "type": "choices",
             "value": {"choices": [choice]}}], False, False, 2.0, "2026-01-02T00:00:00Z"))
    with storage.write() as tx:
        tx.upsert_annotations(anns, source="webhook")
    return len(anns)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("st"))


def test_a_round_after_enough_judgements(storage: Storage, fake_ls: FakeGateway,
                                         tmp_path: Path, tiny_model: Path) -> None:
    s = triplet_settings(tmp_path, triplet_batch=30, triplet_import_batch=50,
                         triplet_finetune_every_n=10, finetune_budget_s=20.0,
                         triplet_heldout=0.3)
    setup_project(storage, fake_ls)
    add_corpus(storage, 1, tiny_corpus())
    embedder = SentenceTransformerEmbedder(tiny_model, name="tiny")
    w = make_worker(storage, fake_ls, s, embedder=embedder)
    run_all(storage, w)  # the first mining round
    judged = judge_all(storage, fake_ls)
    assert judged >= 10
    with storage.write() as tx:  # what a webhook's label change queues
        tx.enqueue(retrain_spec(1, s, delay_s=0.0))
    ran = [j.kind for j in run_all(storage, w)]
    assert ran[:3] == [JobKind.RETRAIN, JobKind.TRIPLET_FINETUNE, JobKind.TRIPLET_MINE]
    with storage.read() as tx:
        versions = tx.list_model_versions(1)
        jobs = tx.list_jobs(project_id=1)
        manifest = current_encoder(tx, 1)
        corpus = tx.get_corpus(1)
    assert all(j.status is JobStatus.SUCCEEDED for j in jobs)
    assert [v.kind for v in versions] == [ENCODER_KIND]  # no retrain model for triplets
    lineage = versions[0].lineage
    held = held_out_mask(1, corpus, fraction=0.3)
    assert lineage["task"] == "triplets" and lineage["judgements"] == judged
    assert lineage["measured_on"] == "held_out_items" and lineage["held_out"] == held.sum()
    assert lineage["train_triplets"] == judged - lineage["ties"]
    for side in ("before", "after"):
        assert 0.0 <= lineage[side]["recall_at_10"] <= 1.0 and 0 < lineage[side]["mrr"] <= 1
    assert lineage["training"]["steps"] >= 1 and lineage["before_encoder"] == "tiny"
    adopted = all(lineage["after"][k] >= lineage["before"][k] for k in ("recall_at_10", "mrr"))
    assert lineage["adopted"] is adopted
    assert (manifest is not None) is adopted and Path(lineage["path"]).is_dir() is adopted
    if manifest is not None:
        assert manifest.name == lineage["name"] and manifest.name.startswith("tiny+ft-")
    status = triplet_status(storage, s, 1)
    assert status["judgements"]["total"] == judged and len(status["rounds"]) == 1
    assert status["recall_at_10"] == lineage["after" if adopted else "before"]["recall_at_10"]
    assert status["mining_rounds"] == 2  # the round queued the next mining round
    # no new judgement: a label change queues no second round
    with storage.write() as tx:
        tx.enqueue(retrain_spec(1, s, delay_s=0.0))
    assert [j.kind for j in run_all(storage, w)] == [JobKind.RETRAIN]


def test_too_few_judgements_queue_no_round(storage: Storage, fake_ls: FakeGateway,
                                          tmp_path: Path) -> None:
    s = triplet_settings(tmp_path, triplet_finetune_every_n=50)
    setup_project(storage, fake_ls)
    add_corpus(storage, 1, tiny_corpus())
    w = make_worker(storage, fake_ls, s)
    run_all(storage, w)
    judge_all(storage, fake_ls)
    with storage.write() as tx:
        tx.enqueue(retrain_spec(1, s, delay_s=0.0))
    assert [j.kind for j in run_all(storage, w)] == [JobKind.RETRAIN]


@pytest.mark.parametrize("before, after, adopt", [
    ({"recall_at_10": 0.5, "mrr": 0.4}, {"recall_at_10": 0.6, "mrr": 0.4}, True),
    ({"recall_at_10": 0.5, "mrr": 0.4}, {"recall_at_10": 0.5, "mrr": 0.4}, True),
    ({"recall_at_10": 0.5, "mrr": 0.4}, {"recall_at_10": 0.49, "mrr": 0.9}, False),
    ({"recall_at_10": 0.5, "mrr": 0.4}, {"recall_at_10": 0.9, "mrr": 0.39}, False),
    ({"triplet_accuracy": 0.7}, {"triplet_accuracy": 0.7}, True),
    (None, {"recall_at_10": 0.9}, False),
    ({"recall_at_10": 0.5}, {"mrr": 0.9}, False),  # not the same measures
])
def test_adopt_only_when_measured_and_worse_on_nothing(before, after, adopt) -> None:
    assert adopt_encoder(before, after) is adopt


def test_a_round_is_due_every_n_judgements() -> None:
    assert not finetune_due(9, None, every_n=10) and finetune_due(10, None, every_n=10)
    assert not finetune_due(19, 10, every_n=10) and finetune_due(20, 10, every_n=10)


def test_held_out_items_are_stable_as_the_corpus_grows_and_come_in_pairs() -> None:
    items = [CorpusItem(i, 1, f"t{i}", "g" if i % 2 else ("h" if i % 3 else None), 0.0)
             for i in range(1, 200)]
    small = held_out_mask(1, items[:100], fraction=0.3)
    big = held_out_mask(1, items, fraction=0.3)
    assert (big[:100] == small).all()  # nothing moved when 99 items came
    assert 0.15 < big.mean() < 0.45
    assert not any(big[i] for i, c in enumerate(items) if c.group is None)
    lone = [CorpusItem(1, 1, "a", "only", 0.0), CorpusItem(2, 1, "b", "x", 0.0)]
    assert not held_out_mask(1, lone, fraction=0.99).any()  # one per group measures nothing
