"""What the media end-to-end tests (image, video, audio on a real Label Studio 1.23.2) share:
uploading files through the import API, annotating what Label Studio serves, waiting for a
published queue or a retrain, and checking the pre-labels a retrain published.

Each step keeps its assertions here, so every modality's test checks the same things the same
way; the tests themselves hold what is particular to their media.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from typing import Any

import httpx
from tests.e2e.test_active_learning_e2e import idle, published
from tests.e2e.test_foundation_e2e import wait_for

from labelloop.labelconfig.kinds import validate_result


def choice_result(from_name: str, to_name: str, label: str) -> list[dict[str, Any]]:
    """A ``<Choices>`` annotation result naming ``label``."""
    return [{"from_name": from_name, "to_name": to_name, "type": "choices",
             "value": {"choices": [label]}}]


def upload(label_studio, project_id: int, files: dict[str, bytes]) -> list[int]:
    """Multipart upload through the import API; the new task ids."""
    r = httpx.post(f"{label_studio.url}/api/projects/{project_id}/import",
                   params={"return_task_ids": "true"},
                   headers={"Authorization": f"Token {label_studio.token}"},
                   files=[(f"f{i}", (name, data, mimetypes.guess_type(name)[0] or "image/png"))
                          for i, (name, data) in enumerate(files.items())], timeout=60)
    assert r.status_code == 201, r.text
    return list(r.json()["task_ids"])


def n_llm_labels(st, project_id: int) -> int:
    with st.read() as tx:
        return sum(lab.labels is not None for lab in tx.get_llm_labels(project_id).values())


def first_queue(st, project_id: int, *, timeout: float) -> str:
    """The first published model version, once the jobs it started have settled."""
    first = wait_for("the first published queue", lambda: published(st, project_id),
                     timeout=timeout)
    wait_for("jobs to settle", lambda: idle(st), timeout=timeout)
    return first


def annotate_served(label_studio, project_id: int, n: int,
                    result_for: Callable[[int], list[dict[str, Any]]]) -> list[int]:
    """Take ``n`` tasks as Label Studio serves them, annotate each with ``result_for(id)``;
    the served ids, in order."""
    served: list[int] = []
    for _ in range(n):
        task = label_studio.gateway.next_task(project_id)
        served.append(task["id"])
        label_studio.sdk.annotations.create(id=task["id"], result=result_for(task["id"]))
    return served


def retrained(st, project_id: int, first: str, *, n: int,
              timeout: float) -> tuple[str, dict[str, Any], list[int]]:
    """``(version, lineage, ranked task ids)`` of the retrain after ``n`` labels (a version
    other than ``first``), once its jobs have settled."""
    second = wait_for(f"the retrain after {n} labels",
                      lambda: (v := published(st, project_id)) != first and v, timeout=timeout)
    wait_for("jobs to settle", lambda: idle(st), timeout=timeout)
    with st.read() as tx:
        lineage = tx.get_model_version(project_id, second).lineage  # type: ignore[union-attr]
        ranked = [e.task_id for e in tx.get_queue(project_id, second)]
    return second, lineage, ranked


def check_published_prelabels(label_studio, schema, pid: int, version: str,
                              ranked: list[int], truth: dict[int, str]) -> list[dict[str, Any]]:
    """The retrain's pre-labels in Label Studio: one valid prediction per ranked task, at least
    85 % naming the true class, and the queue's head is what Label Studio serves next; the
    predictions, for what a test checks beyond."""
    preds = httpx.get(f"{label_studio.url}/api/predictions/", params={"project": pid},
                      headers={"Authorization": f"Token {label_studio.token}"}, timeout=60).json()
    mine = [p for p in preds if p["model_version"] == version and p["result"]]
    assert len(mine) == len(ranked) and {p["task"] for p in mine} == set(ranked)
    for p in mine:
        validate_result(schema, p["result"], text=None)
    right = [p["result"][0]["value"]["choices"] == [truth[p["task"]]] for p in mine]
    assert sum(right) >= 0.85 * len(right)
    assert label_studio.gateway.next_task(pid)["id"] == ranked[0]
    return mine


def assert_clean_log(proc) -> None:
    log = proc.log_text()
    assert "Traceback" not in log, log[-3000:]
