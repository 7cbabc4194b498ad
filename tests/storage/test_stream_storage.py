"""The production stream's storage (issue 17), on SQLite and PostgreSQL (see conftest.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from labelloop.metrics.database import JOB_DURATION_BOUNDS
from labelloop.storage import sql_stream, sql_stream_ingest
from labelloop.storage.base import Storage
from labelloop.storage.migrations import MIGRATIONS
from labelloop.storage.records_stream import DriftRecord, StreamCounts, StreamItemRow
from labelloop.storage.retention import DAY_S, RetentionPolicy, run_retention

P = 7
BIG_TASK = 2**62 + 5  # Label Studio ids are 64-bit


def row(key: str, *, selected: bool = False, reason: str = "below_threshold",
        **kw: object) -> StreamItemRow:
    values: dict[str, object] = {
        "key": key, "data": {"text": f"texte {key} é ✓", "meta": {"n": [1, 2]}},
        "prediction": ["pos"], "feedback": None, "correction": None, "selected": selected,
        "reason": reason, "utility": 0.25, "threshold": 0.5, "model_label": "neg",
        "model_p": 0.75, "model_version": "v1"}
    values.update(kw)
    return StreamItemRow(**values)  # type: ignore[arg-type]


def add(storage: Storage, rows: list[StreamItemRow], *, at: float = 1000.0,
        project: int = P) -> list[int]:
    with storage.write() as tx:
        return tx.add_stream_items(project, rows, at=at)


def test_migration_15_creates_the_stream_tables(storage: Storage) -> None:
    assert any(m.version == 15 and "stream" in m.description for m in MIGRATIONS)
    with storage.read() as tx:
        names = set(sa.inspect(tx.conn).get_table_names())
    assert {"stream_items", "stream_state", "model_artifacts", "stream_drift"} <= names


def test_items_round_trip_with_ids_in_order_and_status_from_the_decision(
        storage: Storage) -> None:
    rows = [row("a", selected=True, reason="uncertain"),
            row("b", feedback="correction", correction=["neg"], prediction=None,
                selected=True, reason="feedback", utility=None, threshold=None,
                model_label=None, model_p=None, model_version=None),
            row("c")]
    ids = add(storage, rows, at=1234.5)
    assert len(ids) == 3 and ids == sorted(ids) and len(set(ids)) == 3
    with storage.read() as tx:
        items = tx.get_stream_items(P)
    assert [it.id for it in items] == ids
    a, b, c = items
    assert (a.key, a.project_id, a.data, a.prediction, a.feedback, a.correction) == (
        "a", P, {"text": "texte a é ✓", "meta": {"n": [1, 2]}}, ["pos"], None, None)
    assert (a.selected, a.reason, a.utility, a.threshold, a.model_label, a.model_p,
            a.model_version) == (True, "uncertain", 0.25, 0.5, "neg", 0.75, "v1")
    assert (a.received_at, a.status, a.ls_task_id, a.sent_at, a.attempts) == (
        1234.5, "pending", None, None, 0)
    assert (b.feedback, b.correction, b.prediction, b.utility, b.model_label) == (
        "correction", ["neg"], None, None, None)
    assert (b.status, c.status, c.selected) == ("pending", "ignored", False)
    with storage.write() as tx:
        assert tx.add_stream_items(P, [], at=1.0) == []


def test_a_hundred_items_in_one_call_get_their_own_ids_in_order(storage: Storage) -> None:
    ids = add(storage, [row(f"k{i:03d}", selected=i % 7 == 0) for i in range(100)])
    with storage.read() as tx:
        by_key = {it.key: it.id for it in tx.get_stream_items(P)}
    assert ids == [by_key[f"k{i:03d}"] for i in range(100)]


def test_a_key_is_stored_once_per_project(storage: Storage) -> None:
    add(storage, [row("a"), row("b", selected=True)])
    add(storage, [row("a")], project=P + 1)  # another project's key space
    with pytest.raises(sa.exc.IntegrityError):
        add(storage, [row("c"), row("a", selected=True)])
    with storage.read() as tx:
        assert tx.known_stream_keys(P, ["a", "b", "c", "zz", "a"]) == {"a", "b"}
        assert tx.known_stream_keys(P + 1, ["a", "b"]) == {"a"}
        assert tx.known_stream_keys(P, []) == set()
        assert [it.key for it in tx.get_stream_items(P)] == ["a", "b"]  # "c" rolled back
    many = [f"m{i}" for i in range(1200)]  # more than one IN chunk
    add(storage, [row(k) for k in many])
    with storage.read() as tx:
        assert tx.known_stream_keys(P, [*many, "nope"]) == set(many)


def test_none_is_json_null_and_infinities_round_trip_on_both_backends(
        storage: Storage) -> None:
    """PostgreSQL's batch insert reads the rows from one JSON document: a None JSON value is
    still stored as JSON null (as the JSON column type writes it, and SQLite stores it), and
    floats JSON has no number for come back as they were."""
    inf = float("inf")
    add(storage, [row("a", prediction=None, correction=None, utility=inf, threshold=-inf),
                  row("b", feedback="correction", correction=["neg"], model_p=None)])
    with storage.read() as tx:
        a, b = tx.get_stream_items(P)
        sql_nulls = tx.conn.execute(sa.text(
            "SELECT count(*) FROM stream_items WHERE prediction IS NULL "
            "OR correction IS NULL")).scalar()
    assert (a.prediction, a.correction, a.utility, a.threshold) == (None, None, inf, -inf)
    assert (b.correction, b.feedback, b.model_p, b.prediction) == (
        ["neg"], "correction", None, ["pos"])
    assert sql_nulls == 0


def test_a_batch_takes_a_fixed_number_of_statements_on_postgresql(storage: Storage) -> None:
    """PostgreSQL: the keys stored before and the items with their totals are one statement
    each (and a SET) whatever the batch's size, with a handful of parameters — not one bound
    parameter per value (issue 17: 100 binds per statement cost ~50 ms a batch)."""
    if storage.dialect != "postgresql":
        pytest.skip("SQLite keeps its plain statements (in process, binding is cheap)")
    add(storage, [row(f"old{i}") for i in range(5)])
    seen: list[tuple[str, int]] = []

    def record(*args: Any) -> None:  # (conn, cursor, statement, parameters, ...)
        seen.append((args[2], len(args[3] or {})))

    sa.event.listen(storage.engine, "before_cursor_execute", record)
    try:
        for n in (3, 700):
            seen.clear()
            with storage.write() as tx:
                keys = [f"new{n}-{i}" for i in range(n)]
                assert tx.known_stream_keys(P, [*keys, "old1", "old3"]) == {"old1", "old3"}
                ids = tx.add_stream_items(P, [row(k, selected=i % 3 == 0)
                                              for i, k in enumerate(keys)], at=5.0)
                assert len(ids) == n and ids == sorted(ids)
            assert len(seen) == 3, [s for s, _ in seen]
            assert max(k for _, k in seen) <= 3
    finally:
        sa.event.remove(storage.engine, "before_cursor_execute", record)
    with storage.read() as tx:
        counts = tx.stream_counts(P)
    assert (counts.received, counts.selected) == (5 + 3 + 700, 1 + 234)


def test_known_keys_probe_the_key_index_on_a_table_without_statistics(
        storage: Storage) -> None:
    """The plan PostgreSQL makes for the keys stored before, on a grown table never analysed
    (a new stream's first minute): index probes, not a scan of the project's items."""
    if storage.dialect != "postgresql":
        pytest.skip("a PostgreSQL plan")
    for b in range(10):
        add(storage, [row(f"b{b}-{i}") for i in range(1000)])
    with storage.write() as tx:
        tx.conn.execute(sql_stream_ingest._CUSTOM_PLANS)
        plan = "\n".join(tx.conn.execute(
            sa.text("EXPLAIN " + str(sql_stream_ingest._PG_KNOWN_KEYS.text)),
            {"project_id": P, "keys": [f"b3-{i}" for i in range(100)]}).scalars())
    assert "uq_stream_key" in plan and "Seq Scan" not in plan, plan
    assert "ix_stream_status" not in plan and "ix_stream_project" not in plan, plan


def test_filters_order_and_recent_items(storage: Storage) -> None:
    ids = add(storage, [row(f"k{i}", selected=i % 2 == 0) for i in range(6)])
    with storage.read() as tx:
        assert [it.key for it in tx.get_stream_items(P, status="pending")] == ["k0", "k2", "k4"]
        assert [it.key for it in tx.get_stream_items(P, status="ignored", newest_first=True,
                                                     limit=2)] == ["k5", "k3"]
        assert [it.id for it in tx.get_stream_items(P, keys=["k4", "k1", "x"])] == [
            ids[1], ids[4]]
        assert [it.key for it in tx.get_stream_items(P, ids=[ids[5], ids[0]],
                                                     newest_first=True)] == ["k5", "k0"]
        assert [it.key for it in tx.get_stream_items(P, keys=["k1", "k2", "k3"],
                                                     ids=[ids[2], ids[3], ids[4]])] == [
            "k2", "k3"]
        assert [it.key for it in tx.get_stream_items(P, keys=["k0", "k1", "k2"],
                                                     status="pending", limit=1)] == ["k0"]
        assert tx.get_stream_items(P, keys=[]) == [] and tx.get_stream_items(P, ids=[]) == []
        assert tx.get_stream_items(P + 1) == []
        assert tx.get_stream_items(P + 1, ids=ids) == []  # ids of another project
        assert [it.key for it in tx.recent_stream_items(P, limit=3)] == ["k5", "k4", "k3"]


def test_status_transitions_and_attempts(storage: Storage) -> None:
    a, b, c, ign = add(storage, [row("a", selected=True), row("b", selected=True),
                                 row("c", selected=True), row("i")])
    with storage.write() as tx:
        tx.mark_stream_sending(P, [a, b, c, ign], at=50.0)
    with storage.write() as tx:
        tx.mark_stream_pending(P, [b])
        tx.mark_stream_created(P, {a: BIG_TASK})
        tx.mark_stream_sending(P, [b, c], at=60.0)  # c: a second attempt
    with storage.read() as tx:
        got = {it.key: it for it in tx.get_stream_items(P)}
    assert (got["a"].status, got["a"].ls_task_id, got["a"].attempts, got["a"].sent_at) == (
        "created", BIG_TASK, 1, 50.0)
    assert (got["b"].status, got["b"].attempts, got["b"].sent_at) == ("sending", 2, 60.0)
    assert (got["c"].status, got["c"].attempts) == ("sending", 2)
    assert (got["i"].status, got["i"].attempts, got["i"].sent_at) == ("ignored", 0, None)
    with storage.write() as tx:  # a created item is never sent again nor made pending
        tx.mark_stream_sending(P, [a], at=70.0)
        tx.mark_stream_pending(P, [a, c])
        tx.mark_stream_created(P, {ign: 5})
        tx.mark_stream_created(P + 1, {b: 6})  # not this project's item
    with storage.read() as tx:
        got = {it.key: it for it in tx.get_stream_items(P)}
        assert [it.key for it in tx.get_stream_items(P, status="pending")] == ["c"]
    assert (got["a"].status, got["a"].attempts, got["a"].sent_at) == ("created", 1, 50.0)
    assert (got["i"].status, got["i"].ls_task_id) == ("ignored", None)
    assert (got["b"].status, got["b"].ls_task_id) == ("sending", None)


def test_counts_by_status_and_reason_and_projects_with_items_to_send(
        storage: Storage) -> None:
    with storage.read() as tx:
        assert tx.stream_counts(P) == StreamCounts()
        assert tx.stream_projects_pending() == []
    ids = add(storage, [row("a", selected=True, reason="feedback"),
                        row("b", selected=True, reason="uncertain"),
                        row("c", selected=True, reason="uncertain"),
                        row("d", selected=True, reason="audit"),
                        row("e"), row("f", reason="budget_cap")], at=100.0)
    add(storage, [row("g")], at=200.0)
    add(storage, [row("x", selected=True)], project=3)
    add(storage, [row("y")], project=11)
    with storage.write() as tx:
        tx.mark_stream_sending(P, ids[:2], at=1.0)
        tx.mark_stream_created(P, {ids[0]: 1})
    with storage.read() as tx:
        counts = tx.stream_counts(P)
        assert tx.stream_projects_pending() == [3, P]
    assert counts == StreamCounts(
        received=7, selected=4, pending=2, sending=1, created=1,
        by_reason={"audit": 1, "below_threshold": 2, "budget_cap": 1, "feedback": 1,
                   "uncertain": 2}, first_at=100.0, last_at=200.0)
    with storage.write() as tx:
        tx.mark_stream_created(P, {i: 10 + i for i in ids[1:4]})
        tx.mark_stream_created(3, {tx.get_stream_items(3)[0].id: 99})
    with storage.read() as tx:
        assert tx.stream_projects_pending() == []
        assert tx.stream_counts(P).created == 4


def test_stream_state_is_none_until_saved_then_upserted(storage: Storage) -> None:
    with storage.write() as tx:
        assert tx.lock_stream_state(P) is None
    with storage.read() as tx:  # reading it outside a write transaction works too
        assert tx.lock_stream_state(P + 1) is None
    state = {"seen": 3, "window": [0, 1, 1], "threshold": 0.42, "name": "é"}
    with storage.write() as tx:
        assert tx.lock_stream_state(P) is None
        tx.save_stream_state(P, state)
    with storage.write() as tx:
        assert tx.lock_stream_state(P) == state
        tx.save_stream_state(P, {**state, "seen": 4})
        tx.save_stream_state(P + 2, {"other": True})  # never locked: inserted
    with storage.write() as tx:
        assert tx.lock_stream_state(P) == {**state, "seen": 4}
        assert tx.lock_stream_state(P + 2) == {"other": True}


def test_concurrent_ingests_of_a_project_are_serialised_by_the_state_lock(
        storage: Storage) -> None:
    """Two writers each lock the state, read a counter, pause, write it back + 1: without
    the lock they would overwrite each other's increments (READ COMMITTED on PostgreSQL)."""
    n = 25
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def bump() -> None:
        try:
            start.wait(10)
            for _ in range(n):
                with storage.write() as tx:
                    state = tx.lock_stream_state(P) or {"count": 0}
                    time.sleep(0.002)  # widen the window a lost update would need
                    tx.save_stream_state(P, {"count": state["count"] + 1})
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert errors == []
    with storage.write() as tx:
        assert tx.lock_stream_state(P) == {"count": 2 * n}


def test_model_artifacts_upsert_and_the_latest_version(storage: Storage,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([10.0, 20.0, 20.0, 30.0, 40.0, 50.0])
    monkeypatch.setattr(sql_stream, "now", lambda: next(clock))
    blob = bytes(range(256)) * 100
    with storage.write() as tx:
        assert tx.latest_model_artifact_version(P, "local") is None
        assert tx.get_model_artifact(P, "v1", "local") is None
        tx.save_project(P, title="p")
        tx.add_model_version(P, "m-b", kind="retrain")
        tx.add_model_version(P, "m-a", kind="retrain")  # recorded later: the newer
        tx.save_model_artifact(P, "v1", "local", blob)  # at 10
        tx.save_model_artifact(P, "m-a", "local", b"a")  # at 20
        tx.save_model_artifact(P, "m-b", "local", b"b")  # at 20 too: m-a recorded later
    with storage.read() as tx:
        assert tx.get_model_artifact(P, "v1", "local") == blob
        assert tx.get_model_artifact(P, "v1", "screen") is None
        assert tx.get_model_artifact(P + 1, "v1", "local") is None
        assert tx.latest_model_artifact_version(P, "local") == "m-a"
        assert tx.latest_model_artifact_version(P, "screen") is None
    with storage.write() as tx:
        tx.save_model_artifact(P, "v2", "screen", b"s2")  # at 30
        tx.save_model_artifact(P, "v1", "local", b"again")  # replaced; keeps its time (10)
    with storage.read() as tx:
        assert tx.get_model_artifact(P, "v1", "local") == b"again"
        assert tx.latest_model_artifact_version(P, "local") == "m-a"
        assert tx.latest_model_artifact_version(P, "screen") == "v2"
        assert tx.latest_model_artifact_version(P + 1, "screen") is None
    with storage.write() as tx:
        tx.save_model_artifact(P, "v3", "local", b"3")  # at 50
    with storage.read() as tx:
        assert tx.latest_model_artifact_version(P, "local") == "v3"


def drift(at: float, *, project: int = P, drifting: bool = False, **kw: object) -> DriftRecord:
    values: dict[str, object] = {
        "project_id": project, "measured_at": at, "window_items": 500, "window_from": at - 60,
        "window_to": at - 1, "reference_items": 800, "statistic": 0.012, "threshold": 0.02,
        "p_value": 0.31, "drifting": drifting}
    values.update(kw)
    return DriftRecord(**values)  # type: ignore[arg-type]


def test_drift_history_newest_first(storage: Storage) -> None:
    with storage.read() as tx:
        assert tx.latest_drift(P) is None and tx.drift_history(P) == []
    full = drift(300.0, drifting=True, label_shift=0.2, label_p_value=0.001,
                 details={"bandwidth": 1.5, "labels": {"pos": 0.7}})
    with storage.write() as tx:
        tx.save_drift(drift(200.0))
        tx.save_drift(full)
        tx.save_drift(drift(100.0))
        tx.save_drift(drift(999.0, project=P + 1))
    with storage.read() as tx:
        assert tx.latest_drift(P) == full
        assert [d.measured_at for d in tx.drift_history(P)] == [300.0, 200.0, 100.0]
        assert [d.measured_at for d in tx.drift_history(P, limit=2)] == [300.0, 200.0]
        old = tx.drift_history(P)[-1]
    assert old == drift(100.0) and old.details == {} and old.label_shift is None


def test_retention_deletes_only_old_ignored_items(storage: Storage) -> None:
    now = 100 * DAY_S
    old, recent = now - 40 * DAY_S, now - 5 * DAY_S
    old_ids = add(storage, [row(f"o{i}") for i in range(25)], at=old)
    kept = add(storage, [row("sel-old", selected=True), row("sent-old", selected=True),
                         row("made-old", selected=True)], at=old)
    add(storage, [row("new"), row("new-sel", selected=True)], at=recent)
    add(storage, [row("other-old")], at=old, project=P + 1)
    with storage.write() as tx:
        tx.mark_stream_sending(P, kept[1:], at=old)
        tx.mark_stream_created(P, {kept[2]: 4})
    with storage.read() as tx:
        assert tx.expired_stream_item_ids(before=now - 30 * DAY_S, limit=10) == old_ids[:10]
    policy = RetentionPolicy(keep_days=30, keep_per_project=1000, keep_versions=2, batch_rows=10)
    report = run_retention(storage, policy, now=now, bounds=JOB_DURATION_BOUNDS)
    assert report.stream_items == 26 and report.total >= 26
    with storage.read() as tx:
        left = sorted(it.key for it in tx.get_stream_items(P))
        assert tx.get_stream_items(P + 1) == []
        assert tx.expired_stream_item_ids(before=now - 30 * DAY_S, limit=10) == []
    assert left == ["made-old", "new", "new-sel", "sel-old", "sent-old"]
    with storage.write() as tx:  # a key deleted is a key forgotten; selected ones never go
        assert tx.delete_stream_items(kept) == 0


def test_totals_count_every_item_received_even_after_retention(storage: Storage) -> None:
    now = 100 * DAY_S
    add(storage, [row(f"o{i}") for i in range(6)] + [row("s", selected=True, reason="audit")],
        at=now - 40 * DAY_S)
    add(storage, [row("n"), row("m", selected=True, reason="uncertain")], at=now)
    with storage.read() as tx:
        before = tx.stream_counts(P)
    assert (before.received, before.selected) == (9, 2)
    assert before.by_reason == {"audit": 1, "below_threshold": 7, "uncertain": 1}
    assert (before.first_at, before.last_at) == (now - 40 * DAY_S, now)
    policy = RetentionPolicy(keep_days=30, keep_per_project=1000, keep_versions=2, batch_rows=10)
    assert run_retention(storage, policy, now=now, bounds=JOB_DURATION_BOUNDS).stream_items == 6
    with storage.read() as tx:
        assert len(tx.get_stream_items(P)) == 3
        assert tx.stream_counts(P) == before  # received ever, not rows kept


def test_migration_16_computes_the_totals_from_the_items(storage: Storage) -> None:
    from labelloop.storage.tables_stream import create_stream_totals

    add(storage, [row("a"), row("b", selected=True, reason="feedback")], at=10.0)
    add(storage, [row("c"), row("d")], at=30.0)
    add(storage, [row("x", selected=True)], project=P + 1)
    with storage.read() as tx:
        expected = {p: tx.stream_counts(p) for p in (P, P + 1)}
    with storage.write() as tx:  # as a database that had items before the totals existed
        tx.conn.execute(sa.text("DELETE FROM stream_totals"))
        assert tx.stream_counts(P).received == 0
        create_stream_totals(tx.conn)
        assert {p: tx.stream_counts(p) for p in (P, P + 1)} == expected
    assert expected[P].received == 4 and expected[P].by_reason == {"below_threshold": 3,
                                                                  "feedback": 1}


def test_deferred_items_are_decided_once_and_move_in_the_totals(storage: Storage) -> None:
    from labelloop.storage.records_stream import StreamDecision

    ids = add(storage, [row(f"d{i}", reason="deciding", utility=None, threshold=None,
                            model_label=None, model_p=None, model_version=None)
                        for i in range(5)], at=50.0)
    add(storage, [row("x", selected=True, reason="audit")], at=60.0, project=P + 1)
    with storage.read() as tx:
        items = tx.get_stream_items(P, status="deciding")
        counts = tx.stream_counts(P)
        assert tx.stream_projects_deciding() == [P]
        assert tx.stream_projects_pending() == [P + 1]  # undecided items do not go out
        assert tx.expired_stream_item_ids(before=1e12, limit=10) == []  # nor expire
    assert [it.id for it in items] == ids and {it.reason for it in items} == {"deciding"}
    assert (counts.received, counts.selected, counts.deciding) == (5, 0, 5)
    assert counts.by_reason == {"deciding": 5}
    first = [StreamDecision(ids[0], True, "uncertain", 0.9, 0.5, "neg", 0.55, "v1"),
             StreamDecision(ids[1], False, "below_threshold", -1.0, 0.5),
             StreamDecision(ids[2], True, "budget_floor", -1.0, None)]
    with storage.write() as tx:
        assert tx.decide_stream_items(P, first, at=50.0) == 3
        # decided already: left as they are, and not counted twice
        again = [StreamDecision(ids[0], False, "below_threshold", 0.1, 0.5),
                 StreamDecision(ids[3], False, "below_threshold", 0.2, 0.5)]
        assert tx.decide_stream_items(P, again, at=50.0) == 1
    with storage.read() as tx:
        by_id = {it.id: it for it in tx.get_stream_items(P)}
        counts = tx.stream_counts(P)
        assert tx.stream_projects_deciding() == [P]  # one still waits
        assert tx.stream_projects_pending() == [P, P + 1]
    a = by_id[ids[0]]
    assert (a.status, a.selected, a.reason, a.utility, a.threshold, a.model_label, a.model_p,
            a.model_version) == ("pending", True, "uncertain", 0.9, 0.5, "neg", 0.55, "v1")
    assert (by_id[ids[1]].status, by_id[ids[1]].utility) == ("ignored", -1.0)
    assert by_id[ids[2]].status == "pending" and by_id[ids[3]].status == "ignored"
    assert by_id[ids[4]].status == "deciding"
    assert (counts.received, counts.selected, counts.deciding, counts.pending) == (5, 2, 1, 2)
    assert counts.by_reason == {"budget_floor": 1, "below_threshold": 2, "deciding": 1,
                                "uncertain": 1}
    assert (counts.first_at, counts.last_at) == (50.0, 50.0)
    with storage.write() as tx:
        tx.decide_stream_items(P, [StreamDecision(ids[4], False, "below_threshold", 0.3, 0.5)],
                               at=50.0)
    with storage.read() as tx:
        counts = tx.stream_counts(P)
        assert tx.stream_projects_deciding() == []
    assert counts.deciding == 0 and "deciding" not in counts.by_reason and counts.received == 5
