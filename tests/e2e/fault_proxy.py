"""A small HTTP proxy on 127.0.0.1 that passes requests to a Label Studio and breaks chosen ones.

``FaultProxy(upstream).start()`` listens on a free loopback port (``.url``); each request is
forwarded to ``upstream`` and its answer passed back, unless it is the one :meth:`arm` chose,
which gets one of:

* ``500``: answered 500 at once, never forwarded (Label Studio does nothing);
* ``hang``: forwarded (Label Studio does the work), then the answer is held for ``hang_s`` and
  the connection closed without it: the client times out on a request that landed;
* ``drop``: the connection is closed before anything is forwarded or answered.

``log`` lists every request as ``"METHOD /path"``, in order.
"""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

ProxyFault = Literal["500", "hang", "drop"]
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection",
        "te", "trailer", "upgrade"}
_SET_HERE = _HOP | {"server", "date"}  # send_response writes its own


class FaultProxy:
    def __init__(self, upstream: str, *, hang_s: float = 5.0) -> None:
        parts = urlsplit(upstream)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("the proxy only forwards to loopback")
        self.upstream = (parts.hostname, parts.port or 80)
        self.hang_s = hang_s
        self.log: list[str] = []
        self.faults: list[tuple[int, str, ProxyFault]] = []  # (request number, request, fault)
        self._fail_at = 0
        self._fault: ProxyFault = "500"
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def arm(self, fail_at: int, fault: ProxyFault) -> None:
        """Break the ``fail_at``-th request from now (1-based); 0 breaks none."""
        with self._lock:
            self._fail_at = len(self.log) + fail_at if fail_at else 0
            self._fault = fault

    def _take(self, request: str) -> ProxyFault | None:
        with self._lock:
            self.log.append(request)
            if self._fail_at and len(self.log) == self._fail_at:
                self.faults.append((len(self.log), request, self._fault))
                return self._fault
            return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy._take(f"{self.command} {self.path.split('?')[0]}")
                if fault == "drop":
                    self.close_connection = True
                    return
                if fault == "500":
                    self._answer(500, [("Content-Type", "application/json")],
                                 b'{"detail": "injected failure"}')
                    return
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=600)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                conn.close()
                if fault == "hang":  # the work is done; the answer never arrives
                    time.sleep(proxy.hang_s)
                    self.close_connection = True
                    return
                self._answer(answer.status, [(k, v) for k, v in answer.getheaders()
                                             if k.lower() not in _SET_HERE], data)

            def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        return Handler
