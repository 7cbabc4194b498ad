"""The export's ``accepted`` column and the card's ``accepted`` section (LABELLOOP_ACCEPT_PRECISION):
true exactly where the auto-accept rule accepts a machine label, never on a human-labelled row;
the same over HTTP and from ``labelloop export``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labelloop.cli import export as export_cli
from labelloop.cli.main import main
from labelloop.events.projects import record_project
from labelloop.quality.dataset import prepare_export
from labelloop.quality.dataset_card import dataset_card
from labelloop.storage.base import Storage
from labelloop.storage.sql_queue import QueueEntry
from tests.conftest import CONFIG, make_settings
from tests.predict.spans_seed import seed_ner
from tests.quality.seed import LABELS, annotation, llm_label

N, N_HUMAN = 400, 240


def truth(t: int) -> str:
    return LABELS[t % 3]


def sure(t: int) -> bool:
    """The LLM is right and sure (0.95) on most tasks; on every 5th it is wrong and unsure."""
    return t % 5 != 0


def seed(storage: Storage, *, audited: bool = True) -> None:
    """Tasks 1..240 human-labelled, all of them drawn for the audit (or none): the rule's
    evidence (the machine labels of audited tasks are made without their human label, the
    others' out of fold)."""
    with storage.write() as tx:
        record_project(tx, 1, label_config=CONFIG, title="accept")
        tx.upsert_tasks(1, [{"id": t, "data": {"text": f"text {t}"}} for t in range(1, N + 1)])
        tx.upsert_annotations([annotation(t, t, 1, truth(t)) for t in range(1, N_HUMAN + 1)],
                              source="resync")
        tx.save_llm_labels([llm_label(t, truth(t) if sure(t) else LABELS[(t + 1) % 3],
                                      0.95 if sure(t) else 0.6) for t in range(1, N + 1)])
        tx.save_queue([QueueEntry(1, "q-1", t, t, 0.0, "audit", audited, None)
                       for t in range(1, N_HUMAN + 1)])


def test_accepted_rows_are_the_sure_machine_labels_and_never_a_human_one(
        storage: Storage) -> None:
    seed(storage)
    export = prepare_export(storage, 1, accept_precision=0.9)
    rows = list(export.rows())
    accepted = {r.task_id for r in rows if r.accepted}
    # the LLM's sure labels are right and its unsure ones wrong: the rule accepts exactly the
    # sure ones among the tasks nobody labelled
    assert accepted == {t for t in range(N_HUMAN + 1, N + 1) if sure(t)}
    assert all(r.source == "llm" and r.label == truth(r.task_id) for r in rows if r.accepted)
    assert export.accepted is not None and export.accepted.rule is not None
    assert {c.state for c in export.accepted.rule.classes} == {"accepting"}
    # a stricter target than the evidence can show (48 of 48 right per class at best): none
    strict = prepare_export(storage, 1, accept_precision=0.99)
    assert not any(r.accepted for r in strict.rows())
    assert not any(r.accepted for r in prepare_export(storage, 1).rows())  # off by default


def test_accepted_over_http_and_from_the_cli(storage: Storage, client_factory, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seed(storage)
    want = {t for t in range(N_HUMAN + 1, N + 1) if sure(t)}
    on = client_factory(accept_precision=0.9).get("/api/projects/1/dataset")
    got = [json.loads(line) for line in on.text.splitlines()]
    assert {r["task_id"] for r in got if r["accepted"]} == want
    off = client_factory().get("/api/projects/1/dataset", params={"format": "csv"})
    assert "true" not in {line.rsplit(",", 1)[1] for line in off.text.splitlines()[1:]}
    monkeypatch.setattr(export_cli, "settings_from",
                        lambda _args: make_settings(tmp_path, accept_precision=0.9))
    out = tmp_path / "d.jsonl"
    assert main(["export", "--project", "1", "--output", str(out)]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert {r["task_id"] for r in lines if r["accepted"]} == want


def test_without_an_audit_the_human_labels_out_of_fold_are_the_evidence(
        storage: Storage) -> None:
    seed(storage, audited=False)
    export = prepare_export(storage, 1, accept_precision=0.9)
    a, m = export.arrays, export.machine
    assert a is not None and m is not None and not a.audit.any()
    # out of fold, every human-labelled task has the machines' label made without its own
    # label: the LLM's (wrong on every 5th task, as no fit can know there)
    assert [LABELS[c] for c in m.machine[:N_HUMAN]] == [
        truth(t) if sure(t) else LABELS[(t + 1) % 3] for t in range(1, N_HUMAN + 1)]
    accepted = {r.task_id for r in export.rows() if r.accepted}
    assert accepted == {t for t in range(N_HUMAN + 1, N + 1) if sure(t)}
    assert {c.state for c in export.accepted.rule.classes} == {"accepting"}  # type: ignore[union-attr]


def test_the_card_says_what_was_accepted_and_what_the_audit_measured(
        storage: Storage, client_factory) -> None:
    seed(storage)
    card = dataset_card(storage, 1, export=prepare_export(storage, 1, accept_precision=0.9))
    acc = card["accepted"]
    sure_audited = sum(sure(t) for t in range(1, N_HUMAN + 1))
    assert acc["enabled"] is True and acc["target"] == 0.9
    assert acc["count"] == sum(sure(t) for t in range(N_HUMAN + 1, N + 1))
    assert set(acc["per_class"]) == set(LABELS)
    for c in acc["per_class"].values():
        assert c["state"] == "accepting" and 0.6 < c["threshold"] <= 0.95
    # the audited tasks the rule accepts: the LLM's sure labels, all right
    audit = acc["audit"]
    assert (audit["n"], audit["right"], audit["precision"]) == (sure_audited, sure_audited, 1.0)
    assert 0.97 < audit["low"] < 1.0 and audit["high"] == pytest.approx(1.0)
    assert sum(c["audit"]["n"] for c in acc["per_class"].values()) == sure_audited
    served = client_factory(accept_precision=0.9).get("/api/projects/1/dataset",
                                                      params={"card": 1}).json()
    assert served["accepted"] == json.loads(json.dumps(acc))
    off = dataset_card(storage, 1)["accepted"]
    assert off["enabled"] is False and off["count"] == 0
    assert {c["state"] for c in off["per_class"].values()} == {"off"}


def test_a_span_project_accepts_nothing_and_says_why(storage: Storage) -> None:
    seed_ner(storage)
    export = prepare_export(storage, 1, accept_precision=0.9)
    assert not any(r.accepted for r in export.rows())
    acc = dataset_card(storage, 1, export=export)["accepted"]
    assert acc["enabled"] is False and acc["count"] == 0 and "span" in acc["reason"]
