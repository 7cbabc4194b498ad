"""SdkGateway against a scripted HTTP server on loopback (no Label Studio needed).

The server answers each request with the next scripted response for its method and path, and
records what it received, so these tests see the real bytes the SDK's httpx client sends. The
behaviour of the real Label Studio is pinned in tests/e2e/test_label_studio_facts.py.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from labelloop.errors import LabelStudioUnavailable
from labelloop.labelstudio.client import SdkGateway, make_gateway

TOKEN = "s3cret-token-0123456789"


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    raw: bytes | None = None  # sent as is instead of JSON
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class ScriptedLS:
    """Replies keyed by (method, path); the last reply of a key repeats once the others ran."""

    url: str = ""
    replies: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self.replies[(method, path)] = list(replies)

    def answer(self, method: str, path: str) -> Reply:
        queue = self.replies.get((method, path))
        if not queue:
            return Reply(404, {"detail": "Not found."})
        return queue.pop(0) if len(queue) > 1 else queue[0]


def _handler(ls: ScriptedLS) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            ls.seen.append(
                Seen(
                    self.command,
                    parts.path,
                    {k: v[-1] for k, v in parse_qs(parts.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
            )
            reply = ls.answer(self.command, parts.path)
            time.sleep(reply.delay)
            payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def ls() -> Iterator[ScriptedLS]:
    script = ScriptedLS()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    script.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield script
    server.shutdown()
    server.server_close()


@pytest.fixture
def gw(ls: ScriptedLS) -> SdkGateway:
    return make_gateway(ls.url, TOKEN, timeout=5.0, max_retries=0)


def _tasks(ids: range) -> list[dict[str, Any]]:
    return [{"id": i, "data": {"text": f"t{i}"}, "annotations": []} for i in ids]


def _page(ids: range, total: int) -> Reply:
    return Reply(200, {"tasks": _tasks(ids), "total": total})


# --- pagination ------------------------------------------------------------------------------


def _query(seen) -> dict:
    return json.loads(seen.query["query"])


def test_iter_tasks_walks_keyset_pages_with_fields_all(gw, ls):
    ls.on("GET", "/api/tasks/", _page(range(1, 4), 6), _page(range(4, 7), 6), _page(range(7, 7), 6))
    ids = [t["id"] for t in gw.iter_tasks(7, page_size=3)]
    assert ids == [1, 2, 3, 4, 5, 6]
    assert [{k: v for k, v in s.query.items() if k != "query"} for s in ls.seen] == [
        {"project": "7", "fields": "all", "page": "1", "page_size": "3"}] * 3
    # each page asks for the tasks after the last one seen, in id order
    assert _query(ls.seen[0]) == {"ordering": ["tasks:id"]}
    assert [_query(s)["filters"]["items"][0] for s in ls.seen[1:]] == [
        {"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": v}
        for v in (3, 6)]


def test_iter_tasks_resumes_after_a_task_id(gw, ls):
    ls.on("GET", "/api/tasks/", _page(range(41, 43), 2))
    assert [t["id"] for t in gw.iter_tasks(1, page_size=3, after_id=40)] == [41, 42]
    assert _query(ls.seen[0])["filters"]["items"][0]["value"] == 40


def test_iter_tasks_stops_on_a_short_page(gw, ls):
    ls.on(
        "GET", "/api/tasks/", _page(range(1, 4), 5), _page(range(4, 6), 5), _page(range(9, 10), 9)
    )
    assert [t["id"] for t in gw.iter_tasks(1, page_size=3)] == [1, 2, 3, 4, 5]
    assert len(ls.seen) == 2


def test_iter_tasks_refuses_a_page_that_ignored_the_id_filter(gw, ls):
    # a server that ignores the query would hand back page 1 again: never loop, never skip
    ls.on("GET", "/api/tasks/", _page(range(1, 4), 7), _page(range(1, 4), 7))
    with pytest.raises(LabelStudioUnavailable, match="id filter or ordering was not applied"):
        list(gw.iter_tasks(1, page_size=3))


def test_iter_tasks_unknown_project_raises(gw, ls):
    ls.on("GET", "/api/tasks/", Reply(404, {"detail": "Not found."}))
    with pytest.raises(LabelStudioUnavailable, match=r"iter_tasks .*GET /api/tasks/.* 404"):
        list(gw.iter_tasks(1))


def test_iter_tasks_rejects_a_page_without_tasks(gw, ls):
    ls.on("GET", "/api/tasks/", Reply(200, [{"id": 1}]))
    with pytest.raises(LabelStudioUnavailable, match="no 'tasks' list"):
        list(gw.iter_tasks(1))


def test_iter_tasks_rejects_page_size_zero(gw):
    with pytest.raises(ValueError, match="page_size"):
        list(gw.iter_tasks(1, page_size=0))


# --- one call each ---------------------------------------------------------------------------


def test_calls_send_the_legacy_token_header(gw, ls):
    ls.on("GET", "/api/projects/3/", Reply(200, {"id": 3, "sampling": "Sequential sampling"}))
    assert gw.get_project(3) == {"id": 3, "sampling": "Sequential sampling"}
    assert ls.seen[0].headers["authorization"] == f"Token {TOKEN}"


def test_import_predictions_posts_the_list_and_returns_created(gw, ls):
    ls.on("POST", "/api/projects/3/import/predictions", Reply(201, {"created": 2}))
    preds = [
        {"task": 10, "result": [], "score": 0.1, "model_version": "v1"},
        {"task": 11, "result": [], "score": 0.2, "model_version": "v1"},
    ]
    assert gw.import_predictions(3, preds) == 2
    assert ls.seen[0].body == preds


def test_import_predictions_of_nothing_makes_no_call(gw, ls):
    assert gw.import_predictions(3, []) == 0
    assert ls.seen == []


def test_import_predictions_is_not_retried(ls):
    gw = make_gateway(ls.url, TOKEN, timeout=5.0, max_retries=2)  # retries on for other calls
    ls.on("POST", "/api/projects/3/import/predictions", Reply(500, {"detail": "boom"}))
    with pytest.raises(LabelStudioUnavailable, match=r"import_predictions .* answered 500: .*boom"):
        gw.import_predictions(3, [{"task": 1, "result": [], "model_version": "v"}])
    assert len(ls.seen) == 1


def test_update_project_patches_the_fields(gw, ls):
    ls.on("PATCH", "/api/projects/3/", Reply(200, {"id": 3, "model_version": "v2"}))
    out = gw.update_project(3, model_version="v2", sampling="Uncertainty sampling")
    assert out["model_version"] == "v2"
    assert ls.seen[0].body == {"model_version": "v2", "sampling": "Uncertainty sampling"}


def test_list_model_versions(gw, ls):
    ls.on("GET", "/api/projects/3/model-versions/", Reply(200, {"v1": 6, "v2": 0}))
    assert gw.list_model_versions(3) == {"v1": 6, "v2": 0}


def test_delete_model_version_sends_a_json_body_with_delete(gw, ls):
    ls.on("DELETE", "/api/projects/3/model-versions/", Reply(200, {"deleted_predictions": 4}))
    assert gw.delete_model_version(3, "v1") is None
    assert gw.delete_model_version_count(3, "v1") == 4
    assert ls.seen[0].body == {"model_version": "v1"}
    with pytest.raises(ValueError):
        gw.delete_model_version(3, "")


def test_next_task_serves_a_task(gw, ls):
    ls.on("GET", "/api/projects/3/next/", Reply(200, {"id": 12, "data": {"text": "a"}}))
    assert gw.next_task(3) == {"id": 12, "data": {"text": "a"}}


def test_next_task_is_none_when_the_queue_is_empty(gw, ls):
    detail = {"status_code": 404, "detail": "There are no tasks for admin@example.com"}
    ls.on("GET", "/api/projects/3/next/", Reply(404, detail))
    assert gw.next_task(3) is None


def test_next_task_of_an_unknown_project_raises(gw, ls):
    detail = {"status_code": 404, "detail": "No Project matches the given query."}
    ls.on("GET", "/api/projects/3/next/", Reply(404, detail))
    with pytest.raises(LabelStudioUnavailable, match="next_task"):
        gw.next_task(3)


# --- error mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 502])
def test_error_statuses_name_the_call_and_never_the_token(gw, ls, status, caplog):
    caplog.set_level(logging.DEBUG)
    ls.on("GET", "/api/projects/3/", Reply(status, {"detail": "nope"}))
    with pytest.raises(LabelStudioUnavailable) as info:
        gw.get_project(3)
    msg = str(info.value)
    assert f"get_project (GET /api/projects/3/) answered {status}" in msg
    assert info.value.detail["status"] == status
    assert TOKEN not in msg + repr(info.value.detail) + caplog.text + repr(gw)


def test_unauthorized_says_what_to_check(gw, ls):
    ls.on("GET", "/api/projects/3/", Reply(401, {"detail": "Invalid token."}))
    with pytest.raises(LabelStudioUnavailable, match="LABEL_STUDIO_API_KEY"):
        gw.get_project(3)


def test_server_errors_are_retried_when_asked(ls):
    gw = make_gateway(ls.url, TOKEN, timeout=5.0, max_retries=1)
    ls.on("GET", "/api/projects/3/", Reply(503, {}), Reply(200, {"id": 3}))
    assert gw.get_project(3) == {"id": 3}
    assert len(ls.seen) == 2


def test_a_body_that_is_not_json_is_an_error(gw, ls):
    ls.on("GET", "/api/projects/3/", Reply(200, raw=b"<html>login</html>"))
    with pytest.raises(LabelStudioUnavailable, match="not JSON"):
        gw.get_project(3)


def test_a_timeout_is_an_error(ls):
    gw = make_gateway(ls.url, TOKEN, timeout=0.3, max_retries=0)
    ls.on("GET", "/api/projects/3/next/", Reply(200, {"id": 1}, delay=1.5))
    with pytest.raises(
        LabelStudioUnavailable, match=r"next_task \(GET /api/projects/3/next/\) timed"
    ):
        gw.next_task(3)


def test_bulk_prediction_calls_wait_for_the_slow_timeout(ls):
    gw = make_gateway(ls.url, TOKEN, timeout=0.3, max_retries=0, slow_timeout=5.0)
    ls.on(
        "DELETE", "/api/projects/3/model-versions/", Reply(200, {"deleted_predictions": 9}, delay=1)
    )
    ls.on("POST", "/api/projects/3/import/predictions", Reply(201, {"created": 1}, delay=1))
    assert gw.delete_model_version_count(3, "v1") == 9
    assert gw.import_predictions(3, [{"task": 1, "result": [], "model_version": "v1"}]) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "call",
    [
        lambda g: g.get_project(1),
        lambda g: list(g.iter_tasks(1)),
        lambda g: g.import_predictions(1, [{"task": 1, "result": []}]),
        lambda g: g.update_project(1, sampling="Uniform sampling"),
        lambda g: g.list_model_versions(1),
        lambda g: g.delete_model_version(1, "v"),
        lambda g: g.next_task(1),
    ],
)
def test_no_server_is_an_error_for_every_call(call, caplog):
    caplog.set_level(logging.DEBUG)
    gw = make_gateway(f"http://127.0.0.1:{_closed_port()}", TOKEN, timeout=2.0, max_retries=0)
    with pytest.raises(LabelStudioUnavailable, match="cannot reach http://127.0.0.1") as info:
        call(gw)
    assert info.value.status == 503
    assert TOKEN not in str(info.value) + caplog.text


def test_make_gateway_needs_url_and_key():
    with pytest.raises(LabelStudioUnavailable, match="URL"):
        make_gateway("", TOKEN)
    with pytest.raises(LabelStudioUnavailable, match="API key"):
        make_gateway("http://127.0.0.1:1", "")


def test_make_gateway_refuses_an_expired_access_token():
    jwt = pytest.importorskip("jwt")
    expired = jwt.encode({"exp": 1, "token_type": "refresh"}, "k" * 32, algorithm="HS256")
    with pytest.raises(LabelStudioUnavailable, match="expired"):
        make_gateway("http://127.0.0.1:1", expired)
