"""The dataset export's rows and card (labelloop.quality.dataset*): every human label as given,
every other task with a machine label, both formats parse back, rows come page by page."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from labelloop.errors import UnknownProject, UnsupportedConfig
from labelloop.events.projects import record_project
from labelloop.quality import project_quality
from labelloop.quality.align import align
from labelloop.quality.data import read_project_labels
from labelloop.quality.dataset import prepare_export
from labelloop.quality.dataset_card import dataset_card
from labelloop.quality.dataset_rows import COLUMNS, DatasetRow, encode
from labelloop.quality.stratified import stratified_accuracy
from labelloop.storage.base import Storage, Tx
from labelloop.storage.records import Annotation, Prediction
from labelloop.storage.records_llm import LlmCall, LlmLabel
from tests.predict.spans_seed import TEXTS, seed_ner, where
from tests.quality.seed import (
    LABELS,
    annotation,
    llm_label,
    model_prediction,
    new_project,
    seed_project,
)
from tests.quality.seed import region as choice_region

MULTI = """<View><Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="multiple">
    <Choice value="positive"/><Choice value="negative"/><Choice value="neutral"/>
  </Choices></View>"""


def ann(aid: int, task: int, user: int | None, choice: str | list[str] | None, *,
        at: str = "2026-01-01T00:00:00", cancelled: bool = False) -> Annotation:
    a = annotation(aid, task, user, choice, cancelled=cancelled)
    return Annotation(a.id, a.task_id, a.project_id, a.completed_by, a.result, a.was_cancelled,
                      a.ground_truth, a.lead_time, at)


def rows_of(storage: Storage, project_id: int = 1, **kw: int) -> dict[int, DatasetRow]:
    return {r.task_id: r for r in prepare_export(storage, project_id, **kw).rows()}


def test_hand_made_project_every_case(storage: Storage) -> None:
    new_project(storage, n_tasks=7)  # task ids 100000..100006
    t = [100_000 + i for i in range(7)]
    with storage.write() as tx:
        tx.upsert_annotations([
            ann(1, t[0], 1, "positive"),  # one annotator: human
            ann(2, t[1], 1, "negative"), ann(3, t[1], 2, "negative"),  # agree: consensus
            ann(4, t[2], 1, "positive", at="2026-01-01T00:00:01"),  # disagree: the later vote
            ann(5, t[2], 2, "neutral", at="2026-01-01T00:00:02"),
            ann(6, t[3], 1, None, cancelled=True),  # skipped only: a machine label
        ], source="resync")
        tx.save_llm_labels([llm_label(t[0], "negative", 0.9), llm_label(t[3], "neutral", 0.7),
                            llm_label(t[4], "positive", 0.8),
                            llm_label(t[6], None, None, failure="timeout")])
        tx.save_predictions([model_prediction(t[4], "negative", 0.6),
                             model_prediction(t[5], "neutral", 0.55)])
    rows = rows_of(storage)
    assert list(rows) == t
    got = {tid: (r.label, r.source, r.n_annotations, r.llm_label, r.model_label)
           for tid, r in rows.items()}
    assert got == {
        t[0]: ("positive", "human", 1, "negative", None),
        t[1]: ("negative", "consensus", 2, None, None),
        t[2]: ("neutral", "consensus", 2, None, None),
        # three human labels are too few to fit: the LLM (the one member measured), else the
        # model, with p_correct from their confidences
        t[3]: ("neutral", "llm", 0, "neutral", None),
        t[4]: ("positive", "llm", 0, "positive", "negative"),
        t[5]: ("neutral", "model", 0, None, "neutral"),
        t[6]: (None, None, 0, None, None),  # the LLM failed, no model: no label
    }
    p = {tid: r.p_correct for tid, r in rows.items()}
    assert p[t[0]] == p[t[1]] == p[t[2]] == 1.0 and p[t[6]] is None
    assert 0 < p[t[3]] < p[t[4]] < 1  # the LLM's 0.7 and 0.8, shrunk alike
    assert p[t[5]] == pytest.approx(0.55)  # the model is measured on no human label
    assert all(r.accepted is False and r.data == {"text": f"task {i}"}
               for i, r in enumerate(rows.values()))


def test_multiple_choice_labels_are_lists(storage: Storage) -> None:
    new_project(storage, n_tasks=2, config=MULTI)
    with storage.write() as tx:
        tx.upsert_annotations([ann(1, 100_000, 1, ["neutral", "positive"])], source="resync")
        tx.save_llm_labels([llm_label(100_001, ["negative", "positive"], 0.6)])
    rows = rows_of(storage)
    assert rows[100_000].label == ["positive", "neutral"]  # config order
    assert (rows[100_001].label, rows[100_001].source) == (["positive", "negative"], "llm")


def test_seeded_project_humans_as_the_one_rule_says_machines_elsewhere(
        storage: Storage) -> None:
    s = seed_project(storage, n_tasks=600, seed=3, with_ops=False)
    with storage.read() as tx:
        a = align(read_project_labels(tx, 1))
    human = {tid: a.categories[int(c)] for tid, c in zip(a.task_ids, a.consensus)
             if not np.isnan(c)}
    rows = rows_of(storage, page=37)  # pages that do not divide the project
    assert sorted(rows) == s.task_ids and len(human) > 200
    truth = dict(zip(s.task_ids, s.truth))
    machine_hits, llm_hits, n_machine = 0, 0, 0
    for tid, r in rows.items():
        assert r.llm_label == LABELS[s.llm[tid]]
        assert r.model_label == (LABELS[s.model[tid]] if tid in s.model else None)
        if tid in human:
            assert (r.label, r.p_correct) == (human[tid], 1.0)
            assert r.source == ("consensus" if r.n_annotations >= 2 else "human")
            continue
        assert r.source == "llm" and r.label in LABELS  # only the LLM labelled these
        assert r.p_correct is not None and 0 <= r.p_correct <= 1
        n_machine += 1
        machine_hits += r.label == LABELS[truth[tid]]
        llm_hits += s.llm[tid] == truth[tid]
    # the stacked label on the LLM alone is at least about as right as the LLM's own label
    assert n_machine == 300 and machine_hits >= llm_hits - 0.02 * n_machine


def test_span_project_rows(storage: Storage) -> None:
    seed_ner(storage)
    text = TEXTS[6]
    with storage.write() as tx:
        start, end = where(text, "Paris")
        tx.upsert_annotations([Annotation(1, 6, 1, 1, [{
            "from_name": "ner", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": "Paris", "labels": ["LOC"]}}],
            False, False, None, "2026-01-01")], source="webhook")
    rows = rows_of(storage)

    def spans(tid: int, *items: tuple[str, str]) -> list[dict[str, int | str]]:
        out: list[dict[str, int | str]] = [
            {"start": where(TEXTS[tid], s)[0], "end": where(TEXTS[tid], s)[1], "label": lab}
            for s, lab in items]
        return sorted(out, key=lambda x: (x["start"], x["end"], x["label"]))

    assert (rows[1].label, rows[1].source, rows[1].p_correct) == (
        spans(1, ("Anna", "PER"), ("Paris", "LOC"), ("Acme", "ORG")), "llm", 0.8)
    # the LLM's answer holds a span past its text: the model's spans
    assert (rows[2].label, rows[2].source, rows[2].p_correct) == (
        spans(2, ("Rome", "LOC")), "model", 0.6)
    assert rows[2].llm_label is None
    assert (rows[3].label, rows[3].source) == (spans(3, ("Acme", "ORG"), ("Carl", "PER")),
                                               "model")
    assert rows[3].p_correct == pytest.approx(0.6)  # mean of 0.7 and 0.5
    assert (rows[4].label, rows[4].source) == (None, None)  # the model's region lies
    assert (rows[5].label, rows[5].source, rows[5].p_correct) == ([], "llm", None)
    assert (rows[6].label, rows[6].source, rows[6].n_annotations) == (
        spans(6, ("Paris", "LOC")), "human", 1)
    card = dataset_card(storage, 1)
    assert card["size"] == 6 and card["labelled"] == 5
    assert card["by_source"] == {"llm": 2, "model": 2, "human": 1}
    assert card["label_distribution"] == {"spans": {"PER": 2, "LOC": 3, "ORG": 2},
                                          "tasks_without_entities": 1}
    acc = card["estimated_accuracy"]
    assert acc["basis"] == "p_correct" and "no audit" in acc["method"]
    # one human row taken as right, four machine rows: p_correct 0.8, 0.6, 0.6 and one
    # unknown (task 5), which counts at the mean of the known ones
    assert acc["overall"]["accuracy"] == pytest.approx((1 + 4 * (2.0 / 3)) / 5)


def test_formats_parse_back(storage: Storage) -> None:
    seed_project(storage, n_tasks=120, seed=4, with_ops=False)
    new = prepare_export(storage, 1)
    rows = [{c: getattr(r, c) for c in COLUMNS} for r in new.rows()]
    lines = "".join(encode(new.rows(), "jsonl", batch=7)).splitlines()
    assert [json.loads(line) for line in lines] == rows
    text = "".join(encode(new.rows(), "csv", batch=7))
    back = list(csv.DictReader(io.StringIO(text)))
    assert len(back) == len(rows)
    for got, want in zip(back, rows):
        assert int(got["task_id"]) == want["task_id"]
        assert json.loads(got["data"]) == want["data"]
        assert got["label"] == want["label"] and got["source"] == want["source"]
        assert float(got["p_correct"]) == pytest.approx(want["p_correct"])
        assert int(got["n_annotations"]) == want["n_annotations"]
        assert got["model_label"] == (want["model_label"] or "")
        assert got["accepted"] == "false"


class CountingStorage:
    """A storage that records each get_tasks call's ids."""

    def __init__(self, inner: Storage) -> None:
        self.inner, self.calls = inner, []  # type: ignore[var-annotated]

    @contextmanager
    def read(self, **kw: bool) -> Iterator[Tx]:
        with self.inner.read(**kw) as tx:
            calls = self.calls

            class Spy:
                def __getattr__(self, name: str) -> object:
                    return getattr(tx, name)

                def get_tasks(self, project_id: int, ids: list[int] | None = None,
                              **k: bool) -> object:
                    calls.append(ids)
                    return tx.get_tasks(project_id, ids, **k)

            yield Spy()  # type: ignore[misc]


def test_rows_are_read_page_by_page(storage: Storage) -> None:
    seed_project(storage, n_tasks=250, seed=5, with_ops=False)
    spy = CountingStorage(storage)
    rows = prepare_export(spy, 1, page=100).rows()  # type: ignore[arg-type]
    assert spy.calls == []  # preparing reads ids and labels, no task data
    first = next(rows)
    assert first.task_id == 100_000 and len(spy.calls) == 1 and len(spy.calls[0]) == 100
    rest = list(rows)
    assert len(rest) == 249 and [len(c) for c in spy.calls] == [100, 100, 50]


def test_card_audit_estimate_on_the_held_out_audit(storage: Storage) -> None:
    seed_project(storage, n_tasks=600, seed=2, with_ops=True)
    card = dataset_card(storage, 1)
    audit = project_quality(storage, 1)["audit"]
    ex = prepare_export(storage, 1)
    assert ex.arrays is not None and ex.labels is not None and audit["available"]
    a, lab = ex.arrays, ex.labels
    audited = a.audit & (a.human >= 0)
    # the machine label of an audited task comes from a fit that did not see its human label;
    # the other human-labelled tasks carry out-of-fold ones (auto-accept's evidence), which the
    # card's estimate does not read: it counts the audited tasks only
    others = (a.human >= 0) & ~a.audit
    assert (lab.machine[audited] >= 0).all() and others.any()
    assert (lab.machine[others] >= 0).all() and (lab.label[others] == a.human[others]).all()
    assert (lab.p_correct[others] == 1.0).all()  # the row is the human's, p_correct 1
    assert any("held out" in n for n in card["notes"])
    acc = card["estimated_accuracy"]
    n_h, n = card["human"]["tasks"], card["size"]
    n_m = n - n_h
    assert acc["basis"] == "audit"
    assert acc["audited"] == audit["audited"] == int(audited.sum())
    hit = lab.machine[audited] == a.human[audited]
    # stratified by the LLM's confidence, which it gave on every task here
    assert np.isfinite(a.llm_conf).all()
    strat = stratified_accuracy(hit, a.llm_conf[audited],
                                a.llm_conf[(a.human < 0) & (lab.label >= 0)])
    # post-stratified by p_correct when the audit fills two bins, else the plain audit rate
    right = float(np.mean(hit)) if strat is None else strat.accuracy
    assert ("post-stratified" in acc["method"]) == (strat is not None)
    assert acc["overall"]["accuracy"] == pytest.approx((n_h + n_m * right) / n)
    assert acc["overall"]["low"] < acc["overall"]["accuracy"] <= acc["overall"]["high"]
    assert acc["overall"]["low"] >= n_h / n  # humans count as right
    for c, e in acc["per_class"].items():
        assert e["low"] <= e["accuracy"] <= e["high"]
        assert e["n"] == card["label_distribution"][c]
    assert sum(card["label_distribution"].values()) == n == 600
    assert card["human"]["annotations"] > n_h
    assert card["llm"]["all_projects"]["tokens"] == 600 * (420 + 12)
    assert "audit" in acc["method"]
    assert ("Wilson" in acc["method"]) == (strat is None)


def test_card_without_audit_uses_p_correct_and_sums_llm_usage(storage: Storage) -> None:
    new_project(storage, n_tasks=4)
    t = [100_000 + i for i in range(4)]
    with storage.write() as tx:
        tx.upsert_annotations([ann(1, t[0], 1, "positive")], source="resync")
        tx.save_llm_labels([
            LlmLabel(1, tid, "llm-v1", [lab], None, conf, "logprobs",
                     usage={"calls": 1, "prompt_tokens": 100, "completion_tokens": 5,
                            "cost_usd": 0.01, "cached_responses": 0})
            for tid, lab, conf in [(t[1], "negative", 0.9), (t[2], "negative", 0.7),
                                   (t[3], "neutral", 0.5)]])
        tx.save_predictions([Prediction(t[0], 1, "model", "m", choice_region("neutral"), 0.5)])
    card = dataset_card(storage, 1)
    acc = card["estimated_accuracy"]
    assert acc["basis"] == "p_correct" and "calibrated" in acc["method"]
    assert acc["overall"]["accuracy"] == pytest.approx((1 + 0.9 + 0.7 + 0.5) / 4)
    assert acc["overall"]["low"] < acc["overall"]["accuracy"] < acc["overall"]["high"]
    assert acc["per_class"]["negative"]["accuracy"] == pytest.approx(0.8)
    assert acc["per_class"]["positive"] == {"n": 1, "accuracy": 1.0, "low": 1.0, "high": 1.0}
    assert card["label_distribution"] == {"positive": 1, "negative": 2, "neutral": 1}
    project = card["llm"]["project"]
    assert (project["calls"], project["tokens"]) == (3, 315)
    assert project["cost_usd"] == pytest.approx(0.03)



def test_card_counts_the_logged_calls_of_this_project_only(storage: Storage) -> None:
    new_project(storage, n_tasks=3)
    new_project(storage, 2, n_tasks=3)

    def call(project: int | None, pt: int, ct: int, cost: float, status: str = "ok") -> LlmCall:
        return LlmCall("http://llm", "m", "label", status, pt, ct, cost, project_id=project,
                       task_id=None if project is None else project * 100_000)

    with storage.write() as tx:
        tx.add_llm_calls([call(1, 100, 5, 0.01), call(1, 200, 7, 0.02),
                          call(1, 0, 0, 0.0, status="error"),  # a failed call: no tokens
                          call(2, 1000, 50, 0.5), call(None, 30, 3, 0.003)])
    one = dataset_card(storage, 1)["llm"]
    calls = one["project_calls"]
    assert (calls["calls"], calls["errors"]) == (3, 1)
    assert (calls["prompt_tokens"], calls["completion_tokens"], calls["tokens"]) == (300, 12, 312)
    assert calls["cost_usd"] == pytest.approx(0.03)
    assert "this project" in calls["scope"]
    everything = one["all_projects"]
    assert (everything["calls"], everything["tokens"]) == (5, 312 + 1050 + 33)
    assert everything["cost_usd"] == pytest.approx(0.533)
    assert one["project"]["calls"] == 0  # no stored LLM label in project 1
    two = dataset_card(storage, 2)["llm"]["project_calls"]
    assert (two["calls"], two["tokens"], two["cost_usd"]) == (1, 1050, pytest.approx(0.5))

def test_unknown_and_unsupported_projects(storage: Storage) -> None:
    with pytest.raises(UnknownProject):
        prepare_export(storage, 9)
    with storage.write() as tx:
        record_project(tx, 2, label_config="<View><Image name='i' value='$i'/></View>")
    with pytest.raises(UnsupportedConfig):
        prepare_export(storage, 2)


def test_card_sums_the_stored_llm_usage_once_on_the_export_read(storage: Storage) -> None:
    """The export's read adds up the stored LLM labels' usage, and the card takes that sum
    instead of reading every label again; both ways give the same figures."""
    import dataclasses

    new_project(storage, n_tasks=3)
    with storage.write() as tx:
        tx.save_llm_labels([
            LlmLabel(1, 100_000 + i, "llm-v1", ["negative"], None, 0.8, "logprobs",
                     usage={"calls": 1, "prompt_tokens": 100 + i, "completion_tokens": 5,
                            "cost_usd": 0.01, "cached_responses": i % 2})
            for i in range(3)])
    ex = prepare_export(storage, 1)
    assert ex.llm_usage is not None and ex.llm_usage["prompt_tokens"] == 303
    once = dataset_card(storage, 1, export=ex)["llm"]["project"]
    again = dataset_card(storage, 1, export=dataclasses.replace(ex, llm_usage=None))
    assert once == again["llm"]["project"]
    assert (once["calls"], once["tokens"], once["cached_responses"]) == (3, 318, 1)
