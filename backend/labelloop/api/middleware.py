"""ASGI middleware: request metrics, body size limit and optional basic auth, on every
endpoint."""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from labelloop.metrics.requests import UNMATCHED, AppMetrics
from labelloop.settings import Settings

Scope = dict[str, Any]


async def _send_json(send: Any, status: int, code: str, message: str,
                     extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": code, "message": message}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())] + (extra_headers or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Answer 413 for bodies over ``limit`` bytes, by Content-Length or while streaming."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        msg = f"request body larger than the limit of {self.limit} bytes (LABELLOOP_MAX_BODY_BYTES)"
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _send_json(send, 413, "payload_too_large", msg)
            return
        received = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge()
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_json(send, 413, "payload_too_large", msg)


class _TooLarge(Exception):
    pass


class BasicAuthMiddleware:
    """Require HTTP basic auth on every request when a user is configured."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        password = settings.basic_auth_password.get_secret_value() \
            if settings.basic_auth_password else ""
        self.expected = f"{settings.basic_auth_user}:{password}".encode()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        if not self._ok(header):
            await _send_json(send, 401, "unauthorized", "basic auth required",
                             [(b"www-authenticate", b'Basic realm="labelloop"')])
            return
        await self.app(scope, receive, send)

    def _ok(self, header: bytes) -> bool:
        scheme, _, value = header.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            given = base64.b64decode(value.strip(), validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(given, self.expected)


class RequestMetricsMiddleware:
    """Count every HTTP request by route template and status, and time webhooks.

    Installed outermost, so requests the other middleware refuses (401, 413) are counted too. The
    route is read from the scope after the app has answered (the router records it there), so
    the ``handler`` label is a template such as ``/api/projects/{project_id}/status``, never a
    raw path with ids in it.
    """

    def __init__(self, app: Any, metrics: AppMetrics,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self.metrics = metrics
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        status = 500  # unless an answer starts: an exception escaping the app becomes a 500

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            handler = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.metrics.observe(scope["method"], handler, status, self.clock() - started)
