"""A span (NER) project in the dashboard, in a real headless Chromium against a real uvicorn server:
the queue head shows each task's text with its pre-label spans marked (the text read back from
the page is the task's, no markup of the text reaches the DOM), and the span quality figures are
the service's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labelloop.api.app import Overrides, create_app
from labelloop.quality import project_quality
from labelloop.settings import Settings
from labelloop.storage.base import Storage
from labelloop.storage.records import Annotation
from labelloop.storage.records_llm import LlmLabel
from labelloop.storage.sql_queue import QueueEntry
from tests.dashboard.browser import Chromium, LiveServer, Page, chromium_path
from tests.predict.spans_seed import EMOJI, TEXTS, seed_ner, where
from tests.quality.test_spans import ACME, ANNA, CARL, HUMAN, PARIS, T, region, stored_spans

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
READY = "document.body && document.body.dataset.state !== 'loading' && document.body.dataset.state"
OFFSET = 100  # the annotated tasks' ids: 101..105

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium")


def seed(storage: Storage) -> None:
    seed_ner(storage)  # tasks 1..6, unlabelled, with stored pre-labels
    with storage.write() as tx:
        tx.upsert_tasks(1, [{"id": OFFSET + i, "data": {"text": t}} for i, t in T.items()])
        tx.upsert_annotations([
            Annotation(OFFSET + aid, OFFSET + task, 1, user,
                       [region(T[task], s) for s in spans], False, False, None, at)
            for aid, task, user, spans, at in HUMAN], source="webhook")
        tx.save_llm_labels([  # on two annotated tasks: the LLM's figures are not trivial
            LlmLabel(1, OFFSET + tid, "llm-ner", sorted({x[2] for x in spans}), None, 0.8,
                     "logprobs", spans=stored_spans(spans))
            for tid, spans in [(1, [ANNA, PARIS]), (2, [ACME, CARL])]])
        tx.save_queue([QueueEntry(1, "q1", tid, r, r / 10, "uncertainty")
                       for r, tid in enumerate([*TEXTS, *(OFFSET + i for i in T)])])
        tx.save_project(1, published_version="q1", model_version="q1", title="NER")


@pytest.fixture
def page(storage: Storage, settings: Settings) -> Iterator[tuple[Page, str]]:
    seed(storage)
    app = create_app(settings, Overrides(storage=storage, start_worker=False))
    with LiveServer(app) as server, Chromium() as browser:
        yield browser.page(), server.url


def _figure(page: Page, name: str) -> str:
    return page.evaluate(f"document.querySelector('[data-figure=\"{name}\"]').textContent")


def test_the_queue_head_highlights_prelabel_spans_and_span_quality_is_shown(
        page: tuple[Page, str], storage: Storage) -> None:
    p, url = page
    p.navigate(f"{url}/")
    assert p.wait_for(READY) == "ready", p.evaluate("document.getElementById('error').textContent")
    rows = p.evaluate(
        "[...document.querySelectorAll('[data-table=queue] tbody tr')].map(r => {"
        " const td = r.cells[4]; return {task: +r.dataset.task, text: td.textContent,"
        " source: td.dataset.prelabel, tags: [...td.querySelectorAll('*')].map(e => e.tagName),"
        " marks: [...td.querySelectorAll('mark')].map(m => [m.textContent, m.dataset.label])}})")
    shown = {r["task"]: r for r in rows}
    assert sorted(shown) == [*TEXTS]  # the annotated tasks are not in the head
    for tid, text in TEXTS.items():
        assert shown[tid]["text"] == text
        assert set(shown[tid]["tags"]) <= {"MARK"}  # '<b>Eve</b>' in task 2 stays text
    assert shown[1]["marks"] == [["Anna", "PER"], ["Paris", "LOC"], ["Acme", "ORG"]]
    assert shown[1]["source"] == "llm" and shown[2]["source"] == "model"
    assert shown[2]["marks"] == [["Rome", "LOC"]]
    assert shown[3]["marks"] == [["Acme", "ORG"], ["Carl", "PER"]]
    assert shown[4]["marks"] == [] and shown[6]["marks"] == []
    # the label is drawn next to the span by CSS, from data-label
    after = p.evaluate("getComputedStyle(document.querySelector('td.spans mark'), '::after')"
                       ".content")
    assert after == '"PER"'
    left = p.evaluate("(() => { const m = document.querySelector('[data-task=\"1\"] mark');"
                      " const r = document.createRange(); r.setStart(m.closest('td'), 0);"
                      " r.setEnd(m, 0); return r.toString().length; })()")
    assert left == len(EMOJI[:where(EMOJI, "Anna")[0]].encode("utf-16-le")) // 2  # DOM counts UTF-16

    q = project_quality(storage, 1)
    a = q["agreement"]
    assert float(_figure(p, "span-f1")) == pytest.approx(a["span_f1"]["exact"], abs=5e-3)
    assert float(_figure(p, "span-f1-overlap")) == pytest.approx(a["span_f1"]["overlap"],
                                                                 abs=5e-3)
    assert float(_figure(p, "token-alpha")) == pytest.approx(a["tokens"]["krippendorff_alpha"],
                                                             abs=5e-3)
    # the LLM on tasks 101 (Anna, Paris of Anna, Bob, Paris) and 102 (Acme, Carl of Acme, Car)
    assert q["llm"]["n"] == 2 and q["llm"]["exact"]["f1"] == pytest.approx(6 / 9)
    assert float(_figure(p, "llm-span-f1")) == pytest.approx(q["llm"]["exact"]["f1"], abs=5e-3)
    assert _figure(p, "llm-span-recall") == f"{100 * 3 / 5:.1f} %"
    assert q["model"]["n"] == 0 and _figure(p, "model-span-f1") == "–"  # nothing to compare
    pairs = p.evaluate("[...document.querySelectorAll('[data-span-pair]')].length")
    assert pairs == 3 * 3
    labels = p.evaluate("[...document.querySelectorAll('[data-table=span-machines] tbody tr')]"
                        ".map(r => [r.dataset.label, r.cells[3].textContent])")
    assert labels == [[lab, f"{q['llm']['per_label'][lab]['f1']:.2f}"] for lab in q["labels"]]
    assert "Review list" not in p.evaluate("document.body.textContent")
    assert p.problems() == []
    shot = p.screenshot(ARTIFACTS / "dashboard-spans.png")
    assert shot.stat().st_size > 20_000
