"""Stream ingest (labelloop.stream.ingest) on storage: idempotent by key, partial batches, the
budget held over thousands of items, feedback first, the screening model used once stored, the
export and drift jobs, and concurrent senders on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr
from tests.conftest import CONFIG, make_settings

from labelloop.errors import UnknownProject, UnsupportedConfig
from labelloop.events.projects import record_project
from labelloop.jobs.types import JobKind, JobStatus
from labelloop.models.screen import dump_screen, fit_screen, screen_proba
from labelloop.selection.stream import StreamState, stream_utility
from labelloop.storage.base import Storage, open_storage
from labelloop.stream.ingest import StreamIngest

LABELS = ["positive", "negative", "neutral"]
SPANS = """<View><Text name="text" value="$text"/>
  <Labels name="ner" toName="text"><Label value="PER"/></Labels></View>"""
WORDS = {"positive": ["great", "love", "perfect"], "negative": ["awful", "hate", "broken"],
         "neutral": ["okay", "fine", "average"]}


def project(storage: Storage, pid: int = 1, config: str = CONFIG) -> None:
    with storage.write() as tx:
        record_project(tx, pid, label_config=config)


def items(start: int, n: int, **kw: object) -> list[dict]:
    return [{"key": f"k{i}", "data": {"text": f"item {i} {'xyz' * (i % 3)}"}, **kw}
            for i in range(start, start + n)]


def stored(storage: Storage, pid: int = 1):
    with storage.read() as tx:
        return tx.get_stream_items(pid)


def jobs(storage: Storage, kind: JobKind, status: JobStatus | None = JobStatus.QUEUED):
    with storage.read() as tx:
        return [j for j in tx.list_jobs(status=status, limit=500) if j.kind is kind]


def ingest_for(storage: Storage, tmp_path: Path, seed: int | None = 0,
               **kw: object) -> StreamIngest:
    """Label Studio credentials set unless ``kw`` says otherwise (an export job can run);
    decided in the request (``stream_decide="ingest"``: these tests check its answer)."""
    base: dict[str, object] = {"label_studio_url": "http://ls",
                               "label_studio_api_key": SecretStr("k"), "stream_decide": "ingest"}
    return StreamIngest(storage, make_settings(tmp_path, **{**base, **kw}), seed=seed)


def test_no_export_job_without_label_studio_access(storage: Storage, tmp_path: Path) -> None:
    project(storage)
    ingest = ingest_for(storage, tmp_path, stream_budget="0.5", label_studio_url=None,
                        label_studio_api_key=None)
    result = ingest.ingest(1, {"items": items(0, 40)})
    assert result.selected  # selected and stored: they wait until access exists
    assert {it.status for it in stored(storage) if it.selected} == {"pending"}
    assert jobs(storage, JobKind.STREAM_EXPORT, status=None) == []


def test_setup_credentials_trusted_allow_the_export_job(storage: Storage,
                                                        tmp_path: Path) -> None:
    project(storage)
    with storage.write() as tx:  # what /setup stores with LABELLOOP_TRUST_SETUP_CREDENTIALS
        tx.save_project(1, ls_hostname="http://ls.invalid:8080", ls_token="t")
    off = {"label_studio_url": None, "label_studio_api_key": None, "stream_budget": "0.5"}
    assert ingest_for(storage, tmp_path, **off).ingest(1, {"items": items(0, 40)}).selected
    assert jobs(storage, JobKind.STREAM_EXPORT) == []  # not trusted: no credentials
    trusting = ingest_for(storage, tmp_path, trust_setup_credentials=True, **off)
    assert trusting.ingest(1, {"items": items(40, 40)}).selected
    assert len(jobs(storage, JobKind.STREAM_EXPORT)) == 1


def test_the_same_batch_twice_is_taken_once(storage: Storage, tmp_path: Path) -> None:
    project(storage)
    ingest = ingest_for(storage, tmp_path, stream_budget="0.2")
    woken: list[int] = []
    ingest.wake = lambda: woken.append(1)
    batch = {"items": items(0, 50)}
    first = ingest.ingest(1, batch)
    assert first.received == 50 and first.duplicates == 0 and first.errors == []
    assert first.selected and woken == [1]
    again = ingest.ingest(1, batch)
    assert (again.received, again.selected, again.duplicates) == (0, [], 50)
    rows = stored(storage)
    assert len(rows) == 50 and sorted(r.key for r in rows if r.selected) == sorted(first.selected)
    assert {r.status for r in rows if r.selected} == {"pending"}
    assert {r.status for r in rows if not r.selected} == {"ignored"}
    # half old, half new, and a key repeated inside the batch
    mixed = ingest.ingest(1, {"items": items(25, 50) + items(60, 1)})
    assert (mixed.received, mixed.duplicates) == (25, 26)
    assert len(stored(storage)) == 75


def test_a_partial_batch_stores_the_good_items(storage: Storage, tmp_path: Path) -> None:
    project(storage)
    ingest = ingest_for(storage, tmp_path, stream_budget="1")
    batch = items(0, 4)
    batch[1] = {"key": "k1", "data": {"title": "no text"}}
    batch[3]["prediction"] = "maybe"
    result = ingest.ingest(1, {"items": batch})
    assert [(e.index, e.key, e.field) for e in result.errors] == [
        (1, "k1", "data.text"), (3, "k3", "prediction")]
    assert result.received == 2 and result.accepted == ["k0", "k2"]
    rows = stored(storage)
    assert sorted(r.key for r in rows) == ["k0", "k2"] and result.selected == [
        r.key for r in rows if r.selected]
    assert result.to_json()["errors"][0] == {"index": 1, "key": "k1", "field": "data.text",
                                             "message": result.errors[0].message}


def test_unknown_and_unsupported_projects(storage: Storage, tmp_path: Path) -> None:
    ingest = ingest_for(storage, tmp_path)
    with pytest.raises(UnknownProject):
        ingest.ingest(9, {"items": items(0, 1)})
    project(storage, 2, SPANS)
    with pytest.raises(UnsupportedConfig, match="text classification"):
        ingest.ingest(2, {"items": items(0, 1)})
    project(storage, 3, "<View><Image name='i' value='$img'/></View>")
    with pytest.raises(UnsupportedConfig):
        ingest.ingest(3, {"items": items(0, 1)})


def test_negative_feedback_and_corrections_are_taken_first(storage: Storage,
                                                           tmp_path: Path) -> None:
    project(storage)
    ingest = ingest_for(storage, tmp_path, stream_budget="0.05")
    batch = items(0, 400)
    first = list(range(7, 400, 40))  # 10 items, under the feedback cap (half of 50 a window)
    for i in first[:5]:
        batch[i]["feedback"] = "negative"
    for i in first[5:]:
        batch[i].update(feedback="correction", correction="neutral")
    for i in range(3, 400, 50):
        batch[i]["feedback"] = "positive"  # not a mistake: no priority
    result = ingest.ingest(1, {"items": batch})
    rows = {r.key: r for r in stored(storage)}
    for i in first:
        assert rows[f"k{i}"].selected and rows[f"k{i}"].reason in ("feedback", "audit")
    assert sum(rows[f"k{i}"].reason == "feedback" for i in first) >= 8
    assert rows[f"k{first[5]}"].correction == ["neutral"]
    assert not any(r.reason == "feedback" for r in rows.values()
                   if r.feedback == "positive")
    assert set(result.selected) >= {f"k{i}" for i in first}


def test_the_realised_rate_stays_within_the_budget(storage: Storage, tmp_path: Path) -> None:
    project(storage)
    ingest = ingest_for(storage, tmp_path, stream_budget="0.05")
    selected = 0
    for start in range(0, 3000, 100):
        selected += len(ingest.ingest(1, {"items": items(start, 100)}).selected)
    flags = np.array([r.selected for r in sorted(stored(storage), key=lambda r: r.id)])
    assert flags.size == 3000 and flags.sum() == selected
    windows = np.convolve(flags.astype(int), np.ones(1000, dtype=int), mode="valid")
    assert windows.min() >= 45 and windows.max() <= 55  # 50 ± 10 % on every 1,000 items


def _toy_screen(storage: Storage, pid: int = 1):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    texts = [" ".join(rng.choice(WORDS[LABELS[c]], 3)) + " service" for c in y]
    model = fit_screen(texts, y, labels=LABELS, multiple=False, seed=0)
    with storage.write() as tx:
        tx.save_model_artifact(pid, "labelloop-3", "screen", dump_screen(model))
    return model


def test_the_screening_model_scores_items_once_stored(storage: Storage,
                                                      tmp_path: Path) -> None:
    project(storage)
    ingest = ingest_for(storage, tmp_path, stream_budget="0.5")
    clock = [0.0]
    ingest.screens.clock = lambda: clock[0]
    ingest.ingest(1, {"items": items(0, 10)})
    assert {r.model_version for r in stored(storage)} == {None}
    model = _toy_screen(storage)
    ingest.ingest(1, {"items": items(10, 1)})  # the version is looked up again 2 s later
    assert [r.model_version for r in stored(storage) if r.key == "k10"] == [None]
    clock[0] = 2.0
    texts = ["great love perfect", "awful hate broken", "okay great awful"]
    batch = [{"key": f"m{i}", "data": {"text": t}, "prediction": p}
             for i, (t, p) in enumerate(zip(texts, ["positive", "positive", "neutral"]))]
    ingest.ingest(1, {"items": batch})
    rows = {r.key: r for r in stored(storage) if r.key.startswith("m")}
    proba = screen_proba(model, texts)
    assert [rows[f"m{i}"].model_label for i in range(3)] == [LABELS[k] for k in
                                                             proba.argmax(axis=1)]
    assert {r.model_version for r in rows.values()} == {"labelloop-3"}
    assert rows["m0"].model_label == "positive" and rows["m1"].model_label == "negative"
    want = stream_utility(proba, production=np.array([0, 0, 2]), rng=np.random.default_rng(0))
    got = np.array([rows[f"m{i}"].utility for i in range(3)])
    assert np.allclose(got, want, atol=1e-6)
    assert rows["m1"].utility >= 0.5  # the production model disagrees with the screen
    # a newer version is picked up at the next look-up
    with storage.write() as tx:
        tx.save_model_artifact(1, "labelloop-4", "screen", dump_screen(model))
    clock[0] = 4.0
    ingest.ingest(1, {"items": items(100, 2)})
    assert {r.model_version for r in stored(storage) if r.key in ("k100", "k101")} == \
        {"labelloop-4"}
    # the threshold's ring started again when the first screening model replaced the uniform
    # draws (the 3 items m0–m2) and went on with labelloop-4's 2
    with storage.write() as tx:
        state = StreamState.from_json(tx.lock_stream_state(1) or {})
    assert state.scorer == "screen" and state.utility_array().size == 5


def test_export_queued_once_and_drift_every_n(storage: Storage, tmp_path: Path) -> None:
    project(storage)
    ingest = ingest_for(storage, tmp_path, stream_budget="0.5", drift_every_n=100)
    ingest.ingest(1, {"items": items(0, 90)})
    exports = jobs(storage, JobKind.STREAM_EXPORT)
    assert len(exports) == 1 and exports[0].dedupe_key == "stream_export:1"
    assert exports[0].serial_key == "stream_export:1" and exports[0].project_id == 1
    assert jobs(storage, JobKind.DRIFT) == []
    ingest.ingest(1, {"items": items(90, 20)})  # 110: crosses 100
    assert len(jobs(storage, JobKind.STREAM_EXPORT)) == 1  # still the one queued
    drift = jobs(storage, JobKind.DRIFT)
    assert len(drift) == 1 and drift[0].dedupe_key == "drift:1"
    with storage.write() as tx:
        tx.finish_job(drift[0].id)
    ingest.ingest(1, {"items": items(110, 50)})  # 160: no multiple crossed
    ingest.ingest(1, {"items": items(0, 110)})  # all duplicates: nothing received
    assert jobs(storage, JobKind.DRIFT) == []
    ingest.ingest(1, {"items": items(160, 60)})  # 220: crosses 200
    assert len(jobs(storage, JobKind.DRIFT)) == 1


def test_no_export_job_when_nothing_is_selected(storage: Storage, tmp_path: Path) -> None:
    project(storage)
    ingest = ingest_for(storage, tmp_path, stream_budget="1/day")
    ingest.clock = lambda: 1_000_000.0
    for i in range(300):  # until the day's one selection is made
        if ingest.ingest(1, {"items": items(i, 1)}).selected:
            break
    assert len(jobs(storage, JobKind.STREAM_EXPORT)) == 1
    export = jobs(storage, JobKind.STREAM_EXPORT)[0]
    with storage.write() as tx:
        tx.finish_job(export.id)
    woken: list[int] = []
    ingest.wake = lambda: woken.append(1)
    result = ingest.ingest(1, {"items": items(1000, 20)})  # the day's one item is spent
    assert result.received == 20 and result.selected == []
    assert jobs(storage, JobKind.STREAM_EXPORT) == [] and woken == []


def test_a_seed_makes_decisions_reproducible(tmp_path: Path) -> None:
    def run(name: str, seed: int) -> list[str]:
        storage = open_storage(f"sqlite:///{tmp_path / name}.db")
        try:
            project(storage)
            ingest = ingest_for(storage, tmp_path, seed=seed, stream_budget="0.1")
            return [k for s in range(0, 300, 100)
                    for k in ingest.ingest(1, {"items": items(s, 100)}).selected]
        finally:
            storage.close()

    first = run("a", 7)
    assert first == run("b", 7) and first != run("c", 8) and len(first) >= 27


def test_concurrent_senders_never_select_a_key_twice(any_storage: Storage,
                                                     tmp_path: Path) -> None:
    """Four threads post overlapping batches (each key sent by two of them, as retries racing
    their first attempt): every key stored once, no key selected twice, nothing acknowledged
    lost."""
    storage = any_storage
    project(storage)
    ingest = ingest_for(storage, tmp_path, seed=None, stream_budget="0.3")
    acknowledged: list[str] = []
    selected: list[str] = []
    received = Counter[int]()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def sender(t: int) -> None:
        try:
            for b in range(10):
                start = ((t // 2) * 10 + b) * 25  # threads 0,1 and 2,3 send the same keys
                r = ingest.ingest(1, {"items": items(start, 25)})
                with lock:
                    acknowledged.extend(r.accepted)
                    selected.extend(r.selected)
                    received[t] += r.received
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    rows = stored(storage)
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys)) == 500 and sum(received.values()) == 500
    assert set(acknowledged) == set(keys)
    assert len(selected) == len(set(selected))
    assert set(selected) == {r.key for r in rows if r.selected}
    with storage.read() as tx:
        raw = tx.lock_stream_state(1)
    assert raw is not None and raw["seen"] == 500


def test_an_unreadable_state_starts_afresh(storage: Storage, tmp_path: Path, caplog) -> None:
    project(storage)
    with storage.write() as tx:
        tx.save_stream_state(1, {"version": 99, "seen": "lots"})
    result = ingest_for(storage, tmp_path).ingest(1, {"items": items(0, 5)})
    assert result.received == 5 and "starts afresh" in caplog.text
    with storage.read() as tx:
        assert tx.lock_stream_state(1)["seen"] == 5
