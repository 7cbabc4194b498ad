"""The production loop end to end on a real Label Studio 1.23.2 (issue 17).

2,000 Rotten Tomatoes snippets (fresh → positive, rotten → negative, plot → neutral) are posted
to a running labelloop as production traffic, in batches of 100, with a budget of 5 %, in two
halves, with the default deferred decisions: each answer says the items are stored and being
decided, and the ``stream_decide`` job decides them seconds later (the test polls the stored
decisions). After each half: the selected items appear in the Label Studio project as tasks, each
exactly once, carrying its stream key; they are annotated through Label Studio's API with the
gold label; the webhooks make a retrain, which stores a version with a local and a screening
model. The first half is decided before any model (uniform picks), the second by the local
model the first retrain stored, on the items' embeddings. ``POST /classify`` answers with the new version and different
probabilities after the second retrain.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.datasets import rotten_tomatoes
from tests.e2e.ls_harness import choice_result
from tests.e2e.test_foundation_e2e import connect, storage_of, wait_for

from labelloop.storage.base import Storage

pytestmark = pytest.mark.e2e

GOLD = {"fresh": "positive", "rotten": "negative", "plot": "neutral"}
N, BATCH, BUDGET = 2000, 100, 0.05
PROBES = ["A moving, beautifully acted film.", "Dull, overlong and badly written.",
          "A young detective investigates a murder in a small town.",
          "The best thing I have seen this year.", "Nothing works in this mess of a movie."]


def traffic() -> list[dict[str, Any]]:
    """N items with distinct texts (a stream key each) and their gold label."""
    data = rotten_tomatoes(N + 300, seed=17)
    seen: set[str] = set()
    items = []
    for text, label in zip(data.texts, data.labels):
        if text not in seen:
            seen.add(text)
            items.append({"key": f"rt-{len(items)}", "text": text, "gold": GOLD[label]})
    assert len(items) >= N
    return items[:N]


def ls_tasks(label_studio, project_id: int) -> list[dict[str, Any]]:
    return list(label_studio.gateway.iter_tasks(project_id))


def newest(st: Storage, project_id: int) -> tuple[str | None, int]:
    """The newest retrained version and how many labelled tasks it was trained on. (Every
    task of this project is annotated, so its queue is empty and nothing is published: the
    served model is the newest version's.)"""
    with st.read() as tx:
        versions = [v for v in tx.list_model_versions(project_id) if v.kind == "retrain"]
    if not versions:
        return None, 0
    mv = max(versions, key=lambda v: v.created_at)
    return mv.version, int(mv.lineage.get("n_labeled") or 0)


def decided(st: Storage, project_id: int, part: list[dict[str, Any]]) -> list[str] | None:
    """The selected keys of ``part`` in arrival order once every item of it is decided."""
    with st.read() as tx:
        rows = {r.key: r for r in tx.get_stream_items(project_id,
                                                      keys=[it["key"] for it in part])}
    if len(rows) < len(part) or any(r.status == "deciding" for r in rows.values()):
        return None
    return [it["key"] for it in part if rows[it["key"]].selected]


def classify(url: str, project_id: int) -> dict[str, Any]:
    r = httpx.post(f"{url}/api/projects/{project_id}/classify",
                   json={"items": [{"data": {"text": t}} for t in PROBES]}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_stream_to_label_studio_annotate_retrain_classify(label_studio, new_project,
                                                          labelloop_process) -> None:
    items = traffic()
    gold = {it["key"]: it["gold"] for it in items}
    p = new_project(0)
    proc = connect(label_studio, labelloop_process, p.id,
                   LABELLOOP_STREAM_BUDGET=str(BUDGET), LABELLOOP_RETRAIN_EVERY_N="100000",
                   LABELLOOP_RETRAIN_DEBOUNCE_S="1", LABELLOOP_DRIFT_EVERY_N="1000")
    st = storage_of(proc)
    selected: list[str] = []
    annotated: set[int] = set()
    answers = []
    try:
        with httpx.Client(base_url=proc.url, timeout=60) as http:
            for half in (0, 1):
                part = items[half * N // 2:(half + 1) * N // 2]
                for i in range(0, len(part), BATCH):
                    body = {"items": [{"key": it["key"], "data": {"text": it["text"]}}
                                      for it in part[i:i + BATCH]]}
                    r = http.post(f"/api/projects/{p.id}/stream", json=body)
                    assert r.status_code == 200, r.text
                    n = len(body["items"])
                    assert r.json() == {"received": n, "selected": [], "duplicates": 0,
                                        "deciding": n}
                chosen = wait_for(f"half {half} decided", lambda part=part: decided(st, p.id, part),
                                  timeout=180)
                # 5 % of 1,000 items, within the budget manager's ±10 % band
                assert 45 <= len(chosen) <= 55, len(chosen)
                selected.extend(chosen)
                with st.read() as tx:
                    rows = tx.get_stream_items(p.id, keys=chosen)
                versions = {r.model_version for r in rows}
                if half == 0:  # no model yet: uniform picks
                    assert versions == {None}
                else:  # decided by the local model the first retrain stored
                    assert None not in versions
                    assert sum(r.reason == "uncertain" for r in rows) > len(rows) // 2
                # every selected item becomes one Label Studio task, with its key
                tasks = wait_for(
                    f"the {len(selected)} selected items in Label Studio",
                    lambda: (t := ls_tasks(label_studio, p.id)) and len(t) >= len(selected)
                    and t, timeout=90)
                keys = [t["data"].get("labelloop_stream_key") for t in tasks]
                assert sorted(keys) == sorted(selected), "each selected item exactly once"
                by_key = {t["data"]["labelloop_stream_key"]: t for t in tasks}
                assert all(by_key[k]["data"]["text"] == it["text"]
                           for it in part for k in [it["key"]] if k in by_key)
                with st.read() as tx:
                    created = tx.get_stream_items(p.id, status="created")
                assert {r.key: r.ls_task_id for r in created} == {
                    k: by_key[k]["id"] for k in selected}
                # annotate the new tasks with the gold label through Label Studio's API
                for t in tasks:
                    if t["id"] not in annotated:
                        label_studio.sdk.annotations.create(
                            id=t["id"], result=choice_result(gold[t["data"][
                                "labelloop_stream_key"]]))
                        annotated.add(t["id"])
                # the webhooks make a retrain on every label
                version, _ = wait_for(f"a retrain on {len(annotated)} labels",
                                      lambda: (v := newest(st, p.id))[1] == len(annotated)
                                      and v, timeout=120)
                answer = classify(proc.url, p.id)
                assert answer["version"] == version
                assert [r["label"] for r in answer["results"]] and all(
                    set(r["probabilities"]) == {"positive", "negative", "neutral"}
                    for r in answer["results"])
                answers.append(answer)
            # the items posted again are duplicates: nothing selected twice, no new task
            body = {"items": [{"key": k, "data": {"text": "again"}} for k in selected[:BATCH]]}
            r = http.post(f"/api/projects/{p.id}/stream", json=body)
            assert r.json() == {"received": 0, "selected": [], "duplicates": len(body["items"]),
                                "deciding": 0}
        first, second = answers
        assert second["version"] != first["version"]
        diff = max(abs(a["probabilities"][c] - b["probabilities"][c])
                   for a, b in zip(first["results"], second["results"])
                   for c in a["probabilities"])
        assert diff > 1e-3, (first, second)
        assert len(ls_tasks(label_studio, p.id)) == len(selected)
    finally:
        st.close()
