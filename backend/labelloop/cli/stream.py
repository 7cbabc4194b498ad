"""``labelloop stream``: post a JSON-lines file of production traffic to a running labelloop.

Each line is one item as ``POST /api/projects/{id}/stream`` takes it (``{"key", "data",
"prediction"?, "feedback"?, "correction"?}``); a line that is not JSON is reported with its
number and skipped. Items go out in batches (``--batch``); a batch whose answer did not come
(connection error, 5xx, 429) is sent again after a pause — safe, since an item is stored once per
key. A batch over the server's body limit (413) is split in two until it fits. Items the server
refuses (422) are reported with their line number, key, field and why; the others were taken.
Progress goes to stderr, the summary (received, selected, duplicates, bad items) to stdout;
the exit code is 0 when every line was taken, 1 otherwise.

Basic auth: ``--user``/``--password``, else the server's own settings
(``LABELLOOP_BASIC_AUTH_USER``/``_PASSWORD``), as ``labelloop healthcheck`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO
from urllib.parse import urlsplit

from labelloop.cli.common import settings_from
from labelloop.cli.healthcheck import health_url

if TYPE_CHECKING:  # imported when the command runs: every command's parser is built at start
    import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stream", help="post production traffic (JSON lines) to a running labelloop",
        description="Post the items of a JSON-lines file to POST /api/projects/ID/stream in "
                    "batches, with retries; print what was received, selected and refused.")
    p.add_argument("--project", type=int, required=True, help="the Label Studio project id")
    p.add_argument("--data", type=Path, required=True,
                   help='JSON lines, one item a line: {"key", "data", "prediction"?, '
                        '"feedback"?, "correction"?}')
    p.add_argument("--url", default=None,
                   help="labelloop's address (default: this machine's `labelloop serve`, "
                        "from LABELLOOP_HOST/LABELLOOP_PORT)")
    p.add_argument("--batch", type=int, default=100, help="items per request (default 100)")
    p.add_argument("--user", default=None, help="basic auth user (default "
                                                "LABELLOOP_BASIC_AUTH_USER)")
    p.add_argument("--password", default=None, help="basic auth password (default "
                                                    "LABELLOOP_BASIC_AUTH_PASSWORD)")
    p.add_argument("--retries", type=int, default=8,
                   help="attempts per batch on connection errors and 5xx (default 8)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


class HttpClient(Protocol):
    """What :class:`Sender` needs of a client (an ``httpx.Client`` with the base URL set)."""

    def post(self, url: str, *, json: Any) -> httpx.Response: ...


class StreamFailed(RuntimeError):
    """The server refused in a way sending again cannot fix (401, 404, a whole-batch 422)."""


@dataclass
class Summary:
    received: int = 0
    selected: int = 0
    duplicates: int = 0
    bad: list[str] = field(default_factory=list)  # "line N (key K): field: message"
    skipped: list[str] = field(default_factory=list)  # lines that are not JSON
    requests: int = 0
    retries: int = 0
    deciding: int | None = None  # deferred decisions: items stored for the job to decide

    def line(self) -> str:
        waiting = "" if self.deciding is None else f", deciding {self.deciding}"
        return (f"received {self.received}, selected {self.selected}{waiting}, duplicates "
                f"{self.duplicates}, bad items {len(self.bad)}, lines not JSON "
                f"{len(self.skipped)}")


@dataclass(frozen=True)
class Line:
    number: int
    item: Any


def read_lines(path: Path, summary: Summary) -> Iterator[Line]:
    """The file's items; blank lines are passed over, lines not JSON noted in ``summary``."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                yield Line(number, json.loads(raw.decode("utf-8")))
            except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
                summary.skipped.append(f"line {number}: not JSON ({str(exc)[:120]})")


class Sender:
    """Posts batches to one project's stream with retries; adds answers to a :class:`Summary`."""

    def __init__(self, client: HttpClient, project_id: int, *, retries: int = 8,
                 backoff_s: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.path = f"/api/projects/{project_id}/stream"
        self.retries = max(1, retries)
        self.backoff_s = backoff_s
        self.sleep = sleep

    def send(self, lines: list[Line], summary: Summary) -> None:
        if not lines:
            return
        r = self._post({"items": [ln.item for ln in lines]}, summary)
        if r.status_code == 413 and len(lines) > 1:  # over the body or batch limit: halve it
            half = len(lines) // 2
            self.send(lines[:half], summary)
            self.send(lines[half:], summary)
            return
        body = _json(r)
        if r.status_code == 413:
            summary.bad.append(f"line {lines[0].number}: {_message(r, body)}")
            return
        if r.status_code not in (200, 422) or (r.status_code == 422 and "errors" not in body):
            raise StreamFailed(f"{r.request.url}: HTTP {r.status_code}: {_message(r, body)}")
        summary.received += int(body.get("received", 0))
        summary.selected += len(body.get("selected", []))
        summary.duplicates += int(body.get("duplicates", 0))
        if "deciding" in body:
            summary.deciding = (summary.deciding or 0) + int(body["deciding"])
        for e in body.get("errors", []):
            idx = e.get("index")
            number = lines[idx].number if isinstance(idx, int) and 0 <= idx < len(lines) else "?"
            key = f" (key {e['key']!r})" if e.get("key") is not None else ""
            summary.bad.append(f"line {number}{key}: {e.get('field')}: {e.get('message')}")

    def _post(self, payload: dict[str, Any], summary: Summary) -> httpx.Response:
        import httpx

        for attempt in range(1, self.retries + 1):
            summary.requests += 1
            try:
                r = self.client.post(self.path, json=payload)
            except httpx.TransportError as exc:
                why = f"{type(exc).__name__}: {exc}"
            else:
                if r.status_code not in RETRY_STATUSES:
                    return r
                why = f"HTTP {r.status_code}"
            if attempt == self.retries:
                raise StreamFailed(f"gave up after {attempt} attempts: {why}")
            summary.retries += 1
            self.sleep(min(30.0, self.backoff_s * 2 ** (attempt - 1)))
        raise AssertionError("unreachable")


def _json(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message(r: httpx.Response, body: dict[str, Any]) -> str:
    return str(body.get("message") or r.text[:300])


def post_file(path: Path, sender: Sender, *, batch: int, summary: Summary | None = None,
              progress: Callable[[int], object] = lambda n: None) -> Summary:
    """Send every item of ``path`` in batches of ``batch``; ``progress(lines)`` after each
    batch (the lines it holds and the lines not JSON before it)."""
    summary = summary if summary is not None else Summary()
    pending: list[Line] = []
    shown = sent = 0

    def flush() -> None:
        nonlocal pending, shown, sent
        sender.send(pending, summary)
        sent += len(pending)
        pending = []
        progress(sent + len(summary.skipped) - shown)
        shown = sent + len(summary.skipped)

    for line in read_lines(path, summary):
        pending.append(line)
        if len(pending) >= batch:
            flush()
    flush()
    return summary


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for raw in f if raw.strip())


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def run(args: argparse.Namespace) -> int:
    import httpx
    from tqdm import tqdm

    settings = settings_from(args)
    url = args.url or health_url(settings).removesuffix("/health")
    user = args.user or settings.basic_auth_user
    password = args.password if args.password is not None else (
        settings.basic_auth_password.get_secret_value() if settings.basic_auth_password else "")
    auth = httpx.BasicAuth(user, password) if user else None
    if not args.data.is_file():
        print(f"error: {args.data}: no such file", file=sys.stderr)
        return 2
    bar = tqdm(total=_count_lines(args.data), unit="item", disable=args.no_progress,
               file=sys.stderr)
    # no proxy for a local server: one from the environment would get the password
    with httpx.Client(base_url=url, auth=auth, timeout=args.timeout,
                      trust_env=not _loopback(url)) as client:
        sender = Sender(client, args.project, retries=args.retries)
        summary = Summary()
        try:
            post_file(args.data, sender, batch=max(1, args.batch), summary=summary,
                      progress=bar.update)
        except StreamFailed as exc:
            bar.close()
            report(summary, sys.stderr)
            print(f"error: {exc}", file=sys.stderr)
            print(f"{summary.line()} (stopped early)")
            return 1
    bar.close()
    report(summary, sys.stderr)
    print(summary.line())
    return 0 if not (summary.bad or summary.skipped) else 1


def report(summary: Summary, out: TextIO, *, limit: int = 50) -> None:
    """The refused items and skipped lines (the first ``limit`` of each)."""
    for what in (summary.skipped, summary.bad):
        for entry in what[:limit]:
            print(entry, file=out)
        if len(what) > limit:
            print(f"... and {len(what) - limit} more", file=out)
