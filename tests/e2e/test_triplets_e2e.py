"""Hard-triplet active learning end to end on a real Label Studio 1.23.2 (issue 16 part 4).

A Label Studio project with the triplet config (docs/triplets.md) is connected to a running
labelloop with the loopback fake LLM as its LLM. 120 Rotten Tomatoes snippets are posted as the
corpus, grouped by their category (fresh, rotten, plot: same group = similar). The first mining
round creates 20 triplet tasks in Label Studio, each once, with its three texts, its key and
the LLM's pre-judgement as a prediction. They are judged through Label Studio's API by the group
rule; the webhooks make the retrain that hands the project to a fine-tune round (MiniLM, within
its CPU budget), which reports recall@10 and MRR on the held-out items before and after, and
queues the next mining round: 20 more tasks, none a triplet asked before.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.datasets import rotten_tomatoes
from tests.e2e.test_foundation_e2e import connect, storage_of, wait_for
from tests.fakes.llm_server import FakeLLM
from tests.triplets.configs import TRIPLET_CONFIG

from labelloop.triplets.plan import KEY_FIELD

pytestmark = pytest.mark.e2e
N, BATCH = 120, 20


def corpus() -> list[dict[str, str]]:
    data = rotten_tomatoes(N + 40, seed=23, max_chars=300)
    seen: set[str] = set()
    items = []
    for text, group in zip(data.texts, data.labels):
        if text not in seen:
            seen.add(text)
            items.append({"text": text, "group": group})
    return items[:N]


def rule(group: dict[str, str], task: dict[str, Any]) -> str:
    a, f, s = (group[task["data"][k]] for k in ("anchor", "first", "second"))
    return "first" if f == a != s else "second" if s == a != f else "tie"


class GroupRule(dict):
    """The fake LLM's gold, looked up per question: the group rule on the triplet it is shown
    (:func:`labelloop.triplets.judge.judge_text`)."""

    def __init__(self, group: dict[str, str]) -> None:
        super().__init__()
        self.group = group

    def get(self, key: str, default: Any = None) -> Any:
        parts = key.split("\n\nFirst candidate:\n")
        if len(parts) != 2 or "\n\nSecond candidate:\n" not in parts[1]:
            return default
        anchor = parts[0].removeprefix("Anchor:\n")
        first, second = parts[1].split("\n\nSecond candidate:\n", 1)
        if not {anchor, first, second} <= self.group.keys():
            return default
        return rule(self.group, {"data": {"anchor": anchor, "first": first,
                                          "second": second}})


def judgement(choice: str) -> list[dict[str, Any]]:
    return [{"from_name": "closer", "to_name": "anchor", "type": "choices",
             "value": {"choices": [choice]}}]


def test_corpus_mine_judge_finetune_recall(label_studio, labelloop_process) -> None:
    items = corpus()
    group = {it["text"]: it["group"] for it in items}
    project = label_studio.sdk.projects.create(title="e2e triplets", label_config=TRIPLET_CONFIG)
    with FakeLLM({}, labels=["first", "second", "tie"]) as llm:
        llm.gold = GroupRule(group)  # answers every triplet of the corpus by the group rule
        proc = connect(label_studio, labelloop_process, project.id, OPENAI_BASE_URL=llm.url,
                       OPENAI_API_KEY="sk-e2e-test-key", LABELLOOP_LLM_MODEL="fake-llm",
                       LABELLOOP_RETRAIN_DEBOUNCE_S="1", LABELLOOP_TRIPLET_BATCH=str(BATCH),
                       LABELLOOP_TRIPLET_FINETUNE_EVERY_N=str(BATCH),
                       LABELLOOP_FINETUNE_BUDGET_S="60", LABELLOOP_TRIPLET_HELDOUT="0.3")
        st = storage_of(proc)
        try:
            with httpx.Client(base_url=proc.url, timeout=60) as http:
                r = http.post(f"/api/projects/{project.id}/triplets/corpus",
                              json={"items": items})
                assert r.status_code == 200, r.text
                assert r.json() == {"added": N, "duplicates": 0, "corpus": N, "mining": True}
                tasks = wait_for("the first round's tasks in Label Studio", lambda: (
                    t := list(label_studio.gateway.iter_tasks(project.id))) and
                    len(t) >= BATCH and t, timeout=180)
                assert len(tasks) == BATCH
                keys = [t["data"][KEY_FIELD] for t in tasks]
                assert len(set(keys)) == BATCH and all(t["meta"][KEY_FIELD] for t in tasks)
                assert all(t["data"][k] in group for t in tasks
                           for k in ("anchor", "first", "second"))
                versions = label_studio.gateway.list_model_versions(project.id)
                assert sum(n for v, n in versions.items() if v.startswith("llm-")) == BATCH
                for t in tasks:  # judged through Label Studio's API
                    label_studio.sdk.annotations.create(id=t["id"],
                                                        result=judgement(rule(group, t)))
                status = wait_for("a fine-tune round", lambda: (
                    s := http.get(f"/api/projects/{project.id}/triplets").json())["rounds"]
                    and s, timeout=300)
                assert status["judgements"]["total"] == BATCH
                (first,) = status["rounds"]
                assert first["measured_on"] == "held_out_items" and first["held_out"] >= 10
                for side in ("before", "after"):
                    assert 0.0 < first[side]["recall_at_10"] <= 1.0
                    assert 0.0 < first[side]["mrr"] <= 1.0
                assert first["steps"] >= 1
                assert status["recall_at_10"] is not None and status["mrr"] is not None
                print(f"triplets e2e: recall@10 {first['before']['recall_at_10']:.3f} -> "
                      f"{first['after']['recall_at_10']:.3f}, MRR {first['before']['mrr']:.3f}"
                      f" -> {first['after']['mrr']:.3f}, adopted {first['adopted']}")
                more = wait_for("the second round's tasks", lambda: (
                    t := list(label_studio.gateway.iter_tasks(project.id))) and
                    len(t) >= 2 * BATCH and t, timeout=180)
                assert len(more) == 2 * BATCH
                assert len({t["data"][KEY_FIELD] for t in more}) == 2 * BATCH
            with st.read() as tx:
                stored = tx.get_triplet_tasks(project.id)
            assert {t.status for t in stored} == {"created"} and len(stored) == 2 * BATCH
        finally:
            st.close()
