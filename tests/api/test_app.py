"""create_app's start-up: what runs before the server answers its first request."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from tests.conftest import CONFIG, LOOPBACK_CLIENT, make_settings

from labelloop.api import app as app_module
from labelloop.api.app import Overrides, create_app
from labelloop.loop.resources import preload_job_libraries


def test_preload_reports_what_it_could_not_import() -> None:
    failed = preload_job_libraries(("json", "labelloop_no_such_module"))
    assert list(failed) == ["labelloop_no_such_module"]
    assert "ModuleNotFoundError" in failed["labelloop_no_such_module"]


def _start(tmp_path: Path, monkeypatch, **ov: object) -> list[str]:
    events: list[str] = []
    monkeypatch.setattr(app_module, "preload_job_libraries",
                        lambda: events.append("preload") or {})
    start = app_module.WorkerPool.start
    monkeypatch.setattr(app_module.WorkerPool, "start",
                        lambda self: (events.append("worker"), start(self))[1])
    app = create_app(make_settings(tmp_path), Overrides(**ov))
    with TestClient(app) as c:
        events.append("first request")
        assert c.get("/health").status_code == 200
    return events


def test_libraries_load_before_the_worker_and_the_first_request(tmp_path: Path,
                                                                monkeypatch) -> None:
    assert _start(tmp_path, monkeypatch, start_worker=True) == [
        "preload", "worker", "first request"]


def test_no_preload_without_an_in_process_worker(tmp_path: Path, monkeypatch) -> None:
    assert _start(tmp_path, monkeypatch, start_worker=False) == ["first request"]
    assert _start(tmp_path / "b", monkeypatch, start_worker=True,
                  preload_libraries=False) == ["worker", "first request"]


# --- who may call what: labelloop's own routes answer loopback clients only without basic auth

REMOTE = ("192.0.2.7", 50000)  # TEST-NET-1: a client on "the network"
GUARDED = [("GET", "/status"), ("GET", "/api/jobs"), ("GET", "/api/projects/1/status"),
           ("POST", "/api/projects/1/queue"), ("POST", "/api/projects/1/resync"),
           ("GET", "/api/projects/1/quality"), ("GET", "/api/projects/1/dashboard"),
           ("GET", "/"), ("GET", "/dashboard/static/dashboard.js"), ("GET", "/metrics"),
           ("GET", "/no/such/route")]
PROTOCOL = [("GET", "/health", None), ("GET", "/versions", None),
            ("POST", "/setup", {"project": "1.1700000000", "schema": CONFIG}),
            ("POST", "/predict", {"tasks": [{"id": 1, "data": {"text": "x"}}],
                                  "project": "1.1700000000", "label_config": CONFIG}),
            ("POST", "/webhook", {"action": "TASKS_CREATED", "project": {"id": 1},
                                  "tasks": [{"id": 4, "data": {"text": "x"}}]})]


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_own_routes_refuse_a_remote_client_without_basic_auth(client_factory, method: str,
                                                              path: str) -> None:
    r = client_factory(client=REMOTE).request(method, path, json={"scores": {"1": 0.5}})
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["error"] == "forbidden" and "192.0.2.7" in body["message"]
    assert "LABELLOOP_OPEN_API" in body["message"] and "127.0.0.0/8" in body["message"]


@pytest.mark.parametrize(("method", "path", "body"), PROTOCOL)
def test_label_studio_protocol_answers_a_remote_client(client_factory, method: str, path: str,
                                                       body: object) -> None:
    r = client_factory(client=REMOTE).request(method, path, json=body)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_clients_get_the_own_routes(client_factory, host: str) -> None:
    c = client_factory(client=(host, 50000))
    for path in ("/status", "/api/jobs", "/", "/metrics"):
        assert c.get(path).status_code == 200, (host, path)


@pytest.mark.parametrize("host", ["testclient", "10.0.0.1", "::2", "::ffff:10.0.0.1"])
def test_other_clients_do_not(client_factory, host: str) -> None:
    assert client_factory(client=(host, 50000)).get("/api/jobs").status_code == 403


@pytest.mark.parametrize("kw", [{"open_api": True},
                                {"api_allowed_networks": "127.0.0.0/8,192.0.2.0/24"},
                                {"basic_auth_user": "u", "basic_auth_password": "p"}])
def test_a_setting_opens_the_own_routes(client_factory, kw: dict) -> None:
    c = client_factory(client=REMOTE, **kw)
    auth = ("u", "p") if "basic_auth_user" in kw else None
    for method, path in GUARDED:
        r = c.request(method, path, auth=auth, json={"scores": {"1": 0.5}})
        # project 1 is not known and no such route exists: 404, answered by the app itself
        expected = 404 if "/projects/1/" in path or path == "/no/such/route" else 200
        assert r.status_code == expected, (path, r.text)


def test_basic_auth_still_guards_every_route_for_remote_clients(client_factory) -> None:
    c = client_factory(client=REMOTE, basic_auth_user="u", basic_auth_password="p")
    for path in ("/api/jobs", "/status", "/health", "/metrics"):
        assert c.get(path).status_code == 401, path


@pytest.mark.parametrize("password", [None, ""])
def test_a_basic_auth_user_without_a_password_refuses_to_start(tmp_path: Path,
                                                              password: str | None) -> None:
    """Else any client got in with "u:" (empty password) and the own API was no longer kept to
    loopback: GET /api/jobs with auth ("u", "") from 203.0.113.9 answered 200."""
    with pytest.raises(ValidationError, match="LABELLOOP_BASIC_AUTH_PASSWORD"):
        make_settings(tmp_path, basic_auth_user="u", basic_auth_password=password)


def test_status_and_the_start_up_log_say_who_may_call_what(client_factory, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="labelloop.api.app"):
        access = client_factory().get("/status").json()["access"]
    assert access["basic_auth"] is False and access["open_api"] is False
    assert access["own_api_networks"] == ["127.0.0.0/8", "::1/128"]
    assert "/predict" in access["open_to_every_client"] and "/status" not in \
        access["open_to_every_client"]
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("access:")]
    assert logged == [access["summary"]] and "127.0.0.0/8, ::1/128 only" in logged[0]
    opened = client_factory(client=REMOTE, open_api=True).get("/status").json()["access"]
    assert opened["own_api_networks"] is None and "open to every client" in opened["summary"]
    authed = client_factory(basic_auth_user="u", basic_auth_password="p").get(
        "/status", auth=("u", "p")).json()["access"]
    assert authed["basic_auth"] is True and authed["open_to_every_client"] == []


def test_a_refused_request_is_counted_in_the_metrics(client_factory) -> None:
    remote = client_factory(client=REMOTE)
    assert remote.get("/api/jobs").status_code == 403
    local = TestClient(remote.app, client=LOOPBACK_CLIENT)
    assert 'status="403"' in local.get("/metrics").text
