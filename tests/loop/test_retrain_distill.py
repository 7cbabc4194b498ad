"""The retrain job learns from the LLM's stored labels of unreviewed tasks when cross-validation
on the human labels says they help (issue 16 part 1), and its lineage says so."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import pytest
from tests.conftest import CONFIG
from tests.fakes.label_studio import FakeGateway
from tests.loop.test_retrain import run_retrain

from labelloop.labelstudio.sync import resync_project
from labelloop.storage.base import Storage
from labelloop.storage.records_llm import LlmLabel

CLASSES = ("positive", "negative", "neutral")
N_TASKS = 240


class NoisyEmbedder:
    """The class (from the task number in the text) as a weak direction under heavy per-text
    noise: a few human labels learn it poorly, many labels well."""

    name, dim = "noisy-toy", 12

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
            out[i] = np.random.default_rng(seed).normal(0, 1.0, self.dim)
            out[i, int(t.split()[-1]) % 3] += 1.2
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def gold(tid: int) -> str:
    return CLASSES[tid % 3]


@pytest.fixture
def project(storage: Storage, fake_ls: FakeGateway) -> FakeGateway:
    fake_ls.add_project(1, CONFIG)
    for i in range(1, N_TASKS + 1):
        fake_ls.add_task(1, i, {"text": f"a review, number {i}"})
    resync_project(storage, fake_ls, 1)
    for tid in range(1, 25):  # 24 human labels, 8 per class
        fake_ls.annotate(tid, gold(tid))
    resync_project(storage, fake_ls, 1)
    return fake_ls


def store_llm(storage: Storage, answer: Callable[[int], str]) -> None:
    with storage.write() as tx:
        tx.save_llm_labels([
            LlmLabel(1, tid, "llm-v1", [answer(tid)],
                     {c: 0.9 if c == answer(tid) else 0.05 for c in CLASSES}, 0.9, "logprobs")
            for tid in range(1, N_TASKS + 1)])


def retrain(storage: Storage, ls: FakeGateway, tmp_path, **kw) -> dict:
    version, _ = run_retrain(storage, ls, tmp_path, embedder=NoisyEmbedder(), audit_fraction=0.0,
                             **kw)
    assert version is not None
    return version.lineage


def model_accuracy(storage: Storage, lineage: dict) -> float:
    """The stored model predictions' accuracy on the unreviewed tasks (their gold labels)."""
    ids = list(range(25, N_TASKS + 1))
    with storage.read() as tx:
        preds = tx.latest_predictions(1, ids, source="model")
    assert len(preds) == len(ids)
    return float(np.mean([preds[t].result[0]["value"]["choices"] == [gold(t)] for t in ids]))


def test_a_right_llm_is_learned_from_and_the_lineage_says_so(storage, project,
                                                             tmp_path) -> None:
    store_llm(storage, gold)
    lin = retrain(storage, project, tmp_path)
    d = lin["llm_distillation"]
    assert d["used"] is True and d["n_llm"] == N_TASKS - 24
    assert d["cv_with_llm"] > d["cv_human_only"] and d["llm_accuracy"] == 1.0
    assert 0 < d["weight"] < 1  # below a human label's weight
    assert lin["cv_accuracy"] == d["cv_with_llm"]  # the learning curve's point is this model's
    assert lin["model"]["llm_distillation"] == d
    assert lin["model"]["n_train"] == 24 + d["n_llm"]
    with_llm = model_accuracy(storage, lin)
    # the same project with the setting off: human labels only, a worse model
    off = retrain(storage, project, tmp_path, distill_llm="off")
    assert off["llm_distillation"]["used"] is False
    assert "LABELLOOP_DISTILL_LLM=off" in off["llm_distillation"]["reason"]
    assert off["model"]["n_train"] == 24
    assert with_llm > model_accuracy(storage, off) + 0.05


def test_an_llm_at_chance_is_not_learned_from(storage, project, tmp_path) -> None:
    rng = np.random.default_rng(7)
    answers = {tid: CLASSES[int(rng.integers(3))] for tid in range(1, N_TASKS + 1)}
    store_llm(storage, answers.__getitem__)
    lin = retrain(storage, project, tmp_path)
    d = lin["llm_distillation"]
    assert d["used"] is False and d["n_llm"] == 0
    assert lin["model"]["n_train"] == 24


def test_without_llm_labels_there_is_no_choice_to_record(storage, project, tmp_path) -> None:
    lin = retrain(storage, project, tmp_path)
    assert lin["llm_distillation"] is None and lin["model"]["llm_distillation"] is None
