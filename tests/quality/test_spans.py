"""The quality report of a span (NER) project, from storage through the label layer: pairwise span
F1 (exact and overlap) and its per-label figures worked out by hand, token-level kappa and alpha
checked against scikit-learn and krippendorff on an independent token view, and the LLM's and the
model's span precision / recall / F1 against the human consensus (the one rule: latest vote per
annotator, most votes, ties to the latest)."""

from __future__ import annotations

import re
from dataclasses import replace

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from labelloop.events.projects import record_project
from labelloop.quality import project_quality, quality_from_labels
from labelloop.quality.data import read_project_labels
from labelloop.storage.base import Storage
from labelloop.storage.records import Annotation, Prediction
from labelloop.storage.records_llm import LlmLabel
from tests.predict.spans_seed import NER_CONFIG

T = {
    1: "Anna met Bob in Paris.",
    2: "🙂 Acme hired Carl.",
    3: "Nothing here.",
    4: "Dana in Oslo.",
    5: "Eve.",
}
Sp = tuple[int, int, str]
ANNA, BOB, PARIS = (0, 4, "PER"), (9, 12, "PER"), (16, 21, "LOC")
ACME, CARL, CAR = (2, 6, "ORG"), (13, 17, "PER"), (13, 16, "PER")
DANA, OSLO, EVE = (0, 4, "PER"), (8, 12, "LOC"), (0, 3, "PER")
# (annotation id, task, annotator, spans, updated_at)
HUMAN: list[tuple[int, int, int, list[Sp], str]] = [
    (1, 1, 1, [ANNA, BOB, PARIS], "2026-01-01T00:00:01"),
    (2, 1, 2, [ANNA, BOB, (16, 21, "ORG")], "2026-01-01T00:00:02"),
    (3, 1, 3, [ANNA, BOB, PARIS], "2026-01-01T00:00:03"),
    (4, 2, 1, [ACME, CARL], "2026-01-01T00:00:01"),
    (5, 2, 2, [ACME, CAR], "2026-01-01T00:00:02"),  # a tie, broken by the latest vote
    (6, 3, 1, [], "2026-01-01T00:00:01"),
    (7, 3, 2, [], "2026-01-01T00:00:02"),  # both say: no entity
    (8, 4, 1, [DANA, OSLO], "2026-01-01T00:00:01"),
    (10, 5, 1, [EVE], "2026-01-01T00:00:01"),
]


def region(text: str, span: Sp) -> dict:
    start, end, label = span
    return {"from_name": "ner", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]}}


def stored_spans(spans: list[Sp], score: float = 0.8) -> dict:
    return {"spans": [{"start": s, "end": e, "label": lab, "score": score}
                      for s, e, lab in spans], "dropped": []}


def seed(storage: Storage) -> None:
    with storage.write() as tx:
        record_project(tx, 1, label_config=NER_CONFIG)
        tx.upsert_tasks(1, [{"id": i, "data": {"text": t}} for i, t in T.items()])
        anns = [Annotation(aid, task, 1, user, [region(T[task], s) for s in spans], False, False,
                           None, at) for aid, task, user, spans, at in HUMAN]
        off_text = {"from_name": "ner", "to_name": "text", "type": "labels",
                    "value": {"start": 8, "end": 40, "labels": ["LOC"]}}
        anns.append(Annotation(9, 4, 1, 2, [off_text], False, False, None, "2026-01-01"))
        tx.upsert_annotations(anns, source="webhook")
        tx.save_llm_labels([
            LlmLabel(1, tid, "llm-ner", sorted({s[2] for s in spans}), None, 0.8, "logprobs",
                     spans=stored_spans(spans)) for tid, spans in [
                (1, [ANNA, PARIS]), (2, [ACME, CARL]), (3, []), (4, [OSLO, (0, 4, "ORG")]),
                (5, [(0, 99, "PER")])]])  # task 5: a span past the text is not scored
        lies = region(T[2], CAR)
        lies["value"]["text"] = "Carl"
        tx.save_predictions([
            Prediction(1, 1, "model", "labelloop-1", [region(T[1], s) for s in
                                                      (ANNA, BOB, PARIS)], 0.3),
            Prediction(2, 1, "model", "labelloop-1", [lies], 0.3)])


@pytest.fixture
def report(storage: Storage) -> dict:
    seed(storage)
    return project_quality(storage, 1)


def test_pairwise_span_f1_exact_and_overlap_by_hand(report: dict) -> None:
    a = report["agreement"]
    assert report["task_type"] == "text_spans" and a["measure"] == "span_f1"
    assert report["n_human_labelled"] == 5 and report["labels"] == ["PER", "LOC", "ORG"]
    pairs = {(p["a"], p["b"]): (p["n"], p["f1"]) for p in a["pairwise_span_f1"]}
    # u1-u2 on tasks 1-3 (task 4: u2's region is off the text, the annotation is skipped):
    # task 1 tp 2 fp 1 fn 1, task 2 tp 1 fp 1 fn 1, task 3 empty on both -> 6 / 10
    assert pairs[(1, 2)] == (3, pytest.approx(0.6))
    assert pairs[(1, 3)] == (1, pytest.approx(1.0))
    assert pairs[(2, 3)] == (1, pytest.approx(4 / 6))
    overlap = {(p["a"], p["b"]): p["f1"] for p in a["pairwise_span_f1_overlap"]}
    assert overlap[(1, 2)] == pytest.approx(0.8)  # Carl ~ Car; Paris LOC vs ORG still not
    per = a["per_label"]
    # pooled over the three pairs: PER tp 2+2+2, Carl/Car unmatched twice; LOC Paris matched
    # by u1-u3 only (2 unmatched); ORG Acme matched by u1-u2, u2's Paris ORG unmatched twice
    assert per["PER"]["f1"] == pytest.approx(12 / 14)
    assert per["LOC"]["f1"] == pytest.approx(2 / 4)
    assert per["ORG"]["f1"] == pytest.approx(2 / 4)
    assert per["PER"]["f1_overlap"] == pytest.approx(1.0)
    assert report["skipped"]["annotation_invalid_span"] == 1
    assert report["consensus"] == {"n_tasks": 5, "tie_broken": 1}


TOKEN = re.compile(r"\w+|[^\w\s]")


def token_labels(text: str, spans: list[Sp]) -> list[str]:
    out = []
    for m in TOKEN.finditer(text):
        covering = sorted({lab for s, e, lab in spans if s < m.end() and m.start() < e})
        out.append(" + ".join(covering) or "O")
    return out


def test_token_kappa_and_alpha_match_independent_implementations(report: dict) -> None:
    latest = {(task, user): spans for _, task, user, spans, _ in HUMAN}
    both = [t for t in T if (t, 1) in latest and (t, 2) in latest]
    u1 = [x for t in both for x in token_labels(T[t], latest[(t, 1)])]
    u2 = [x for t in both for x in token_labels(T[t], latest[(t, 2)])]
    kappa = {(p["a"], p["b"]): p["kappa"] for p in report["agreement"]["tokens"]
             ["pairwise_cohen_kappa"]}
    assert kappa[(1, 2)] == pytest.approx(cohen_kappa_score(u1, u2))
    units = [(t, i) for t in T for i in range(len(TOKEN.findall(T[t])))]
    names = sorted({x for spans in latest.values() for t in T
                    for x in token_labels(T[t], spans)} | {"O"})
    data = np.full((3, len(units)), np.nan)
    for (t, user), spans in latest.items():
        labels = token_labels(T[t], spans)
        for j, (ut, i) in enumerate(units):
            if ut == t:
                data[user - 1, j] = names.index(labels[i])
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert report["agreement"]["tokens"]["krippendorff_alpha"] == pytest.approx(expected)


def test_llm_and_model_span_prf_against_the_consensus_per_label(report: dict) -> None:
    llm = report["llm"]
    # consensus: task 1 u1's (2 votes of 3), task 2 u2's (tie, latest), 3 empty, 4 and 5 u1's;
    # the LLM's task 5 span is past the text: not scored
    assert (llm["n"], llm["coverage"]) == (4, pytest.approx(0.8))
    # task 1: Anna, Paris tp, Bob fn; 2: Acme tp, Carl fp, Car fn; 4: Oslo tp, Dana ORG fp,
    # Dana PER fn
    assert (llm["exact"]["tp"], llm["exact"]["fp"], llm["exact"]["fn"]) == (4, 2, 3)
    assert llm["exact"]["precision"] == pytest.approx(4 / 6)
    assert llm["exact"]["recall"] == pytest.approx(4 / 7)
    assert llm["exact"]["f1"] == pytest.approx(8 / 13)
    assert llm["overlap"]["f1"] == pytest.approx(10 / 13)  # Carl ~ Car
    per = llm["per_label"]
    assert per["PER"]["f1"] == pytest.approx(2 / 6)  # Anna; Carl fp; Bob, Car, Dana fn
    assert per["LOC"]["f1"] == pytest.approx(1.0)  # Paris, Oslo
    assert per["ORG"]["precision"] == pytest.approx(0.5) and per["ORG"]["recall"] == 1.0
    assert report["skipped"]["llm_invalid_span"] == 1
    model = report["model"]
    assert model["n"] == 1 and model["exact"]["f1"] == 1.0  # task 2's region lies: skipped
    assert model["versions"] == ["labelloop-1"] and llm["versions"] == ["llm-ner"]
    assert report["skipped"]["model_invalid_span"] == 1


def test_quality_endpoint_answers_the_span_report(storage: Storage, client_factory) -> None:
    seed(storage)
    body = client_factory().get("/api/projects/1/quality").json()
    assert isinstance(body.pop("computed_at"), float)
    assert body == project_quality(storage, 1)
    assert body["agreement"]["pairwise_span_f1"][0] == {"a": 1, "b": 2, "n": 3,
                                                        "f1": pytest.approx(0.6)}


def test_a_machine_with_nothing_to_compare_has_no_figures(storage: Storage) -> None:
    seed(storage)
    with storage.read() as tx:
        data = read_project_labels(tx, 1)
    q = quality_from_labels(replace(data, llm={}))  # no LLM label at all
    assert q["llm"]["n"] == 0
    assert q["llm"]["exact"]["f1"] is None and q["llm"]["per_label"]["PER"]["precision"] is None
    assert q["model"]["exact"]["f1"] == 1.0  # task 1's prediction is still there
