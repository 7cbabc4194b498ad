"""The dataset export against a real Label Studio 1.23.2, the test LLM server and the real loop.

60 tasks are pre-labelled by the loopback LLM (10 % of its answers wrong); the admin annotates
the 10 tasks ``/next/`` serves (one of them against the LLM's answer), skips one more, and a
second annotator, signed up through the invite link, agrees with the admin on one task. Label
Studio's "train" makes labelloop resync and retrain. The dataset is then exported through
``GET /api/projects/{id}/dataset`` (JSON lines, CSV, the card) and through ``labelloop export``
on the same database while the service runs: every human label is there as given, every other
task carries a machine label with its ``p_correct``, both paths give the same rows and card, and
the card's counts are those of the rows (its ``llm.project_calls`` those of this project's
calls, priced).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from tests.api.test_dataset_export import from_csv
from tests.e2e.ls_harness import REPO, choice_result
from tests.e2e.test_active_learning_e2e import idle, published
from tests.e2e.test_agreement_export_e2e import _sign_up
from tests.e2e.test_foundation_e2e import connect, storage_of, wait_for
from tests.fakes.llm_server import FakeLLM

from labelloop.labelstudio.client import make_gateway
from labelloop.storage.base import Storage

pytestmark = pytest.mark.e2e
LABELS = ["positive", "negative", "neutral"]
WORDS = ["what a lovely day", "this is awful", "the bus comes at nine"]
N_TASKS, N_ANNOTATED = 60, 10
PRICE = (2.0, 8.0)  # USD per million prompt / completion tokens of the test model
MACHINE = {"llm", "model", "ensemble"}


def n_llm_labels(st: Storage, project_id: int) -> int:
    with st.read() as tx:
        return sum(lab.labels is not None for lab in tx.get_llm_labels(project_id).values())


def llm_label_of(st: Storage, project_id: int, task_id: int) -> str:
    with st.read() as tx:
        labels = tx.get_llm_labels(project_id, task_ids=[task_id])[task_id].labels
    assert labels is not None and len(labels) == 1
    return str(labels[0])


def n_labeled(st: Storage, project_id: int) -> int | None:
    version = published(st, project_id)
    if version is None:
        return None
    with st.read() as tx:
        model = tx.get_model_version(project_id, version)
    return None if model is None else model.lineage.get("n_labeled")


def export_cli(data_dir: Path, project_id: int, fmt: str, out: Path,
               card: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LABELLOOP_", "LABEL_STUDIO_", "OPENAI_"))}
    cmd = [str(REPO / ".venv" / "bin" / "labelloop"), "export", "--data-dir", str(data_dir),
           "--project", str(project_id), "--format", fmt, "--output", str(out)]
    done = subprocess.run([*cmd, *(["--card", str(card)] if card else [])], capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_export_keeps_every_human_label_and_labels_every_other_task(
        label_studio, new_project, labelloop_process, tmp_path) -> None:
    texts = [f"tweet {i}: {WORDS[i % 3]}" for i in range(N_TASKS)]
    gold = {t: LABELS[i % 3] for i, t in enumerate(texts)}
    ls = label_studio
    with FakeLLM(gold, labels=LABELS, noise=0.1, seed=11) as llm:
        p = new_project(texts=texts)
        by_text = {t["data"]["text"]: t["id"] for t in ls.gateway.iter_tasks(p.id)}
        truth = {by_text[t]: lab for t, lab in gold.items()}
        proc = connect(ls, labelloop_process, p.id, OPENAI_BASE_URL=llm.url,
                       OPENAI_API_KEY="sk-e2e-test-key", LABELLOOP_LLM_MODEL="fake-llm",
                       LABELLOOP_LLM_PRICES=json.dumps({"fake-llm": PRICE}),
                       LABELLOOP_BATCH_SIZE="10", LABELLOOP_RETRAIN_EVERY_N="1000",
                       LABELLOOP_COLD_START_MIN_PER_CLASS="2")
        st = storage_of(proc)
        try:
            wait_for("every task's LLM label", lambda: n_llm_labels(st, p.id) == N_TASKS,
                     timeout=180)
            wait_for("the first published queue", lambda: published(st, p.id), timeout=180)
            wait_for("jobs to settle", lambda: idle(st), timeout=180)

            human: dict[int, str] = {}  # task -> the label its annotators gave
            for i in range(N_ANNOTATED):
                task = ls.gateway.next_task(p.id)
                assert task is not None
                tid = task["id"]
                # the first one against the LLM: the export must keep the human's label
                label = (next(lab for lab in LABELS if lab != llm_label_of(st, p.id, tid))
                         if i == 0 else truth[tid])
                ls.sdk.annotations.create(id=tid, result=choice_result(label))
                human[tid] = label
            skipped = next(t for t in p.task_ids if t not in human)
            r = httpx.post(f"{ls.url}/api/tasks/{skipped}/annotations/",
                           headers={"Authorization": f"Token {ls.token}"},
                           json={"result": [], "was_cancelled": True}, timeout=60)
            assert r.status_code == 201, r.text[:300]
            _, token = _sign_up(ls)
            second = make_gateway(ls.url, token, timeout=60.0)
            twice = list(human)[1]
            second.sdk.annotations.create(id=twice, result=choice_result(human[twice]))

            (backend,) = ls.sdk.ml.list(project=p.id)
            ls.sdk.ml.train(id=backend.id)
            wait_for("a retrain on the human labels",
                     lambda: n_labeled(st, p.id) == N_ANNOTATED, timeout=180)
            wait_for("jobs to settle", lambda: idle(st), timeout=180)
            time.sleep(0.5)  # a job that the last one queued to run at once is seen as due
            wait_for("jobs to settle", lambda: idle(st), timeout=180)
            api = httpx.get(f"{proc.url}/api/projects/{p.id}/dataset", timeout=120)
            api_csv = httpx.get(f"{proc.url}/api/projects/{p.id}/dataset",
                                params={"format": "csv"}, timeout=120)
            card = httpx.get(f"{proc.url}/api/projects/{p.id}/dataset",
                             params={"card": 1}, timeout=120)
            printed = export_cli(proc.data_dir, p.id, "jsonl", tmp_path / "d.jsonl",
                                 tmp_path / "card.json")
            export_cli(proc.data_dir, p.id, "csv", tmp_path / "d.csv")
            llm_http_calls = llm.calls
        finally:
            st.close()

    assert api.status_code == api_csv.status_code == card.status_code == 200
    assert api.headers["content-type"].startswith("application/x-ndjson")
    assert api_csv.headers["content-type"].startswith("text/csv")
    rows = [json.loads(line) for line in api.text.splitlines()]
    assert [r["task_id"] for r in rows] == p.task_ids

    by_id = {r["task_id"]: r for r in rows}
    for tid, label in human.items():
        r = by_id[tid]
        assert (r["label"], r["p_correct"]) == (label, 1.0), r
        assert (r["source"], r["n_annotations"]) == (
            ("consensus", 2) if tid == twice else ("human", 1)), r
    first = next(iter(human))
    assert by_id[first]["llm_label"] != by_id[first]["label"]  # the human won over the LLM
    for tid in set(p.task_ids) - set(human):
        r = by_id[tid]
        assert r["source"] in MACHINE and r["label"] in LABELS, r
        assert 0.0 <= r["p_correct"] <= 1.0 and r["n_annotations"] == 0, r
        assert r["llm_label"] in LABELS, r  # the LLM labelled every task
        # the retrain predicts every task without a human label, the skipped one included
        assert r["model_label"] in LABELS, r
        if r["source"] != "ensemble":  # a single member's label is that member's
            assert r["label"] == r[f"{r['source']}_label"], r
        assert r["data"] == {"text": texts[p.task_ids.index(tid)]}
    assert by_id[skipped]["source"] in MACHINE
    # the machines are mostly right on these easy texts (the LLM flips 10 %)
    machine = [r for r in rows if r["source"] in MACHINE]
    assert sum(r["label"] == truth[r["task_id"]] for r in machine) >= 0.8 * len(machine)

    # the same rows in CSV, and from the command line on the same database
    assert from_csv(api_csv.text) == rows
    assert [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()] == rows
    assert from_csv((tmp_path / "d.csv").read_text()) == rows
    assert f"wrote {N_TASKS} rows" in printed

    # the card counts what the rows hold
    c = card.json()
    assert json.loads((tmp_path / "card.json").read_text()) == c
    assert (c["project"], c["size"], c["labelled"]) == (p.id, N_TASKS, N_TASKS)
    assert c["by_source"] == dict(Counter(r["source"] for r in rows))
    assert c["label_distribution"] == {lab: sum(r["label"] == lab for r in rows)
                                       for lab in LABELS}
    # annotations stored: the admin's 10, the second annotator's and the skip
    assert c["human"] == {"tasks": N_ANNOTATED, "annotations": N_ANNOTATED + 2}
    acc = c["estimated_accuracy"]["overall"]
    assert acc["n"] == N_TASKS and acc["low"] <= acc["accuracy"] <= acc["high"] <= 1.0
    assert acc["low"] >= N_ANNOTATED / N_TASKS  # human rows count as right
    calls, stored = c["llm"]["project_calls"], c["llm"]["project"]
    assert N_TASKS <= calls["calls"] <= c["llm"]["all_projects"]["calls"] <= llm_http_calls
    assert calls["tokens"] == calls["prompt_tokens"] + calls["completion_tokens"] > 0
    assert calls["cost_usd"] == pytest.approx(
        (calls["prompt_tokens"] * PRICE[0] + calls["completion_tokens"] * PRICE[1]) / 1e6)
    assert 0 < stored["cost_usd"] <= calls["cost_usd"] + 1e-12
