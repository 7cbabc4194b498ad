"""``labelloop stream``: a JSON-lines file posted in batches — lines not JSON reported by number
and skipped, refused items by line, key and field, retries on connection errors and 5xx that
never store an item twice, batches over the body limit split — against the app in process and
against a real server on loopback with basic auth."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from labelloop.api.app import Overrides, create_app
from labelloop.cli.main import main
from labelloop.cli.serve import uvicorn_options
from labelloop.cli.stream import Sender, StreamFailed, Summary, post_file
from labelloop.events.projects import record_project
from labelloop.storage.base import Storage, open_storage
from tests.conftest import CONFIG, make_settings
from tests.dashboard.browser import free_port


def write_lines(path: Path, n: int, *, bad_lines: dict[int, str] | None = None,
                start: int = 0) -> Path:
    lines = [json.dumps({"key": f"k{i}", "data": {"text": f"text {i}"}})
             for i in range(start, start + n)]
    for number, text in (bad_lines or {}).items():
        lines.insert(number - 1, text)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stored_keys(storage: Storage) -> list[str]:
    with storage.read() as tx:
        return [i.key for i in tx.get_stream_items(1)]


@pytest.fixture
def app_client(client_factory):
    # decided in the request: these tests count the answers' selections
    client = client_factory(stream_budget="0.5", max_body_bytes=8_000, stream_decide="ingest")
    with client.app.state.services.storage.write() as tx:
        record_project(tx, 1, label_config=CONFIG)
    return client


class Flaky:
    """A client whose first requests fail as ``fail`` says — "refused" (a connection error) or
    "lost" (stored, then a 503: the answer lost) — and then pass to ``inner`` (Starlette's
    TestClient, which speaks httpx2: the stand-in keeps to what :class:`Sender` calls)."""

    def __init__(self, inner, fail: list[str]) -> None:
        self.inner, self.fail, self.calls = inner, list(fail), 0

    def post(self, path: str, json: object) -> object:
        self.calls += 1
        what = self.fail.pop(0) if self.fail else None
        request = httpx.Request("POST", f"http://testserver{path}")
        if what == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        response = self.inner.post(path, json=json)
        if what == "lost":
            return httpx.Response(503, json={"error": "storage_error", "message": "lost"},
                                  request=request)
        return response


def flaky_client(app_client, fail: list[str]) -> tuple[Flaky, Flaky]:
    client = Flaky(app_client, fail)
    return client, client


def test_lines_not_json_and_bad_items_are_reported_by_line(app_client, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.jsonl", 30, bad_lines={
        3: "{oops", 10: json.dumps({"key": "bad", "data": {"title": "no text"}}),
        20: json.dumps({"key": "k0", "data": {"text": "again"}})})
    sender = Sender(app_client, 1, sleep=lambda _s: None)
    seen: list[int] = []
    summary = post_file(path, sender, batch=7, progress=seen.append)
    assert summary.skipped and summary.skipped[0].startswith("line 3: not JSON")
    assert summary.bad == [("line 10 (key 'bad'): data.text: the project's text: a non-empty "
                            "string, got missing")]
    assert (summary.received, summary.duplicates) == (30, 1)
    assert sum(seen) == 33 and summary.requests == 5  # 32 JSON lines in batches of 7
    assert sorted(stored_keys(app_client.app.state.services.storage)) == sorted(
        f"k{i}" for i in range(30))
    assert 0 < summary.selected < 30


def test_retries_never_store_an_item_twice(app_client, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.jsonl", 20)
    client, transport = flaky_client(app_client, ["refused", "lost", "refused"])
    pauses: list[float] = []
    summary = post_file(path, Sender(client, 1, sleep=pauses.append), batch=10)
    # batch 1: refused, then stored with its answer lost, then taken again as duplicates
    assert (summary.received, summary.duplicates, summary.retries) == (10, 10, 3)
    assert pauses == [0.5, 1.0, 2.0] and transport.calls == 5
    keys = stored_keys(app_client.app.state.services.storage)
    assert sorted(keys) == sorted(f"k{i}" for i in range(20)) and len(keys) == 20


def test_a_server_that_stays_down_stops_the_run(app_client, tmp_path: Path) -> None:
    client, _ = flaky_client(app_client, ["refused"] * 3)
    with pytest.raises(StreamFailed, match="after 3 attempts"):
        post_file(write_lines(tmp_path / "t.jsonl", 5), Sender(client, 1, retries=3,
                                                               sleep=lambda _s: None), batch=5)
    with pytest.raises(StreamFailed, match="HTTP 404"):
        post_file(write_lines(tmp_path / "t.jsonl", 5), Sender(app_client, 9), batch=5)


def test_a_batch_over_the_body_limit_is_split(app_client, tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps({"key": f"b{i}", "data": {"text": "w " * 500}}) + "\n"
                            for i in range(12)) + json.dumps(
        {"key": "huge", "data": {"text": "x" * 9_000}}) + "\n", encoding="utf-8")
    summary = post_file(path, Sender(app_client, 1), batch=13)
    assert summary.received == 12 and len(summary.bad) == 1
    assert summary.bad[0].startswith("line 13: request body larger than the limit")


@contextmanager
def serving(tmp_path: Path, storage: Storage, **kw: object) -> Iterator[str]:
    import uvicorn

    settings = make_settings(tmp_path, host="127.0.0.1", port=free_port(), **kw)
    app = create_app(settings, Overrides(storage=storage, start_worker=False))
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_command_against_a_live_server(tmp_path: Path, capsys) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'served.db'}")
    with storage.write() as tx:
        record_project(tx, 1, label_config=CONFIG)
    path = write_lines(tmp_path / "t.jsonl", 250)
    try:
        with serving(tmp_path, storage, basic_auth_user="u", basic_auth_password="p",
                     stream_budget="0.1") as url:
            args = ["stream", "--project", "1", "--data", str(path), "--url", url,
                    "--batch", "100"]
            assert main([*args, "--user", "u", "--password", "wrong", "--no-progress"]) == 1
            assert "HTTP 401" in capsys.readouterr().err
            assert main([*args, "--user", "u", "--password", "p"]) == 0
            out, err = capsys.readouterr()
            # deferred decisions (the default): stored, a job decides them
            assert out.startswith("received 250, selected 0, deciding 250, duplicates 0")
            assert "bad items 0" in out
            assert "250/250" in err  # the progress bar
            assert main([*args, "--user", "u", "--password", "p", "--no-progress"]) == 0
            assert capsys.readouterr().out.startswith(
                "received 0, selected 0, deciding 0, duplicates 250")
            path.write_text("not json\n", encoding="utf-8")
            assert main([*args, "--user", "u", "--password", "p", "--no-progress"]) == 1
            out, err = capsys.readouterr()
            assert "line 1: not JSON" in err and "lines not JSON 1" in out
        assert len(stored_keys(storage)) == 250
    finally:
        storage.close()


def test_summary_line() -> None:
    s = Summary(received=3, selected=1, duplicates=2, bad=["x"], skipped=[])
    assert s.line() == "received 3, selected 1, duplicates 2, bad items 1, lines not JSON 0"
    s = Summary(received=3, selected=0, duplicates=2, deciding=3)
    assert s.line() == ("received 3, selected 0, deciding 3, duplicates 2, bad items 0, lines "
                        "not JSON 0")
