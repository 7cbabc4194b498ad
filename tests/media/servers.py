"""Loopback HTTP servers for the media fetcher's tests: real sockets, scripted answers.

``Loopback(routes)`` serves ``routes[path]`` (path without the query) in a background thread on
127.0.0.1 and a free port; a route gets the :class:`Req` and returns ``(status, headers, body)``
where ``body`` is bytes or an iterable of chunks (sent chunked, so a generator can stream without
a Content-Length or sleep between chunks). The server records every request (path, query,
headers), the body bytes it sent and the most requests it was answering at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit

Body = bytes | Iterable[bytes]
Answer = tuple[int, dict[str, str], Body]


@dataclass
class Req:
    path: str
    query: str
    headers: dict[str, str]


@dataclass
class Loopback:
    routes: dict[str, Callable[[Req], Answer]]
    requests: list[Req] = field(default_factory=list)
    body_bytes: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                req = Req(parts.path, parts.query, {k.lower(): v for k, v in self.headers.items()})
                with owner._lock:
                    owner.requests.append(req)
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                try:
                    route = owner.routes.get(parts.path)
                    status, headers, body = route(req) if route else (404, {}, b"")
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    if isinstance(body, bytes):
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        owner._count(len(body))
                        return
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for chunk in body:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                        owner._count(len(chunk))
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                finally:
                    with owner._lock:
                        owner.in_flight -= 1

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]

    def _count(self, n: int) -> None:
        with self._lock:
            self.body_bytes += n

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
