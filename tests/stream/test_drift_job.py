"""The drift job (issue 17 §5): recent stream items against the labelled set, a toy embedder."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import make_settings
from tests.loop.test_retrain import WORDS, ToyEmbedder
from tests.quality.seed import annotation, new_project

from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.jobs.worker import Worker
from labelloop.labelstudio.access import GatewayProvider
from labelloop.loop.resources import Resources
from labelloop.storage.base import Storage
from labelloop.storage.records_stream import DriftRecord, StreamItemRow
from labelloop.stream.drift_job import handle_drift, label_counts, reference_positions

CLASSES = list(WORDS)  # positive, negative, neutral: CONFIG's choices


class CountingEmbedder(ToyEmbedder):
    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts):
        self.encoded.extend(texts)
        return super().encode(texts)


def labelled_project(storage: Storage, *, n: int = 150, labelled: int | None = None) -> None:
    """Project 1: ``n`` tasks of the three classes in turn, the first ``labelled`` annotated."""
    new_project(storage, 1, n_tasks=0)
    ids = list(range(1, n + 1))
    with storage.write() as tx:
        tx.upsert_tasks(1, [{"id": t, "data": {"text": f"{WORDS[CLASSES[t % 3]]} film {t}"}}
                            for t in ids]
                        + [{"id": n + 1, "data": {"other": "no text here"}},
                           {"id": n + 2, "data": {"text": "   "}}])
        tx.upsert_annotations([annotation(t, t, 1, CLASSES[t % 3])
                               for t in ids[:n if labelled is None else labelled]],
                              source="resync")


def add_stream(storage: Storage, classes: list[str], *, start: int = 0, at: float = 1e9,
               with_text: bool = True) -> None:
    rows = [StreamItemRow(key=f"k{start + i}",
                          data={"text": f"{WORDS[c]} review {start + i}"} if with_text else {},
                          prediction=None, feedback=None, correction=None, selected=i % 20 == 0,
                          reason="audit" if i % 20 == 0 else "below_threshold", model_label=c)
            for i, c in enumerate(classes)]
    with storage.write() as tx:
        tx.add_stream_items(1, rows, at=at)


def run_drift(storage: Storage, tmp_path, embedder=None, **kw) -> DriftRecord | None:
    s = make_settings(tmp_path, drift_permutations=200, **kw)
    worker = Worker(storage, s, {JobKind.DRIFT: handle_drift},
                    gateways=GatewayProvider(s, lambda *_: None),
                    resources=Resources(s, embedder=embedder or ToyEmbedder()))
    with storage.write() as tx:
        jid, _ = tx.enqueue(JobSpec(JobKind.DRIFT, 1))
    worker.run_once()
    with storage.read() as tx:
        job = tx.get_job(jid)
        assert job is not None and job.status is JobStatus.SUCCEEDED, job.last_error
        return tx.latest_drift(1)


def mix(rng: np.random.Generator, n: int, p: list[float]) -> list[str]:
    return [CLASSES[i] for i in rng.choice(3, size=n, p=p)]


def test_an_iid_stream_is_stable_and_its_labels_barely_move(storage, tmp_path) -> None:
    labelled_project(storage)
    add_stream(storage, mix(np.random.default_rng(1), 300, [1 / 3] * 3))
    rec = run_drift(storage, tmp_path)
    assert rec is not None and not rec.drifting
    assert rec.statistic < rec.threshold and rec.p_value > 0.01
    assert rec.window_items == 300 and rec.reference_items == 150
    assert rec.label_shift is not None and rec.label_shift < 0.1
    assert rec.details["reference_set"] == "labelled"
    assert rec.details["labels"]["reference"] == [50, 50, 50]
    assert sum(rec.details["labels"]["recent"]) == 300 and rec.details["bandwidth"] > 0


def test_a_shifted_class_mix_is_drifting_with_the_labels_moved(storage, tmp_path) -> None:
    labelled_project(storage)
    add_stream(storage, mix(np.random.default_rng(2), 300, [0.05, 0.9, 0.05]))
    rec = run_drift(storage, tmp_path)
    assert rec is not None and rec.drifting
    assert rec.statistic > rec.threshold and rec.p_value <= 0.01
    assert rec.label_shift is not None and rec.label_shift > 0.4
    assert rec.label_p_value is not None and rec.label_p_value < 0.001


def test_texts_of_another_topic_are_drifting_without_labels_to_compare(storage,
                                                                         tmp_path) -> None:
    labelled_project(storage)
    rows = [StreamItemRow(key=f"w{i}", data={"text": f"weather report {i}"}, prediction=None,
                          feedback=None, correction=None, selected=False,
                          reason="below_threshold") for i in range(120)]
    with storage.write() as tx:
        tx.add_stream_items(1, rows, at=5.0)
    rec = run_drift(storage, tmp_path)
    assert rec is not None and rec.drifting and rec.statistic > rec.threshold
    assert rec.label_shift is None and rec.details["labels"]["recent"] == [0, 0, 0]


def test_the_window_is_the_newest_items_and_a_rerun_saves_the_same_figures(storage,
                                                                           tmp_path) -> None:
    labelled_project(storage)
    add_stream(storage, mix(np.random.default_rng(3), 200, [0.05, 0.9, 0.05]), at=1000.0)
    add_stream(storage, mix(np.random.default_rng(4), 120, [1 / 3] * 3), start=200, at=2000.0)
    first = run_drift(storage, tmp_path, drift_window=100)  # only the i.i.d. newest 100
    assert first is not None and not first.drifting
    assert first.window_items == 100 and first.window_from == first.window_to == 2000.0
    again = run_drift(storage, tmp_path, drift_window=100)
    assert again is not None and again.measured_at >= first.measured_at
    assert (again.statistic, again.threshold, again.p_value) == \
        (first.statistic, first.threshold, first.p_value)
    wider = run_drift(storage, tmp_path, drift_window=320)  # the shifted 200 come in
    assert wider is not None and wider.drifting and wider.window_from == 1000.0


def test_cached_vectors_are_not_encoded_again(storage, tmp_path) -> None:
    labelled_project(storage)
    add_stream(storage, mix(np.random.default_rng(5), 80, [1 / 3] * 3))
    first = CountingEmbedder()
    run_drift(storage, tmp_path, embedder=first)
    assert len(first.encoded) == 80 + 150  # tasks without text are never embedded
    second = CountingEmbedder()
    run_drift(storage, tmp_path, embedder=second)
    assert second.encoded == []


def test_too_few_items_with_text_is_a_logged_skip(storage, tmp_path, caplog) -> None:
    labelled_project(storage)
    add_stream(storage, mix(np.random.default_rng(6), 49, [1 / 3] * 3))
    add_stream(storage, ["positive"] * 30, start=100, with_text=False)  # 79 items, 49 texts
    caplog.set_level("INFO", logger="labelloop.stream.drift_job")
    assert run_drift(storage, tmp_path) is None
    assert "drift not measured: 49 recent stream items with text, 50 needed" in caplog.text


def test_fewer_than_50_labels_compares_with_the_project_tasks(storage, tmp_path) -> None:
    labelled_project(storage, labelled=12)
    add_stream(storage, mix(np.random.default_rng(7), 100, [1 / 3] * 3))
    rec = run_drift(storage, tmp_path)
    assert rec is not None and rec.details["reference_set"] == "tasks"
    assert rec.reference_items == 150  # every task with text (the blank and missing left out)
    assert rec.details["labels"]["reference"] == [4, 4, 4]


def test_label_counts_and_reference_positions() -> None:
    got = label_counts(["a", ("b", "c"), "a|c", None, "zzz", ()], ["a", "b", "c"])
    assert got.tolist() == [2, 1, 2]
    labelled = np.array([True] * 60 + [False] * 40)
    has_text = np.ones(100, dtype=bool)
    has_text[0] = False
    pos, which, size = reference_positions(labelled, has_text, rng=np.random.default_rng(0),
                                           limit=30)
    assert which == "labelled" and size == 59 and len(pos) == 30
    assert np.all(np.diff(pos) > 0) and pos.min() >= 1 and pos.max() < 60
    pos, which, size = reference_positions(labelled[:]  & (np.arange(100) < 10), has_text,
                                           rng=np.random.default_rng(0))
    assert which == "tasks" and size == 99 and len(pos) == 99


@pytest.mark.parametrize("permutations", [50])
def test_plan_is_seeded_by_its_generator(permutations: int) -> None:
    from labelloop.stream.drift_job import DriftInput, plan_drift

    rng = np.random.default_rng(0)
    inp = DriftInput(1, rng.normal(size=(60, 4)), np.arange(60.0), rng.normal(size=(80, 4)), 80,
                     "labelled", ("a", "b"), np.array([30, 30]), np.zeros(2, dtype=np.int64))
    a = plan_drift(inp, permutations=permutations, alpha=0.05, now=5.0,
                   rng=np.random.default_rng(9))
    b = plan_drift(inp, permutations=permutations, alpha=0.05, now=5.0,
                   rng=np.random.default_rng(9))
    assert a == b and a.label_shift is None  # no human label: the labels are not compared
    assert (a.window_from, a.window_to, a.window_items) == (0.0, 59.0, 60)


def test_the_worker_runs_it_for_drift_jobs(tmp_path) -> None:
    from labelloop.jobs.registry import default_handlers

    assert default_handlers(make_settings(tmp_path))[JobKind.DRIFT] is handle_drift
