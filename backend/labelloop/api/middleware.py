"""ASGI middleware: request metrics, body size limit, and who may call what: basic auth on every
endpoint when configured, else labelloop's own API, dashboard and /metrics for allowed networks
only (loopback by default)."""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
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
        # a browser sends the credentials it has cached with a page of another site's form too
        why = None if scope["path"] in OPEN_PATHS else \
            browser_refusal(scope["method"], dict(scope.get("headers") or []), loopback=False)
        if why is not None:
            await _send_json(send, 403, "forbidden", why)
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


#: What Label Studio calls (its ML backend protocol), and the API's description: every client.
PROTOCOL_PATHS = ("/health", "/setup", "/predict", "/webhook", "/versions")
SPEC_PATHS = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
OPEN_PATHS = frozenset(PROTOCOL_PATHS + SPEC_PATHS)
Network = IPv4Network | IPv6Network


def client_allowed(client: Sequence[object] | None, networks: Sequence[Network]) -> bool:
    """Whether an ASGI ``client`` (host, port) is in one of ``networks``; a client without an IP
    address (none, a Unix socket, TestClient's "testclient") is not."""
    if not client:
        return False
    try:
        addr = ip_address(str(client[0]))
    except ValueError:
        return False
    if addr.version == 6 and addr.ipv4_mapped is not None:  # ::ffff:127.0.0.1 on a dual stack
        addr = addr.ipv4_mapped
    return any(addr in net for net in networks)


def guards_own_api(settings: Settings) -> bool:
    """Whether labelloop's own routes are limited to ``settings.api_allowed_networks``."""
    return not settings.basic_auth_user and not settings.open_api


def describe_access(settings: Settings) -> str:
    """Who may call what, in one sentence (start-up log and ``/status``)."""
    protocol = ", ".join(PROTOCOL_PATHS)
    if settings.basic_auth_user:
        return "access: basic auth required on every endpoint"
    if settings.open_api:
        return ("access: every endpoint open to every client (LABELLOOP_OPEN_API=true, no basic "
                "auth)")
    nets = ", ".join(settings.api_allowed_networks) or "no network"
    return (f"access: labelloop's own API (/api/..., /status), the dashboard and /metrics answer "
            f"clients in {nets} only (no basic auth; LABELLOOP_BASIC_AUTH_USER/_PASSWORD, "
            f"LABELLOOP_API_ALLOWED_NETWORKS or LABELLOOP_OPEN_API=true open them); "
            f"{protocol} answer every client")


def access_report(settings: Settings) -> dict[str, object]:
    """The access policy as data, for ``/status``."""
    guarded = guards_own_api(settings)
    return {
        "basic_auth": bool(settings.basic_auth_user),
        "open_api": settings.open_api,
        "own_api_networks": list(settings.api_allowed_networks) if guarded else None,
        "open_to_every_client": list(PROTOCOL_PATHS + SPEC_PATHS)
        if not settings.basic_auth_user else [],
        "trusted_proxies": list(settings.trusted_proxies),
        "summary": describe_access(settings),
    }


_CROSS_SITE = (b"cross-site", b"same-site")
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_LOOPBACK = (ip_network("127.0.0.0/8"), ip_network("::1/128"))


def _host_name(host: str) -> str:
    """The name in a Host header (``[::1]:9090`` → ``::1``, ``localhost:9090`` → ``localhost``)."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _names_this_machine(host: str) -> bool:
    """Whether a Host header names the server by address or as localhost: no DNS name an
    attacker could point at 127.0.0.1."""
    name = _host_name(host).rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: never leaves the host
        return True
    try:
        ip_address(name)
    except ValueError:
        return False
    return True


def browser_refusal(method: str, headers: dict[bytes, bytes], *, loopback: bool) -> str | None:
    """Why a request from an allowed client is still refused, or None: a browser on this
    machine (or network) carries it for a page of another site. Without basic auth the
    client's address is the only check, and a browser's requests come from that address:

    * a page of another site posting to the own API (cross-site request forgery: a "simple"
      POST needs no preflight), seen by ``Sec-Fetch-Site`` or an ``Origin`` other than the host
      (a GET changes nothing and its answer stays unreadable to that page: a link from Label
      Studio's page to the dashboard still opens it);
    * a page whose DNS name was pointed at 127.0.0.1 (DNS rebinding: it is then same-origin and
      reads the answers), seen by a browser's request from a ``loopback`` client naming the
      server by a DNS name (clients of a widened LABELLOOP_API_ALLOWED_NETWORKS may use names).

    Clients that are not browsers (no ``Sec-Fetch-*``, no ``Origin``) are not concerned."""
    site = headers.get(b"sec-fetch-site")
    origin = headers.get(b"origin")
    host = headers.get(b"host", b"").decode("latin-1")
    if method not in _SAFE_METHODS and (site in _CROSS_SITE or (
            origin is not None
            and origin.decode("latin-1").partition("://")[2].lower() != host.lower())):
        return ("refused: a request from a page of another site (Origin / Sec-Fetch-Site). "
                "labelloop's own API, dashboard and /metrics answer their own pages only.")
    browser = site is not None or headers.get(b"sec-fetch-mode") is not None
    if browser and loopback and not _names_this_machine(host):
        return (f"refused: a browser asked for Host {host[:100]!r}, a name that is not this "
                f"machine's address or localhost (DNS rebinding). Open the dashboard as "
                f"http://127.0.0.1:<port>/ or http://localhost:<port>/, or set basic auth.")
    return None


class ClientNetworkMiddleware:
    """Without basic auth: answer 403 to clients outside ``settings.api_allowed_networks`` on
    everything but the Label Studio protocol and the API description.

    The client is the ASGI ``client``: the TCP peer, or what a trusted proxy's X-Forwarded-For
    says when ``labelloop serve`` was told to trust that proxy (LABELLOOP_TRUSTED_PROXIES).
    """

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.networks: tuple[Network, ...] = tuple(
            ip_network(n, strict=False) for n in settings.api_allowed_networks)
        self.allowed = ", ".join(settings.api_allowed_networks) or "no network"

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if client_allowed(scope.get("client"), self.networks):
            why = browser_refusal(scope["method"], dict(scope.get("headers") or []),
                                  loopback=client_allowed(scope.get("client"), _LOOPBACK))
            if why is None:
                await self.app(scope, receive, send)
            else:
                await _send_json(send, 403, "forbidden", why)
            return
        client = scope.get("client")
        who = f"client {client[0]}" if client else "a client without an address"
        await _send_json(
            send, 403, "forbidden",
            f"{who} is not in {self.allowed}: with basic auth off, labelloop's own API, "
            f"dashboard and /metrics answer these networks only (the Label Studio protocol "
            f"endpoints answer everyone). Set LABELLOOP_BASIC_AUTH_USER/_PASSWORD, or widen "
            f"LABELLOOP_API_ALLOWED_NETWORKS, or LABELLOOP_OPEN_API=true.")


class RequestMetricsMiddleware:
    """Count every HTTP request by route template and status, and time webhooks.

    Installed outermost, so requests the other middleware refuses (401, 403, 413) are counted
    too. The route is read from the scope after the app has answered (the router records it), so
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
