"""SdkGateway.import_tasks against a scripted HTTP server: the ids in request order, never
retried, every failure a LabelStudioUnavailable naming the call."""

from __future__ import annotations

import pytest
from tests.labelstudio.test_client import TOKEN, Reply, gw, ls

from labelloop.errors import LabelStudioUnavailable
from labelloop.labelstudio.client import make_gateway

__all__ = ["gw", "ls"]  # the fixtures
PATH = "/api/projects/3/import"
TASKS = [{"data": {"text": "a", "k": "1"}, "meta": {"k": "1"}},
         {"data": {"text": "b", "k": "2"}, "meta": {"k": "2"},
          "predictions": [{"result": [], "score": 0.5, "model_version": "v"}]}]


def test_import_tasks_posts_the_tasks_and_returns_their_ids(gw, ls):
    ls.on("POST", PATH, Reply(201, {"task_count": 2, "annotation_count": 0,
                                    "predictions_count": 1, "task_ids": [41, 42]}))
    assert gw.import_tasks(3, TASKS) == [41, 42]
    assert ls.seen[0].body == TASKS and ls.seen[0].query["return_task_ids"] == "true"


def test_import_tasks_of_nothing_makes_no_call(gw, ls):
    assert gw.import_tasks(3, []) == []
    assert ls.seen == []


@pytest.mark.parametrize("status", [500, 502, 503])
def test_import_tasks_is_not_retried(ls, status):
    gw = make_gateway(ls.url, TOKEN, timeout=5.0, max_retries=2)  # retries on for other calls
    ls.on("POST", PATH, Reply(status, {"detail": "boom"}))
    with pytest.raises(LabelStudioUnavailable, match=rf"import_tasks .* answered {status}"):
        gw.import_tasks(3, TASKS)
    assert len(ls.seen) == 1


@pytest.mark.parametrize("body", [{"task_count": 2}, {"task_ids": [41]},
                                  {"task_ids": [41, "x"]}, {"import": 7}])
def test_an_answer_without_every_id_is_an_error(gw, ls, body):
    ls.on("POST", PATH, Reply(201, body))
    with pytest.raises(LabelStudioUnavailable, match="task_ids"):
        gw.import_tasks(3, TASKS)


def test_no_server_is_an_error(ls):
    gw = make_gateway("http://127.0.0.1:9", TOKEN, timeout=2.0, max_retries=0)
    with pytest.raises(LabelStudioUnavailable, match="import_tasks .*cannot reach"):
        gw.import_tasks(3, TASKS)
