"""Real retrain jobs with the dataset objective and auto-accept (fake Label Studio, toy
embedder): the stored queue, the version's lineage, and the export agreeing with the queue on
which machine labels are accepted."""

from __future__ import annotations

import pytest
from tests.conftest import CONFIG
from tests.fakes.label_studio import FakeGateway
from tests.loop.test_retrain import WORDS, run_retrain

from labelloop.labelstudio.sync import resync_project
from labelloop.quality.accept import AcceptRule
from labelloop.quality.dataset import prepare_export
from labelloop.storage.base import Storage
from labelloop.storage.records_llm import LlmLabel
from labelloop.storage.sql_queue import QueueEntry

N = 300
CLASSES = list(WORDS)  # positive, negative, neutral: task t's class is CLASSES[t % 3]
# the LLM files a quarter of the "negative" tasks under "neutral", at its usual confidence
LLM_WRONG = {t for t in range(1, N + 1) if t % 3 == 1 and t % 4 == 0}


def llm_class(t: int) -> str:
    return CLASSES[(t + 1) % 3] if t in LLM_WRONG else CLASSES[t % 3]


@pytest.fixture
def big(storage: Storage, fake_ls: FakeGateway) -> FakeGateway:
    fake_ls.add_project(1, CONFIG)
    for t in range(1, N + 1):
        fake_ls.add_task(1, t, {"text": f"{WORDS[CLASSES[t % 3]]} movie number {t}"})
    resync_project(storage, fake_ls, 1)
    with storage.write() as tx:
        tx.save_llm_labels([LlmLabel(1, t, "llm-x", [llm_class(t)],
                                     {c: 0.95 if c == llm_class(t) else 0.025 for c in CLASSES},
                                     0.95, "logprobs") for t in range(1, N + 1)])
        # tasks 1..180 were drawn for the audit by an earlier queue
        tx.save_queue([QueueEntry(1, "labelloop-0", t, t - 1, 0.0, "audit", True, None)
                       for t in range(1, 181)])
    return fake_ls


def annotate(ls: FakeGateway, storage: Storage, task_ids: range) -> None:
    for t in task_ids:
        ls.annotate(t, CLASSES[t % 3])
    resync_project(storage, ls, 1)


def test_retrain_jobs_aim_the_queue_and_the_export_accepts_the_same_tasks(
        storage: Storage, big: FakeGateway, tmp_path) -> None:
    kw = {"queue_objective": "dataset", "accept_precision": 0.9}
    annotate(big, storage, range(1, 31))
    first, queue = run_retrain(storage, big, tmp_path, **kw)
    # the model trained on 30 labels now predicts the rest: stored before their labels arrive
    assert first.lineage["objective"]["objective"] == "dataset"
    assert first.lineage["objective"]["applied"] is True
    assert "error_removal" in {e.reason for e in queue}
    annotate(big, storage, range(31, 241))
    version, queue = run_retrain(storage, big, tmp_path, **kw)
    lineage = version.lineage
    rule = AcceptRule.from_json(lineage["accept"])
    states = {CLASSES[c.label]: c.state for c in rule.classes}
    # the LLM files some negatives under neutral, but the stacked machine label follows the
    # local model where the human labels (out of fold) show it right: each class is judged on
    # its machine labels' measured precision, not on the LLM's
    assert states["positive"] == states["negative"] == "accepting"
    moved = {e.task_id for e in queue if e.reason == "accepted"}
    assert moved and lineage["accept"]["accepted"] == len(moved)
    assert moved <= set(range(241, N + 1))  # only unreviewed tasks
    ranked = [e for e in queue if not e.audit]
    assert {e.task_id for e in ranked[-len(moved):]} == moved  # at the end of the queue
    rest = [e.reason for e in ranked[:len(ranked) - len(moved)]]
    assert rest[:20] == ["error_removal"] * min(20, len(rest))  # the batch: error removal
    # the stopping signal's expected wrong labels now come from p_correct
    assert lineage["machine_labelled"]["n"] == N - 240
    # the export, read from storage after the retrain, accepts exactly what the queue moved
    # (and accepted audit draws, which stay in the queue where the audit put them)
    export = prepare_export(storage, 1, accept_precision=0.9)
    rows = {r.task_id: r for r in export.rows()}
    accepted = {t for t, r in rows.items() if r.accepted}
    audit = {e.task_id for e in queue if e.audit}
    assert accepted - audit == moved
    assert lineage["accept"]["accepted_in_audit"] == len(accepted & audit)
    assert all(rows[t].source not in ("human", "consensus") for t in accepted)
    right = sum(rows[t].label == CLASSES[t % 3] for t in accepted)
    assert right >= 0.9 * len(accepted)  # the accepted labels meet the target against gold
    off = prepare_export(storage, 1)  # LABELLOOP_ACCEPT_PRECISION unset: nothing accepted
    assert not any(r.accepted for r in off.rows())


def test_the_retrain_reads_the_learning_curves_slope_for_auto(storage: Storage,
                                                             big: FakeGateway,
                                                             tmp_path) -> None:
    versions = []
    for n in (30, 60, 90):
        annotate(big, storage, range(n - 29, n + 1))
        version, queue = run_retrain(storage, big, tmp_path, queue_objective="auto")
        versions.append(version.lineage["objective"])
        served = "error_removal" in {e.reason for e in queue}
        assert served == (versions[-1]["objective"] == "dataset")  # the queue follows it
    # the first two retrains find fewer than two stored cv accuracies: no slope yet
    assert all(o["model_gain"] is None and "not measured" in o["reason"] for o in versions[:2])
    # the third reads the slope of the first two (30 and 60 labels) and weighs it
    assert versions[2]["model_gain"] is not None and versions[2]["setting"] == "auto"
    assert versions[2]["reason"].startswith("auto: ")


def test_a_skipped_task_gets_a_stored_model_prediction_and_a_model_label_in_the_export(
        storage: Storage, fake_ls: FakeGateway, tmp_path) -> None:
    """Without an LLM, a task a human skipped is labelled by the model alone: the retrain
    predicts it (not queuing it again), and once labelled it keeps the prediction made before."""
    fake_ls.add_project(1, CONFIG)
    for t in range(1, 61):
        fake_ls.add_task(1, t, {"text": f"{WORDS[CLASSES[t % 3]]} movie number {t}"})
    annotate(fake_ls, storage, range(1, 21))
    fake_ls.annotate(40, None, cancelled=True)
    resync_project(storage, fake_ls, 1)
    first, queue = run_retrain(storage, fake_ls, tmp_path)
    assert 40 not in {e.task_id for e in queue}
    with storage.read() as tx:
        stored = tx.latest_predictions(1, [40], source="model")
    assert stored[40].model_version == first.version
    assert set(stored[40].extra["probas"]) == set(CLASSES)  # type: ignore[index]
    row = next(r for r in prepare_export(storage, 1).rows() if r.task_id == 40)
    assert (row.source, row.llm_label, row.n_annotations) == ("model", None, 0)
    assert row.label == row.model_label == CLASSES[40 % 3] and row.p_correct is not None
    # labelled later: its stored prediction stays the one made before the label
    fake_ls.annotate(40, CLASSES[40 % 3])
    annotate(fake_ls, storage, range(21, 23))
    second, _ = run_retrain(storage, fake_ls, tmp_path)
    with storage.read() as tx:
        stored = tx.latest_predictions(1, [40, 50], source="model")
    assert second.version != first.version
    assert (stored[40].model_version, stored[50].model_version) == (first.version,
                                                                    second.version)
