"""NER (``<Labels>`` on ``<Text>``) end to end: a real Label Studio 1.23.2, ``labelloop serve`` and
the loopback LLM server (tests/fakes/llm_server.py, its entity mode).

The LLM names entities as ``(surface, label)`` (never offsets); the texts hold an emoji before an
entity (two UTF-16 units each: a UTF-16 offset would be off by one per emoji), a repeated surface
form, an entity absent from the text and a label outside the config. What Label Studio holds is
checked against offsets this file computes on its own (``str.find`` in reading order, code points:
Label Studio's unit, docs/label-studio-findings.md fact 15):

- ``test_ner_project_prelabels_annotations_retrain_and_queue``: the published queue's
  predictions read back through Label Studio's API hold exactly the LLM's entities at those
  offsets (``text[start:end] == value.text``); span annotations made through Label Studio's API
  reach labelloop by webhook (stored before the call returns) and, with the webhook switched off,
  by the resync Label Studio's "train" starts; the 10th annotation retrains the token model
  (its stored span predictions valid and close to the truth) and publishes a new version whose
  scores reorder what Label Studio serves.
- ``test_retrieve_predictions_answers_spans``: Label Studio's "Retrieve Predictions" asks
  ``/predict`` (no Label Studio API key: no queue), which answers the same spans.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from tests.e2e.ls_harness import LabelloopProcess, LabelStudioServer
from tests.e2e.test_active_learning_e2e import idle, published
from tests.e2e.test_foundation_e2e import connect, storage_of, wait_for
from tests.fakes.llm_server import FakeLLM

from labelloop.llm.span_store import stored_dropped, stored_spans
from labelloop.storage.base import Storage

LABELS = ("PER", "LOC", "ORG")
CONFIG = ('<View><Labels name="label" toName="text">'
          + "".join(f'<Label value="{x}"/>' for x in LABELS)
          + '</Labels><Text name="text" value="$text"/></View>')
PEOPLE = ["Ana Lopez", "Ben Okafor", "Chen Wei", "Dara Singh", "Eli Moreau", "Fay Nakamura"]
CITIES = ["Lisbon", "Nairobi", "Osaka", "Quito", "Tromso", "Hanoi"]
ORGS = ["Acme", "Globex", "Initech", "Umbrella", "Soylent", "Vandelay"]
EMOJI = "Trip report 😀🎉: Ana Lopez landed in Lisbon and met Globex."
REPEATED = "😀 Paris is busy, Paris is loud, and Ben Okafor still loves Paris."
ABSENT = "Dara Singh joined Initech in Quito."
Entities = list[tuple[str, str]]
SPECIAL: dict[str, Entities] = {
    EMOJI: [("Ana Lopez", "PER"), ("Lisbon", "LOC"), ("Globex", "ORG")],
    REPEATED: [("Paris", "LOC"), ("Paris", "LOC"), ("Ben Okafor", "PER"), ("Paris", "LOC")],
    # "Berlin" is not in the text; "CITY" is not a label of the config: both dropped
    ABSENT: [("Dara Singh", "PER"), ("Berlin", "LOC"), ("Initech", "ORG"), ("Quito", "CITY")],
    "Nothing to see here, just the weather.": [],
}
Spans = list[tuple[int, int, str]]
Llm = tuple[FakeLLM, dict[str, Entities]]
StartLabelloop = Callable[..., LabelloopProcess]


def corpus(n: int) -> dict[str, Entities]:
    """``n`` generated sentences and the specials: text -> the LLM's entities, reading order."""
    out: dict[str, Entities] = {}
    for i in range(n):
        p, c, o = PEOPLE[i % 6], CITIES[(i // 6 + i) % 6], ORGS[(i * 5 + 1) % 6]
        out[[f"{p} flew to {c} for a meeting at {o} (note {i}).",
             f"{o} opened an office in {c}, run by {p}; item {i}.",
             f"In {c}, {p} signed with {o} on day {i}."][i % 3]] = (
            [(p, "PER"), (c, "LOC"), (o, "ORG")] if i % 3 == 0 else
            [(o, "ORG"), (c, "LOC"), (p, "PER")] if i % 3 == 1 else
            [(c, "LOC"), (p, "PER"), (o, "ORG")])
    return out | SPECIAL


def expected(text: str, entities: Entities) -> Spans:
    """The spans the entities must give, found here by plain ``str.find`` in reading order
    (code points); absent surfaces and labels outside the config give none."""
    after: dict[str, int] = {}
    out: set[tuple[int, int, str]] = set()
    for surface, label in entities:
        i = text.find(surface, after.get(surface, 0))
        if i < 0 or label not in LABELS:
            continue
        out.add((i, i + len(surface), label))
        after[surface] = i + len(surface)
    return sorted(out)


def region(text: str, span: tuple[int, int, str]) -> dict[str, Any]:
    start, end, label = span
    return {"from_name": "label", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]}}


def spans_of(text: str, result: list[dict[str, Any]]) -> Spans:
    """The spans of a Label Studio result, each region checked: in range, ``value.text`` the text
    it covers, labels of the config, no duplicates."""
    out: Spans = []
    for r in result:
        assert r["from_name"] == "label" and r["to_name"] == "text" and r["type"] == "labels", r
        v = r["value"]
        assert 0 <= v["start"] < v["end"] <= len(text), (text, r)
        assert text[v["start"]:v["end"]] == v["text"], (text, r)
        assert v["labels"] and set(v["labels"]) <= set(LABELS), r
        out.extend((v["start"], v["end"], label) for label in v["labels"])
    assert len(out) == len(set(out)), result
    return sorted(out)


def utf16(text: str, i: int) -> int:
    return len(text[:i].encode("utf-16-le")) // 2


def test_the_texts_test_what_they_claim() -> None:
    """(Not e2e: runs in ``make test``.) The specials do put an entity after an emoji (UTF-16 offsets differ), repeat a surface
    and name one absent from the text; the generated texts are distinct."""
    spans = expected(EMOJI, SPECIAL[EMOJI])
    assert [EMOJI[s:e] for s, e, _ in spans] == ["Ana Lopez", "Lisbon", "Globex"]
    assert all(utf16(EMOJI, s) == s + 2 for s, _, _ in spans)
    assert [s for s, _, _ in expected(REPEATED, SPECIAL[REPEATED])] == [2, 17, 36, 59]
    assert len(expected(ABSENT, SPECIAL[ABSENT])) == 2
    assert len(corpus(36)) == 40


def predictions(ls: LabelStudioServer, pid: int, version: str) -> dict[int, dict[str, Any]]:
    """Each task's prediction of ``version`` as Label Studio holds it (read through its API)."""
    out = {}
    for task in ls.gateway.iter_tasks(pid, page_size=500):
        for p in task["predictions"]:
            if p["model_version"] == version:
                out[task["id"]] = p
    return out


def ner_project(ls: LabelStudioServer, data: dict[str, Entities],
                title: str) -> tuple[int, dict[int, str]]:
    """A project with :data:`CONFIG` and one task per text: its id, and task id -> text."""
    auth = {"Authorization": f"Token {ls.token}"}
    project = httpx.post(f"{ls.url}/api/projects/", headers=auth, timeout=60,
                         json={"title": title, "label_config": CONFIG}).json()
    answer = httpx.post(f"{ls.url}/api/projects/{project['id']}/import?return_task_ids=true",
                        headers=auth, timeout=60, json=[{"data": {"text": t}} for t in data])
    ids = sorted(answer.json()["task_ids"])
    assert len(ids) == len(data)
    return int(project["id"]), dict(zip(ids, data))


@pytest.fixture
def llm() -> Iterator[Llm]:
    data = corpus(36)
    with FakeLLM(entities=data, seed=5) as server:
        yield server, data


def llm_env(server: FakeLLM) -> dict[str, str]:
    return {"OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "sk-e2e-test-key",
            "LABELLOOP_LLM_MODEL": "fake-llm"}


def stored_human_spans(st: Storage, pid: int, text_of: dict[int, str]) -> dict[int, Spans]:
    with st.read() as tx:
        return {a.id: spans_of(text_of[a.task_id], a.result) for a in tx.get_annotations(pid)}


def n_labeled(st: Storage, pid: int) -> int | None:
    """The labeled tasks the published version was trained on."""
    with st.read() as tx:
        project = tx.get_project(pid)
        version = project.published_version if project else None
        mv = tx.get_model_version(pid, version) if version else None
    return int(mv.lineage["n_labeled"]) if mv else None


def check_prelabels(ls: LabelStudioServer, pid: int, version: str, text_of: dict[int, str],
                    data: dict[str, Entities]) -> dict[int, float]:
    """Every task's prediction of ``version`` holds exactly the expected spans; the scores."""
    preds = predictions(ls, pid, version)
    assert set(preds) == set(text_of), f"tasks without a {version} prediction"
    for tid, p in preds.items():
        text = text_of[tid]
        assert spans_of(text, p["result"]) == expected(text, data[text]), (tid, text, p)
        assert p["score"] is not None
    return {tid: float(p["score"]) for tid, p in preds.items()}


@pytest.mark.e2e
def test_ner_project_prelabels_annotations_retrain_and_queue(
        label_studio: LabelStudioServer, labelloop_process: StartLabelloop, llm: Llm) -> None:
    server, data = llm
    pid, text_of = ner_project(label_studio, data, "e2e NER")
    proc = connect(label_studio, labelloop_process, pid, LABELLOOP_BATCH_SIZE="10",
                   LABELLOOP_RETRAIN_EVERY_N="10", **llm_env(server))
    status = httpx.get(f"{proc.url}/api/projects/{pid}/status").json()
    assert status["supported"], status
    st = storage_of(proc)
    try:
        # 1. the LLM's entities located by labelloop, dropped ones kept with their reason
        def all_prelabeled() -> bool:
            with st.read() as tx:
                return len(tx.get_llm_labels(pid)) == len(text_of)
        wait_for("every task pre-labeled", all_prelabeled, timeout=90)
        with st.read() as tx:
            rows = {text_of[t]: r for t, r in tx.get_llm_labels(pid).items()}
        for text, row in rows.items():
            got = [(s.start, s.end, s.label) for s in stored_spans(row) or []]
            assert got == expected(text, data[text]), text
        assert sorted((d.text, d.reason) for d in stored_dropped(rows[ABSENT])) == [
            ("Berlin", "not_found"), ("Quito", "unknown_label")]

        # 2. published: Label Studio's API holds those spans at the right offsets
        wait_for("jobs to settle", lambda: idle(st), timeout=90)
        v1 = published(st, pid)
        assert v1 and label_studio.gateway.get_project(pid)["model_version"] == v1
        scores1 = check_prelabels(label_studio, pid, v1, text_of, data)

        # 3. annotate what Label Studio serves: its order is labelloop's queue; each span
        #    annotation is in labelloop's database by webhook before the call returns
        with st.read() as tx:
            ranked1 = [e.task_id for e in tx.get_queue(pid, v1)]
        served, made = [], {}
        for _ in range(10):
            task = label_studio.gateway.next_task(pid)
            assert task is not None
            text = text_of[task["id"]]
            gold = expected(text, data[text])
            a = label_studio.sdk.annotations.create(
                id=task["id"], result=[region(text, s) for s in gold])
            made[a.id] = gold
            served.append(task["id"])
            assert stored_human_spans(st, pid, text_of)[a.id] == gold
        assert served == ranked1[:10]
        with st.read() as tx:
            assert all([h.source for h in tx.annotation_history(aid)] == ["webhook"]
                       for aid in made)

        # 4. the 10th annotation retrains at once; the new version reorders the queue
        v2 = wait_for("the retrain", lambda: (v := published(st, pid)) != v1 and v, timeout=90)
        wait_for("jobs to settle", lambda: idle(st), timeout=90)
        with st.read() as tx:
            lineage = tx.get_model_version(pid, v2).lineage  # type: ignore[union-attr]
            ranked2 = [e.task_id for e in tx.get_queue(pid, v2)]
        assert lineage["n_labeled"] == 10 and lineage["task_type"] == "text_spans"
        # the token model trained on the 10 human span sets and predicted every other task:
        # valid regions, and it learned the entities (exact-match micro span-F1 vs the truth)
        assert lineage["model"]["n_train"] == 10
        with st.read() as tx:
            model = tx.latest_predictions(pid, ranked2, source="model")
        assert set(model) == set(ranked2) and {p.model_version for p in model.values()} == {v2}
        hits = [(set(spans_of(text_of[t], p.result)), set(expected(text_of[t], data[text_of[t]])))
                for t, p in model.items()]
        tp = sum(len(got & want) for got, want in hits)
        wrong = sum(len(got ^ want) for got, want in hits)
        assert 2 * tp / (2 * tp + wrong) >= 0.7, hits
        assert set(ranked2) == set(text_of) - set(served)
        assert label_studio.gateway.get_project(pid)["model_version"] == v2
        rest = {t: text_of[t] for t in ranked2}
        scores2 = check_prelabels(label_studio, pid, v2, rest, data)
        # Label Studio serves ascending scores: v2's scores give labelloop's new order,
        # which is not v1's order of the same tasks
        assert sorted(rest, key=lambda t: scores2[t]) == ranked2
        assert sorted(rest, key=lambda t: scores1[t]) != ranked2
        assert [t for t in ranked1 if t in rest] != ranked2

        # 5. with the webhook off, a span annotation reaches labelloop by the resync that
        #    Label Studio's "train" starts, and the retrain that follows counts it
        hook = next(h for h in label_studio.sdk.webhooks.list(project=pid)
                    if h.url == f"{proc.url}/webhook")
        label_studio.sdk.webhooks.update(id=hook.id, is_active=False)
        tid = ranked2[0]
        gold = expected(text_of[tid], data[text_of[tid]])
        late = label_studio.sdk.annotations.create(
            id=tid, result=[region(text_of[tid], s) for s in gold])
        assert late.id not in stored_human_spans(st, pid, text_of)
        label_studio.sdk.webhooks.update(id=hook.id, is_active=True)
        (backend,) = label_studio.sdk.ml.list(project=pid)
        label_studio.sdk.ml.train(id=backend.id)
        wait_for("the resync", lambda: late.id in stored_human_spans(st, pid, text_of))
        assert stored_human_spans(st, pid, text_of)[late.id] == gold
        with st.read() as tx:
            assert [h.source for h in tx.annotation_history(late.id)] == ["resync"]
        # "train" queues a retrain at once beside the resync, and the resync one more when it
        # finds the annotation: the first may not count it yet, the second does
        wait_for("a retrain counting the resynced annotation",
                 lambda: n_labeled(st, pid) == 11, timeout=90)
    finally:
        st.close()


@pytest.mark.e2e
def test_retrieve_predictions_answers_spans(
        label_studio: LabelStudioServer, labelloop_process: StartLabelloop, llm: Llm) -> None:
    server, data = llm
    small = {t: data[t] for t in [*list(data)[:4], *SPECIAL]}
    pid, text_of = ner_project(label_studio, small, "e2e NER predict")
    # no Label Studio API key: no resync, no queue; /predict answers from the LLM live
    connect(label_studio, labelloop_process, pid, LABEL_STUDIO_API_KEY="", **llm_env(server))
    label_studio.sdk.actions.create(id="retrieve_tasks_predictions", project=pid,
                                    selected_items={"all": True, "excluded": []})
    got: dict[int, Spans] = {}
    for task in label_studio.gateway.iter_tasks(pid, page_size=500):
        text = task["data"]["text"]
        preds = [p for p in task["predictions"] if str(p["model_version"]).startswith("llm-")]
        assert preds, f"task {task['id']} has no LLM prediction: {task['predictions']}"
        got[task["id"]] = spans_of(text, preds[-1]["result"])
    assert got == {t: expected(text, small[text]) for t, text in text_of.items()}
