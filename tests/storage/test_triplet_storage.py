"""Similarity-judgement storage (issue 16 part 4), on SQLite and PostgreSQL (conftest.py)."""

from __future__ import annotations

import sqlalchemy as sa

from labelloop.storage.base import Storage
from labelloop.storage.migrations import MIGRATIONS
from labelloop.storage.records_triplets import CorpusItemRow, TripletCounts, TripletTaskRow

P = 7
BIG_TASK = 2**62 + 5  # Label Studio ids are 64-bit


def test_migration_19_creates_the_triplet_tables(storage: Storage) -> None:
    assert any(m.version == 19 and "triplet" in m.description for m in MIGRATIONS)
    with storage.read() as tx:
        names = set(sa.inspect(tx.conn).get_table_names())
    assert {"triplet_corpus", "triplet_tasks"} <= names


def test_corpus_items_are_stored_once_per_text_in_posting_order(storage: Storage) -> None:
    rows = [CorpusItemRow("un chat ✓", "cats"), CorpusItemRow("a dog"),
            CorpusItemRow("un chat ✓", "dogs")]  # a repeat in the batch keeps the first group
    with storage.write() as tx:
        assert tx.add_corpus_items(P, rows, at=10.0) == (2, 1)
        assert tx.add_corpus_items(P, [CorpusItemRow("a dog", "dogs"),
                                       CorpusItemRow("a bird")], at=11.0) == (1, 1)
        assert tx.add_corpus_items(P + 1, [CorpusItemRow("a dog")], at=12.0) == (1, 0)
    with storage.read() as tx:
        corpus = tx.get_corpus(P)
        counts = tx.triplet_counts(P)
    assert [(c.text, c.group, c.added_at) for c in corpus] == [
        ("un chat ✓", "cats", 10.0), ("a dog", None, 10.0), ("a bird", None, 11.0)]
    assert [c.id for c in corpus] == sorted(c.id for c in corpus)
    assert counts == TripletCounts(corpus=3, grouped=1)


def test_a_triplet_is_stored_once_in_either_candidate_order(storage: Storage) -> None:
    first = [TripletTaskRow(1, 2, 3, round=1, hardness=0.9, llm_judgement="first",
                            llm_confidence=0.75, llm_version="llm-x"),
             TripletTaskRow(1, 3, 2, round=1), TripletTaskRow(2, 1, 3, round=1)]
    with storage.write() as tx:
        ids = tx.add_triplet_tasks(P, first, at=5.0)
        again = tx.add_triplet_tasks(P, [TripletTaskRow(1, 3, 2, round=2),
                                         TripletTaskRow(3, 1, 2, round=2)], at=6.0)
    assert len(ids) == 2 and len(again) == 1 and not set(ids) & set(again)
    with storage.read() as tx:
        tasks = tx.get_triplet_tasks(P)
        counts = tx.triplet_counts(P)
    assert [(t.anchor_id, t.first_id, t.second_id, t.round) for t in tasks] == [
        (1, 2, 3, 1), (2, 1, 3, 1), (3, 1, 2, 2)]
    a = tasks[0]
    assert (a.key, a.hardness, a.llm_judgement, a.llm_confidence, a.llm_version, a.status,
            a.ls_task_id, a.created_at) == ("triplet-1-2-3", 0.9, "first", 0.75, "llm-x",
                                            "pending", None, 5.0)
    assert counts.pending == 3 and counts.rounds == 2 and counts.tasks == 3


def test_the_way_into_label_studio(storage: Storage) -> None:
    with storage.write() as tx:
        a, b, c = tx.add_triplet_tasks(P, [TripletTaskRow(1, 2, 3, round=1),
                                           TripletTaskRow(4, 5, 6, round=1),
                                           TripletTaskRow(7, 8, 9, round=1)], at=1.0)
        tx.mark_triplets_sending(P, [a, b, c], at=2.0)
    with storage.read() as tx:
        sending = tx.get_triplet_tasks(P, status="sending")
    assert [(t.status, t.sent_at, t.attempts) for t in sending] == [("sending", 2.0, 1)] * 3
    with storage.write() as tx:
        tx.mark_triplets_created(P, {a: BIG_TASK})
        tx.mark_triplets_pending(P, [a, b])  # a created triplet stays created
        tx.mark_triplets_failed(P, [c])
        tx.mark_triplets_created(P, {c: 99})  # a failed one is not created by a late answer
    with storage.read() as tx:
        got = {t.id: t for t in tx.get_triplet_tasks(P)}
        by_key = tx.get_triplet_tasks(P, keys=["triplet-4-5-6", "nope"])
        counts = tx.triplet_counts(P)
    assert (got[a].status, got[a].ls_task_id) == ("created", BIG_TASK)
    assert (got[b].status, got[c].status, got[c].ls_task_id) == ("pending", "failed", None)
    assert [t.id for t in by_key] == [b]
    assert (counts.created, counts.pending, counts.failed) == (1, 1, 1)
    with storage.read() as tx:
        assert tx.get_triplet_tasks(P + 1) == [] and tx.triplet_counts(P + 1) == TripletCounts()
