"""The LLM storage operations and the few-shot pool of a stored project."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from labelloop.errors import InvalidInput
from labelloop.llm.pool import example_pool
from labelloop.storage.records import Annotation
from labelloop.storage.records_llm import LlmCacheEntry, LlmCall, LlmLabel


def region(label: str, name: str = "sentiment") -> dict:
    return {"from_name": name, "to_name": "text", "type": "choices",
            "value": {"choices": [label]}}


def ann(aid: int, task: int, labels: list[dict], **kw: Any) -> Annotation:
    base: dict[str, Any] = {"id": aid, "task_id": task, "project_id": 1, "completed_by": 1, "result": labels,
            "was_cancelled": False, "ground_truth": False, "lead_time": None,
            "ls_updated_at": "x"}
    base.update(kw)
    return Annotation(**base)


def test_cache_is_write_once(llm_storage) -> None:
    with llm_storage.write() as tx:
        tx.put_llm_cache([LlmCacheEntry("k1", "e", "m", {"v": 1})])
        tx.put_llm_cache([LlmCacheEntry("k1", "e", "m", {"v": 2}),
                          LlmCacheEntry("k2", "e", "m", {"v": 3})])
    with llm_storage.read() as tx:
        assert tx.get_llm_cache(["k1", "k2", "k3"]) == {"k1": {"v": 1}, "k2": {"v": 3}}
        assert tx.count_llm_cache() == 2


def test_usage_totals_and_filters(llm_storage) -> None:
    with llm_storage.write() as tx:
        tx.add_llm_calls([LlmCall("e1", "m", "label", "ok", 10, 2, 0.5, at=100.0),
                          LlmCall("e1", "m", "label", "error", error="HTTP 500", at=200.0),
                          LlmCall("e2", "m", "probe", "ok", 3, 1, 0.25, at=300.0)])
    with llm_storage.read() as tx:
        total = tx.llm_usage()
        assert (total.calls, total.errors, total.tokens, total.cost_usd) == (3, 1, 16, 0.75)
        assert tx.llm_usage(endpoint="e2").calls == 1
        assert tx.llm_usage(since=150.0).cost_usd == 0.25
        assert tx.llm_usage(model="other").calls == 0



def test_usage_of_one_project(llm_storage) -> None:
    with llm_storage.write() as tx:
        tx.add_llm_calls([LlmCall("e1", "m", "label", "ok", 10, 2, 0.5, project_id=1, at=100.0),
                          LlmCall("e1", "m", "retry", "error", error="HTTP 500", project_id=1,
                                  at=200.0),
                          LlmCall("e1", "m", "label", "ok", 7, 1, 0.25, project_id=2, at=300.0),
                          LlmCall("e2", "m", "probe", "ok", 3, 1, 0.125, at=400.0)])
    with llm_storage.read() as tx:
        one = tx.llm_usage(project_id=1)
        assert (one.calls, one.errors, one.tokens, one.cost_usd) == (2, 1, 12, 0.5)
        assert (tx.llm_usage(project_id=2).tokens, tx.llm_usage(project_id=3).calls) == (8, 0)
        assert tx.llm_usage(project_id=1, since=150.0).calls == 1
        assert tx.llm_usage().calls == 4  # a call logged without a project counts only here

def test_endpoint_capabilities_and_pause_are_independent(llm_storage) -> None:
    with llm_storage.write() as tx:
        tx.set_llm_pause("e", "m", until=500.0, reason="down")
        tx.save_llm_capabilities("e", "m", {"output_mode": "tools"})
    with llm_storage.read() as tx:
        rec = tx.get_llm_endpoint("e", "m")
        assert rec.capabilities == {"output_mode": "tools"} and rec.paused_until == 500.0
        assert tx.get_llm_endpoint("e", "other") is None
    with llm_storage.write() as tx:
        tx.set_llm_pause("e", "m", until=None, reason=None)
    with llm_storage.read() as tx:
        assert tx.get_llm_endpoint("e", "m").capabilities == {"output_mode": "tools"}


def test_llm_labels_newest_per_task_and_version(llm_storage) -> None:
    with llm_storage.write() as tx:
        tx.save_llm_labels([
            LlmLabel(1, 10, "v1", ["a"], {"a": 0.9, "b": 0.1}, 0.9, "logprobs", created_at=1.0),
            LlmLabel(1, 10, "v2", ["b"], {"a": 0.2, "b": 0.8}, 0.8, "logprobs", created_at=2.0),
            LlmLabel(1, 11, "v1", None, None, None, "unknown", failure="bad", created_at=1.0),
            LlmLabel(2, 10, "v1", ["a"], None, None, "unknown", created_at=1.0)])
    with llm_storage.read() as tx:
        newest = tx.get_llm_labels(1)
        assert newest[10].model_version == "v2" and newest[11].failure == "bad"
        assert tx.get_llm_labels(1, model_version="v1")[10].labels == ["a"]
        assert set(tx.get_llm_labels(1, task_ids=[11])) == {11}


def test_example_pool_of_a_project(llm_storage, schema) -> None:
    with llm_storage.write() as tx:
        tx.save_project(1, title="p")
        tx.upsert_tasks(1, [{"id": i, "data": {"text": f"text {i}"}} for i in range(1, 7)])
        tx.upsert_annotations([
            ann(1, 1, [region("positive")]),
            ann(2, 2, [region("negative")]),
            ann(3, 2, [region("neutral")], ground_truth=True),  # wins over annotation 2
            ann(4, 3, [], was_cancelled=True),
            ann(5, 4, [region("positive", name="other")]),  # another control: no label
            ann(6, 5, [region("negative")]),
        ], source="resync")
        tx.save_llm_labels([LlmLabel(1, 1, "v", ["negative"], None, None, "unknown"),
                            LlmLabel(1, 2, "v", ["neutral"], None, None, "unknown"),
                            LlmLabel(1, 5, "v", None, None, None, "unknown", failure="x")])
    with llm_storage.read() as tx:
        pool = example_pool(tx, 1, schema, embeddings={1: np.ones(2), 2: np.zeros(2),
                                                       5: np.ones(2)})
    assert pool.texts == ["text 1", "text 2", "text 5"]
    assert pool.labels == [["positive"], ["neutral"], ["negative"]]
    assert pool.llm_wrong is not None and pool.embeddings is not None
    assert pool.llm_wrong.tolist() == [True, False, True]
    assert pool.embeddings.shape == (3, 2)
    with llm_storage.read() as tx:
        no_vectors = example_pool(tx, 1, schema, embeddings={1: np.ones(2)})
    assert no_vectors.embeddings is None
    with pytest.raises(InvalidInput, match="one label list per text"):
        pool.__class__(["a"], [], ["x"])


def test_the_example_pool_labels_a_task_by_the_one_consensus_rule(llm_storage, schema) -> None:
    with llm_storage.write() as tx:
        tx.save_project(1, title="p")
        tx.upsert_tasks(1, [{"id": 1, "data": {"text": "text 1"}}])
        tx.upsert_annotations([  # two annotators say positive; the newest annotation disagrees
            ann(1, 1, [region("positive")], completed_by=1),
            ann(2, 1, [region("positive")], completed_by=2),
            ann(3, 1, [region("negative")], completed_by=3),
            ann(4, 1, [region("neutral")], completed_by=3, was_cancelled=True),
        ], source="resync")
    with llm_storage.read() as tx:
        assert example_pool(tx, 1, schema).labels == [["positive"]]


def test_stored_probas_for_the_committee(llm_storage) -> None:
    from labelloop.llm.pool import stored_probas

    with llm_storage.write() as tx:
        tx.save_llm_labels([
            LlmLabel(1, 1, "v", ["b"], {"a": 0.25, "b": 0.75}, 0.75, "logprobs"),
            LlmLabel(1, 2, "v", ["a"], None, None, "unknown"),
            LlmLabel(1, 3, "v", None, None, None, "unknown", failure="outside the set")])
    with llm_storage.read() as tx:
        p = stored_probas(tx, 1, [1, 2, 3, 4], ["a", "b"], model_version="v")
    assert p[:2].tolist() == [[0.25, 0.75], [1.0, 0.0]]
    assert np.isnan(p[2:]).all()
