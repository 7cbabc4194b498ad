"""A client that goes away mid-body (a dropped connection, a timeout on its side) is not an
error of labelloop's: no 500 counted in /metrics, no traceback logged at ERROR."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient


def _send_half_a_body(client: TestClient,
                      path: str) -> tuple[list[dict[str, Any]], Exception | None]:
    """POST ``path`` straight through ASGI: half a body, then the client disconnects. What the
    app sent, and what escaped it (the server logs that as an error)."""
    messages = [{"type": "http.request", "body": b'{"action": "PRO', "more_body": True},
                {"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "server": ("127.0.0.1", 9090),
             "client": ("127.0.0.1", 50000),
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"content-length", b"4096")]}
    try:
        client.portal.call(client.app, scope, receive, send)  # type: ignore[union-attr]
    except Exception as exc:  # noqa: BLE001 (what a server would log)
        return sent, exc
    return sent, None


@pytest.mark.parametrize("path", ["/webhook", "/predict", "/setup"])
def test_a_client_gone_mid_body_is_no_server_error(client: TestClient, path: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        sent, escaped = _send_half_a_body(client, path)
    assert escaped is None, repr(escaped)
    started = [m for m in sent if m["type"] == "http.response.start"]
    assert started and started[0]["status"] < 500, started
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], \
        [r.getMessage() for r in caplog.records]
    metrics = client.get("/metrics").text
    assert not [line for line in metrics.splitlines()
                if line.startswith("labelloop_http_requests_total") and 'status="5' in line], \
        metrics
