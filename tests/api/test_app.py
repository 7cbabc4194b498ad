"""create_app's start-up: what runs before the server answers its first request."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from labelloop.api import app as app_module
from labelloop.api.app import Overrides, create_app
from labelloop.loop.resources import preload_job_libraries
from tests.conftest import make_settings


def test_preload_reports_what_it_could_not_import() -> None:
    failed = preload_job_libraries(("json", "labelloop_no_such_module"))
    assert list(failed) == ["labelloop_no_such_module"]
    assert "ModuleNotFoundError" in failed["labelloop_no_such_module"]


def _start(tmp_path: Path, monkeypatch, **ov: object) -> list[str]:  # noqa: ANN001
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
                                                                monkeypatch) -> None:  # noqa: ANN001
    assert _start(tmp_path, monkeypatch, start_worker=True) == [
        "preload", "worker", "first request"]


def test_no_preload_without_an_in_process_worker(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    assert _start(tmp_path, monkeypatch, start_worker=False) == ["first request"]
    assert _start(tmp_path / "b", monkeypatch, start_worker=True,
                  preload_libraries=False) == ["worker", "first request"]
