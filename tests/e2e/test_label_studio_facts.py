"""Behaviour of a real Label Studio 1.23.2 that labelloop relies on, pinned through SdkGateway.

Each test is cited in docs/label-studio-findings.md. When a Label Studio upgrade breaks one,
the finding (and the code that relies on it) has to be revisited.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from tests.e2e.ls_harness import LabelStudioServer, choice_result

from labelloop.errors import LabelStudioUnavailable
from labelloop.labelstudio.client import make_gateway

pytestmark = pytest.mark.e2e


def _raw(ls: LabelStudioServer, method: str, path: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Token {ls.token}"}
    return httpx.request(method, f"{ls.url}{path}", headers=headers, timeout=60, **kw)


def _predictions(ls: LabelStudioServer, task_id: int) -> list[dict[str, Any]]:
    r = _raw(ls, "GET", "/api/predictions/", params={"task": task_id})
    r.raise_for_status()
    return r.json()


def _drain(ls: LabelStudioServer, project_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """Serve ``next`` until empty, alternating a real annotation and a skip to advance."""
    served: list[dict[str, Any]] = []
    while (task := ls.gateway.next_task(project_id)) is not None:
        served.append(task)
        skip = len(served) % 2 == 0
        ls.sdk.annotations.create(
            id=task["id"], result=[] if skip else choice_result("neutral"), was_cancelled=skip
        )
        assert len(served) <= limit, "next_task never ran dry"
    return served


# --- (a) the annotators' queue under Uncertainty sampling -----------------------------------


def test_uncertainty_sampling_serves_unlabeled_tasks_by_ascending_score(label_studio, new_project):
    ls, gw = label_studio, label_studio.gateway
    p = new_project(9)
    t = p.task_ids
    scores = {t[0]: 0.6, t[1]: 0.2, t[2]: 0.9, t[3]: 0.4, t[4]: 0.05, t[5]: 0.3, t[6]: 0.75}
    unscored = {t[7], t[8]}  # no prediction of the current version
    current = [
        {"task": k, "result": choice_result("positive"), "score": s, "model_version": "v1"}
        for k, s in scores.items()
    ]
    # an older version with the opposite order, and one on an unscored task: both ignored
    older = [
        {"task": k, "result": choice_result("negative"), "score": 1 - s, "model_version": "v0"}
        for k, s in scores.items()
    ]
    older.append(
        {"task": t[7], "result": choice_result("negative"), "score": 0.0, "model_version": "v0"}
    )
    assert gw.import_predictions(p.id, current) == 7
    assert gw.import_predictions(p.id, older) == 8
    ls.sdk.annotations.create(id=t[4], result=choice_result("positive"))  # lowest, but labeled
    project = gw.update_project(p.id, model_version="v1", sampling="Uncertainty sampling")
    assert (project["model_version"], project["sampling"]) == ("v1", "Uncertainty sampling")

    first = gw.next_task(p.id)
    assert first is not None and first["id"] == t[1]
    assert gw.next_task(p.id)["id"] == t[1]  # served and locked to this user: served again
    # the served task shows only the predictions of project.model_version
    assert [(x["model_version"], x["score"]) for x in first["predictions"]] == [("v1", 0.2)]

    served = _drain(ls, p.id)
    ids = [s["id"] for s in served]
    expected = sorted((k for k in scores if k != t[4]), key=scores.__getitem__)
    assert ids[:6] == expected  # annotating or skipping the served task both advance the queue
    # then, with no unlabeled task holding a v1 prediction left, LS falls back to random
    assert set(ids[6:]) == unscored and len(ids) == 8
    assert gw.next_task(p.id) is None


def test_next_task_on_an_unknown_project_raises(label_studio):
    with pytest.raises(LabelStudioUnavailable, match="No Project matches"):
        label_studio.gateway.next_task(987654)


# --- (b) the cluster field ----------------------------------------------------------------


def test_cluster_survives_single_create_but_not_bulk_import(label_studio, new_project):
    ls, gw = label_studio, label_studio.gateway
    p = new_project(3)
    a, b, c = p.task_ids
    single = ls.sdk.predictions.create(
        task=a, result=choice_result("positive"), score=0.5, model_version="v1", cluster=5
    )
    assert single.cluster == 5
    r = _raw(
        ls,
        "POST",
        "/api/predictions/",
        json={
            "task": b,
            "result": choice_result("positive"),
            "score": 0.5,
            "model_version": "v1",
            "cluster": 6,
        },
    )
    assert r.status_code == 201 and r.json()["cluster"] == 6
    assert (
        gw.import_predictions(
            p.id,
            [
                {
                    "task": c,
                    "result": choice_result("positive"),
                    "score": 0.5,
                    "model_version": "v1",
                    "cluster": 7,
                }
            ],
        )
        == 1
    )

    stored = {t: [x["cluster"] for x in _predictions(ls, t)] for t in (a, b, c)}
    assert stored == {a: [5], b: [6], c: [None]}  # the bulk import drops cluster


def test_uncertainty_sampling_rotates_clusters_fed_by_single_create(label_studio, new_project):
    ls, gw = label_studio, label_studio.gateway
    p = new_project(6)
    spec = [(0.1, 1), (0.2, 1), (0.3, 1), (0.4, 2), (0.5, 2), (0.6, 2)]
    for task, (score, cluster) in zip(p.task_ids, spec):
        ls.sdk.predictions.create(
            task=task,
            result=choice_result("positive"),
            score=score,
            model_version="v1",
            cluster=cluster,
        )
    gw.update_project(p.id, model_version="v1", sampling="Uncertainty sampling")
    order = [
        (s["predictions"][0]["score"], s["predictions"][0]["cluster"]) for s in _drain(ls, p.id)
    ]
    # least-solved cluster first, then lowest score: not plain ascending score
    assert order == [(0.1, 1), (0.4, 2), (0.2, 1), (0.5, 2), (0.3, 1), (0.6, 2)]


# --- (c) model versions ---------------------------------------------------------------------


def test_delete_model_version_removes_only_that_version(label_studio, new_project):
    ls, gw = label_studio, label_studio.gateway
    p = new_project(5)
    for version, n in (("v1", 5), ("v2", 3), ("v3", 1)):
        gw.import_predictions(
            p.id,
            [
                {
                    "task": t,
                    "result": choice_result("positive"),
                    "score": 0.5,
                    "model_version": version,
                }
                for t in p.task_ids[:n]
            ],
        )
    gw.update_project(p.id, model_version="v2")
    assert gw.list_model_versions(p.id) == {"v1": 5, "v2": 3, "v3": 1}

    assert gw.delete_model_version(p.id, "v1") is None
    assert gw.list_model_versions(p.id) == {"v2": 3, "v3": 1}
    versions = {t: sorted(x["model_version"] for x in _predictions(ls, t)) for t in p.task_ids}
    assert versions == {
        p.task_ids[0]: ["v2", "v3"],
        p.task_ids[1]: ["v2"],
        p.task_ids[2]: ["v2"],
        p.task_ids[3]: [],
        p.task_ids[4]: [],
    }
    assert gw.delete_model_version_count(p.id, "v3") == 1
    assert gw.delete_model_version_count(p.id, "never-existed") == 0  # not an error
    # a version without predictions (nor a live backend of that title) is refused
    with pytest.raises(LabelStudioUnavailable, match="answered 400.*Model version doesn't exist"):
        gw.update_project(p.id, model_version="v9")
    assert gw.get_project(p.id)["model_version"] == "v2"
    # deleting the project's own version also resets project.model_version
    assert gw.delete_model_version_count(p.id, "v2") == 3
    assert not gw.get_project(p.id)["model_version"]
    assert gw.list_model_versions(p.id) == {}


@pytest.fixture
def stub_backend() -> Iterator[str]:
    """A minimal ML backend on loopback: enough for Label Studio to register it."""
    answers = {
        "/health": {"status": "UP"},
        "/setup": {"model_version": "stub-1"},
        "/versions": {"versions": []},
        "/predict": {"results": []},
        "/webhook": {},
    }

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps(answers.get(self.path.split("?")[0], {})).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_while_model_version_is_the_backend_title_any_delete_resets_it(
    label_studio, new_project, stub_backend
):
    ls, gw = label_studio, label_studio.gateway
    p = new_project(2)
    ls.sdk.ml.create(project=p.id, url=stub_backend, title="stub backend", auth_method="NONE")
    assert gw.get_project(p.id)["model_version"] == "stub backend"  # the title, not /setup's
    gw.import_predictions(
        p.id,
        [
            {"task": t, "result": choice_result("positive"), "score": 0.5, "model_version": v}
            for t in p.task_ids
            for v in ("v1", "v2")
        ],
    )
    assert gw.delete_model_version_count(p.id, "v1") == 2
    assert not gw.get_project(p.id)["model_version"]  # v1 was not the project's version
    assert gw.list_model_versions(p.id) == {"v2": 2}


# --- (d) reading every task with its annotations ----------------------------------------------


def test_iter_tasks_returns_every_task_with_its_annotations(label_studio, new_project):
    ls, gw = label_studio, label_studio.gateway
    p = new_project(1203)
    labeled = p.task_ids[::250]  # 5 tasks across the pages
    made = {}
    for i, task in enumerate(labeled):
        a = ls.sdk.annotations.create(
            id=task,
            result=choice_result("negative"),
            lead_time=2.5 + i,
            ground_truth=i == 0,
            was_cancelled=False,
        )
        made[task] = a.id
    skipped = p.task_ids[-1]
    made[skipped] = ls.sdk.annotations.create(id=skipped, result=[], was_cancelled=True).id

    for page_size in (500, 401, 100):  # 3 pages; an exact multiple (3 x 401); 13 pages
        t0 = time.monotonic()
        tasks = list(gw.iter_tasks(p.id, page_size=page_size))
        elapsed = time.monotonic() - t0
        assert [x["id"] for x in tasks] == p.task_ids, page_size
        print(f"iter_tasks 1203 tasks page_size={page_size}: {elapsed:.2f} s")
    # a walk resumes after a cursor; a task deleted behind the cursor shifts nothing
    cursor = p.task_ids[600]
    ls.sdk.tasks.delete(id=p.task_ids[10])
    assert [x["id"] for x in gw.iter_tasks(p.id, page_size=100, after_id=cursor)] == \
        p.task_ids[601:]

    by_id = {x["id"]: x for x in tasks}
    for task, annotation_id in made.items():
        (ann,) = by_id[task]["annotations"]
        assert ann["id"] == annotation_id
        for key in (
            "id",
            "result",
            "was_cancelled",
            "ground_truth",
            "completed_by",
            "lead_time",
            "updated_at",
        ):
            assert key in ann, key
    first = by_id[labeled[0]]["annotations"][0]
    assert first["result"] == choice_result("negative")
    assert (first["ground_truth"], first["lead_time"], first["was_cancelled"]) == (True, 2.5, False)
    assert isinstance(first["completed_by"], int)
    assert by_id[skipped]["annotations"][0]["was_cancelled"] is True
    assert sum(len(x["annotations"]) for x in tasks) == len(made)
    assert by_id[p.task_ids[1]]["data"] == {"text": "text number 1"}


def test_tasks_api_pagination_facts(label_studio, new_project):
    """Why iter_tasks sends fields=all, and walks keyset pages (an id filter) rather than page
    numbers: a page number past the end is a 404."""
    ls = label_studio
    p = new_project(120)
    ls.sdk.annotations.create(id=p.task_ids[0], result=choice_result("positive"))
    plain = _raw(ls, "GET", "/api/tasks/", params={"project": p.id}).json()
    assert plain["total"] == 120 and len(plain["tasks"]) == 100  # default page size
    assert "annotations" not in plain["tasks"][0]  # left out without fields=all
    full = _raw(ls, "GET", "/api/tasks/", params={"project": p.id, "fields": "all"}).json()
    assert len(full["tasks"][0]["annotations"]) == 1
    big = _raw(ls, "GET", "/api/tasks/", params={"project": p.id, "page_size": 5000}).json()
    assert len(big["tasks"]) == 120  # no server-side page-size cap by default
    past = _raw(ls, "GET", "/api/tasks/", params={"project": p.id, "page": 3, "page_size": 60})
    assert past.status_code == 404 and past.json()["detail"] == "Invalid page."


def test_a_wrong_token_is_label_studio_unavailable(label_studio):
    gw = make_gateway(label_studio.url, "not-the-token-0000", timeout=10.0, max_retries=0)
    with pytest.raises(LabelStudioUnavailable, match="answered 401") as info:
        gw.get_project(1)
    assert label_studio.token not in str(info.value)
