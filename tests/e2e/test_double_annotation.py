"""Can an API client ask Label Studio 1.23.2 (open source) for a second annotation of one task?

Yes: ``PATCH /api/tasks/{id}/ {"overlap": 2, "is_labeled": false}`` puts a labelled task back in
``/next/`` for another user (never for the one who annotated it). The facts are written down in
docs/quality.md; :func:`labelloop.quality.double.request_annotations` relies on them.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from tests.e2e.ls_harness import LabelStudioServer, choice_result

from labelloop.labelstudio.client import SdkGateway, make_gateway
from labelloop.quality.double import request_annotations

pytestmark = pytest.mark.e2e


def _raw(url: str, token: str, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(method, f"{url}{path}", headers={"Authorization": f"Token {token}"},
                         timeout=60, **kw)


def _task(ls: LabelStudioServer, task_id: int) -> dict[str, Any]:
    r = _raw(ls.url, ls.token, "GET", f"/api/tasks/{task_id}/")
    r.raise_for_status()
    body = r.json()
    return {k: body[k] for k in ("overlap", "is_labeled", "total_annotations")}


@pytest.fixture(scope="module")
def second_user(label_studio: LabelStudioServer) -> SdkGateway:
    """A second annotator, signed up through the organization's invite link like a person would;
    returns a gateway acting as that user (their own legacy token)."""
    ls = label_studio
    invite = _raw(ls.url, ls.token, "GET", "/api/invite")
    invite.raise_for_status()
    token = invite.json()["token"]
    with httpx.Client(base_url=ls.url, timeout=60) as web:
        web.get(f"/user/signup/?token={token}").raise_for_status()
        email = f"annotator-{secrets.token_hex(4)}@example.com"
        r = web.post(f"/user/signup/?token={token}",
                     data={"email": email, "password": secrets.token_urlsafe(12),
                           "csrfmiddlewaretoken": web.cookies["csrftoken"], "how_find_us": "Other"},
                     headers={"Referer": f"{ls.url}/user/signup/"})
        assert r.status_code == 302, r.text[:500]
        who = web.get("/api/current-user/whoami").json()
        assert who["email"] == email
        user_token = web.get("/api/current-user/token").json()["token"]
    return make_gateway(ls.url, user_token, timeout=60.0)


def test_overlap_and_is_labeled_put_a_labelled_task_back_for_another_user_only(
    label_studio, new_project, second_user
):
    ls, admin, other = label_studio, label_studio.gateway, second_user
    p = new_project(3)
    t0, t1, t2 = p.task_ids
    for t in p.task_ids:
        ls.sdk.annotations.create(id=t, result=choice_result("positive"))
    assert _task(ls, t1) == {"overlap": 1, "is_labeled": True, "total_annotations": 1}
    assert other.next_task(p.id) is None

    # overlap alone is stored, but is_labeled stays true and the task is not served
    r = _raw(ls.url, ls.token, "PATCH", f"/api/tasks/{t1}/", json={"overlap": 2})
    assert r.status_code == 200
    assert _task(ls, t1) == {"overlap": 2, "is_labeled": True, "total_annotations": 1}
    assert other.next_task(p.id) is None

    assert request_annotations(ls.sdk, t1) is True  # overlap 2 and is_labeled false
    assert _task(ls, t1) == {"overlap": 2, "is_labeled": False, "total_annotations": 1}
    assert admin.next_task(p.id) is None  # the first annotator is not served it again
    served = other.next_task(p.id)
    assert served is not None and served["id"] == t1
    assert served["annotations"] == []  # blind: the second annotator does not see the first
    assert request_annotations(ls.sdk, t1) is True  # still one annotation: same PATCH again

    # an unrelated project update (as publishing does) keeps the task's overlap
    admin.update_project(p.id, title=f"{p.id} renamed")
    assert _task(ls, t1)["overlap"] == 2

    other.sdk.annotations.create(id=t1, result=choice_result("negative"))
    assert _task(ls, t1) == {"overlap": 2, "is_labeled": True, "total_annotations": 2}
    assert other.next_task(p.id) is None
    assert request_annotations(ls.sdk, t1) is False  # has its 2: nothing to do
    assert _task(ls, t0)["overlap"] == _task(ls, t2)["overlap"] == 1


def test_reopened_task_is_served_by_its_score_only_with_a_prediction_of_the_current_version(
    label_studio, new_project, second_user
):
    ls, admin, other = label_studio, label_studio.gateway, second_user
    p = new_project(5)
    scored, unscored, fresh = p.task_ids[0], p.task_ids[1], p.task_ids[2:]
    for t in (scored, unscored):
        ls.sdk.annotations.create(id=t, result=choice_result("neutral"))
    scores = {scored: 0.05, fresh[0]: 0.3, fresh[1]: 0.5, fresh[2]: 0.7}
    admin.import_predictions(p.id, [
        {"task": t, "result": choice_result("positive"), "score": s, "model_version": "q1"}
        for t, s in scores.items()])
    admin.update_project(p.id, model_version="q1", sampling="Uncertainty sampling")
    assert request_annotations(ls.sdk, scored) and request_annotations(ls.sdk, unscored)

    order = []
    while (task := other.next_task(p.id)) is not None:
        order.append(task["id"])
        other.sdk.annotations.create(id=task["id"], result=choice_result("neutral"))
        assert len(order) <= 10
    # the reopened task with the lowest score comes first; without a prediction of the
    # project's model_version it waits until every scored task is done
    assert order == [scored, *fresh, unscored]


def test_changing_maximum_annotations_rewrites_the_per_task_overlap(
    label_studio, new_project, second_user
):
    ls, admin = label_studio, label_studio.gateway
    p = new_project(3)
    t0 = p.task_ids[0]
    for t in p.task_ids:
        ls.sdk.annotations.create(id=t, result=choice_result("positive"))
    assert request_annotations(ls.sdk, t0)
    admin.update_project(p.id, maximum_annotations=1)  # unchanged value: nothing happens
    assert _task(ls, t0) == {"overlap": 2, "is_labeled": False, "total_annotations": 1}
    admin.update_project(p.id, maximum_annotations=3)  # only tasks with overlap > 1 follow
    assert [_task(ls, t)["overlap"] for t in p.task_ids] == [3, 1, 1]
    admin.update_project(p.id, maximum_annotations=1)  # back to 1: every task, request lost
    assert _task(ls, t0) == {"overlap": 1, "is_labeled": True, "total_annotations": 1}
    assert second_user.next_task(p.id) is None
