"""Shared parts of the triplet service tests: a grouped corpus, a group-aware toy embedder, a
worker against the fake Label Studio, and the judgement a group rule gives."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import SecretStr

from labelloop.embeddings import Embedder
from labelloop.events.projects import record_project
from labelloop.jobs.registry import default_handlers
from labelloop.jobs.types import Job
from labelloop.jobs.worker import Worker
from labelloop.labelstudio.access import GatewayProvider
from labelloop.llm import LLMLabeler
from labelloop.loop.resources import Resources
from labelloop.settings import Settings
from labelloop.storage.base import Storage
from labelloop.storage.records_triplets import CorpusItemRow
from labelloop.triplets.judge import judge_text
from tests.conftest import make_settings
from tests.fakes.label_studio import FakeGateway
from tests.triplets.configs import TRIPLET_CONFIG

GROUP_WORDS = {"cats": "cat", "cars": "car", "food": "soup"}
FILLER = ["small", "old", "red", "blue", "fast", "quiet", "big", "new", "odd", "warm"]


def corpus_rows(n: int = 30) -> list[CorpusItemRow]:
    """``n`` texts, groups in turn; the group's word and a filler word in each."""
    groups = list(GROUP_WORDS)
    return [CorpusItemRow(f"the {FILLER[i % len(FILLER)]} {GROUP_WORDS[groups[i % 3]]} {i}",
                          groups[i % 3]) for i in range(n)]


def group_of(text: str) -> str:
    return next(g for g, w in GROUP_WORDS.items() if f" {w} " in f" {text} ")


def rule(anchor: str, first: str, second: str) -> str:
    """The judgement of a triplet by its groups (same group = similar)."""
    a, f, s = group_of(anchor), group_of(first), group_of(second)
    return "first" if f == a != s else "second" if s == a != f else "tie"


def gold_for(texts: list[str]) -> dict[str, str]:
    """The fake LLM's answer for every triplet of ``texts``: the group rule."""
    return {judge_text(a, f, s): rule(a, f, s)
            for a in texts for f in texts for s in texts if len({a, f, s}) == 3}


class GroupEmbedder:
    """A group's word → its own direction, plus a per-text jitter (so candidates differ)."""

    name, dim = "group-toy", 6

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
            out[i] = np.random.default_rng(seed).normal(0, 0.6, self.dim)
            for k, w in enumerate(GROUP_WORDS.values()):
                if f" {w} " in f" {t} ":
                    out[i, k] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def triplet_settings(tmp_path: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = {"label_studio_url": "http://ls",
                            "label_studio_api_key": SecretStr("k"), "job_backoff_scale": 0.0,
                            "triplet_batch": 8, "triplet_import_batch": 3}
    return make_settings(tmp_path, **{**base, **kw})


def setup_project(storage: Storage, ls: FakeGateway, pid: int = 1) -> None:
    if pid not in ls.projects:
        ls.add_project(pid, TRIPLET_CONFIG)
    with storage.write() as tx:
        record_project(tx, pid, label_config=TRIPLET_CONFIG)


def make_worker(storage: Storage, ls: FakeGateway, s: Settings, *,
                embedder: Embedder | None = None, labeler: LLMLabeler | None = None) -> Worker:
    return Worker(storage, s, default_handlers(s), gateways=GatewayProvider(s, lambda *_: ls),
                  worker_id="w", resources=Resources(s, embedder=embedder or GroupEmbedder(),
                                                     labeler=labeler))


def run_all(storage: Storage, w: Worker, *, limit: int = 20) -> list[Job]:
    """Run every due job (queued ones made due at once); the jobs run, in order."""
    ran: list[Job] = []
    for _ in range(limit):
        with storage.write() as tx:
            tx.conn.exec_driver_sql("UPDATE jobs SET run_after = 0 WHERE status = 'queued'")
        job = w.run_once()
        if job is None:
            return ran
        ran.append(job)
    raise AssertionError(f"still running jobs after {limit}: {[j.kind for j in ran]}")
