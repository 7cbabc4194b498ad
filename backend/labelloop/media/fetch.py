"""MediaFetcher: the bytes behind a task's media value, fetched safely (docs/architecture.md,
"Media").

Every value form Label Studio stores is resolved by :mod:`labelloop.media.urls`; the hosts a
request may reach are decided by :mod:`labelloop.media.guard`. ``Authorization: Token <key>`` is
sent only to the configured Label Studio origin, and only while a redirect chain has not left
it; redirects are followed here (at most 5), each hop checked again. Bodies are streamed and cut
at ``LABELLOOP_MEDIA_MAX_BYTES``; the bytes must be what the caller expects (magic numbers); a
disk cache with ETag/Last-Modified revalidation means a retrain downloads nothing twice.

A value that gives no bytes is a :class:`MediaSkip` (logged with its reason): ``fetch`` raises
it as :class:`MediaSkipped` (an item error for jobs), ``fetch_many`` returns it in place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import DefaultCookiePolicy
from types import TracebackType
from typing import Self

import httpx

from labelloop.media.cache import MediaCache
from labelloop.media.guard import HostPolicy, PinnedTransport, Refused
from labelloop.media.sniff import sniff, wrong_kind
from labelloop.media.types import Media, MediaKind, MediaSkip, MediaSkipped, SkipCode, short
from labelloop.media.urls import DataTarget, HttpTarget, LabelStudio, Origin, redact, resolve
from labelloop.settings import Settings

log = logging.getLogger(__name__)
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 64 * 1024


class _Skip(Exception):
    def __init__(self, code: SkipCode, reason: str) -> None:
        super().__init__(reason)
        self.code: SkipCode = code
        self.reason = reason


class MediaFetcher:
    """Thread-safe; one per process (or per job) is enough. ``label_studio``: the (URL, key) to
    use instead of the settings' (e.g. trusted ``/setup`` credentials); ``transport``: an httpx
    transport for tests (then the resolved addresses are checked, not pinned)."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None,
                 label_studio: tuple[str, str] | None = None) -> None:
        if label_studio is None and settings.label_studio_url and settings.label_studio_api_key:
            label_studio = (settings.label_studio_url,
                            settings.label_studio_api_key.get_secret_value())
        self.label_studio = (LabelStudio(label_studio[0].rstrip("/"), label_studio[1])
                             if label_studio else None)
        self.policy = HostPolicy(settings.media_allowed_hosts,
                                 self.label_studio.origin if self.label_studio else None)
        self.max_bytes = settings.media_max_bytes
        self.timeout_s = settings.media_timeout_s
        self.concurrency = settings.media_concurrency
        self.cache = MediaCache(settings.data_dir / "media", max_bytes=settings.media_cache_bytes)
        self._pinned = transport is None
        self._client = httpx.Client(
            transport=transport or PinnedTransport(self.policy,
                                                   max_connections=self.concurrency),
            follow_redirects=False, trust_env=False)
        # store no cookies (Label Studio sets a session cookie; cookies ignore ports)
        self._client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self._timeout = httpx.Timeout(self.timeout_s).as_dict()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # --- public ----------------------------------------------------------------------------
    def fetch(self, value: str, *, task_id: int | None, project_id: int | None,
              kind: MediaKind | None = None) -> Media:
        """The bytes behind ``value``; raises :class:`MediaSkipped` (logged) when there are none."""
        try:
            return self._fetch(value, task_id=task_id, project_id=project_id, kind=kind)
        except MediaSkipped as exc:
            s = exc.skip
            log.warning("media skipped (project %s, task %s): %s: %s [%s]", project_id, task_id,
                        s.code, s.reason, s.value)
            raise

    def fetch_many(self, values: Sequence[str], *,
                   task_ids: Sequence[int | None] | None = None, project_id: int | None = None,
                   kind: MediaKind | None = None) -> list[Media | MediaSkip]:
        """``fetch`` for each value, at most ``LABELLOOP_MEDIA_CONCURRENCY`` at a time; results
        in input order, a :class:`MediaSkip` in place of each value that gave no bytes."""
        ids: Sequence[int | None] = task_ids if task_ids is not None else [None] * len(values)
        if len(ids) != len(values):
            raise ValueError(f"{len(values)} values but {len(ids)} task ids")

        def one(i: int) -> Media | MediaSkip:
            try:
                return self.fetch(values[i], task_id=ids[i], project_id=project_id, kind=kind)
            except MediaSkipped as exc:
                return exc.skip

        if len(values) <= 1:
            return [one(i) for i in range(len(values))]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(values)),
                                thread_name_prefix="media") as pool:
            return list(pool.map(one, range(len(values))))

    # --- one value -------------------------------------------------------------------------
    def _fetch(self, value: str, *, task_id: int | None, project_id: int | None,
               kind: MediaKind | None) -> Media:
        target = resolve(value, label_studio=self.label_studio, task_id=task_id,
                         project_id=project_id, max_bytes=self.max_bytes)
        if isinstance(target, DataTarget):
            media = Media(target.data, sniff(target.data), "data",
                          f"data:{target.declared_type}", cache_hit=False, bytes_received=0)
        else:
            try:
                media = self._get(target)
            except _Skip as exc:
                raise MediaSkipped(MediaSkip(exc.code, exc.reason, short(value), task_id)) \
                    from None
        why = wrong_kind(media.content_type, kind)
        if why is not None:
            raise MediaSkipped(MediaSkip("wrong_type", why, short(value), task_id))
        return media

    def _get(self, target: HttpTarget) -> Media:
        key = target.url
        cached = self.cache.get(key)
        if cached is not None and not cached[0].validators and self._immutable(target):
            hit = self.cache.read(key)
            if hit is not None:
                return Media(hit[1], hit[0].content_type, target.source, self._display(key), True, 0)
            cached = None
        conditional = cached[0].validators if cached is not None else {}
        deadline = time.monotonic() + 10 * self.timeout_s
        url = httpx.URL(target.url)
        with_token = target.source in ("label_studio", "cloud")
        came_from_ls = False  # the previous hop was Label Studio's
        for _hop in range(MAX_REDIRECTS + 1):
            # a cloud URI's resolve answer may send the chain to the presigned URL it chose;
            # any hop after that one needs the allow-list again
            self._check(url, presigned=target.source == "cloud" and came_from_ls)
            came_from_ls = self._on_label_studio(url)
            headers = {"Accept-Encoding": "identity", **conditional}
            with_token = with_token and self._on_label_studio(url)  # never again once left
            if with_token and self.label_studio is not None:
                headers["Authorization"] = f"Token {self.label_studio.key}"
            request = httpx.Request("GET", url, headers=headers,
                                    extensions={"timeout": self._timeout})
            try:
                response = self._client.send(request, stream=True)
            except Refused as exc:
                raise _Skip("refused", str(exc)) from None
            except httpx.TimeoutException as exc:
                raise _Skip("timeout", f"{type(exc).__name__} after {self.timeout_s} s "
                            f"({self._display(url)})") from None
            except httpx.TransportError as exc:
                raise _Skip("unreachable", f"{type(exc).__name__}: {exc} "
                            f"({self._display(url)})") from None
            try:
                if response.status_code in REDIRECTS and "location" in response.headers:
                    url = url.join(response.headers["location"])
                    continue
                if response.status_code == 304 and cached is not None:
                    self.cache.touch(key, etag=response.headers.get("etag"),
                                     last_modified=response.headers.get("last-modified"))
                    hit = self.cache.read(key)
                    if hit is not None:
                        return Media(hit[1], hit[0].content_type, target.source, self._display(key),
                                     True, 0)
                    conditional, cached = {}, None  # evicted meanwhile: ask again, in full
                    url, with_token = httpx.URL(target.url), target.source != "external"
                    continue
                self._raise_for_status(response, url)
                data = self._read(response, url, deadline)
            finally:
                response.close()
            content_type = sniff(data)
            self.cache.put(key, data, content_type=content_type,
                           etag=response.headers.get("etag"),
                           last_modified=response.headers.get("last-modified"))
            return Media(data, content_type, target.source, self._display(key), False, len(data))
        raise _Skip("refused", f"more than {MAX_REDIRECTS} redirects ({self._display(target.url)})")

    def _check(self, url: httpx.URL, *, presigned: bool) -> None:
        try:
            self.policy.check_url(url, presigned=presigned)
            if not self._pinned and url.host:  # a test transport: check what the name resolves to
                self.policy.addresses(url.host, Origin.of(url).port)
        except Refused as exc:
            raise _Skip("refused", str(exc)) from None
        except httpx.TransportError as exc:
            raise _Skip("unreachable", str(exc)) from None
        except OSError as exc:
            raise _Skip("unreachable", str(exc)) from None

    def _raise_for_status(self, response: httpx.Response, url: httpx.URL) -> None:
        status = response.status_code
        if status < 300:
            return
        where = self._display(url)
        if status in (404, 410) or (status == 500 and self._on_label_studio(url)):
            # Label Studio 1.23.2 answers 500 for a missing upload and for '..' in local files;
            # its 502/503/504 (a proxy in front, a restart) stay transient
            raise _Skip("missing", f"HTTP {status} ({where})")
        if status in (401, 403):
            raise _Skip("forbidden", f"HTTP {status} ({where})")
        raise _Skip("http_error", f"HTTP {status} ({where})")

    def _read(self, response: httpx.Response, url: httpx.URL, deadline: float) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise _Skip("too_large", f"Content-Length {declared} is over the limit of "
                        f"{self.max_bytes} bytes (LABELLOOP_MEDIA_MAX_BYTES)")
        parts: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes(CHUNK):
                size += len(chunk)
                if size > self.max_bytes:
                    raise _Skip("too_large", f"more than {self.max_bytes} bytes "
                                "(LABELLOOP_MEDIA_MAX_BYTES); download aborted")
                if time.monotonic() > deadline:
                    raise _Skip("timeout", f"the download took over {10 * self.timeout_s} s")
                parts.append(chunk)
        except httpx.TimeoutException as exc:
            raise _Skip("timeout", f"{type(exc).__name__} after {self.timeout_s} s "
                        f"({self._display(url)})") from None
        except httpx.TransportError as exc:
            raise _Skip("unreachable", f"{type(exc).__name__}: {exc}") from None
        return b"".join(parts)

    def _on_label_studio(self, url: httpx.URL) -> bool:
        return self.label_studio is not None and Origin.of(url) == self.label_studio.origin

    def _display(self, url: httpx.URL | str) -> str:
        """``url`` for logs and records: query strings (signatures) kept on Label Studio only."""
        u = httpx.URL(url) if isinstance(url, str) else url
        return str(u) if self._on_label_studio(u) else redact(str(u))

    @staticmethod
    def _immutable(target: HttpTarget) -> bool:
        """Label Studio upload names carry a random prefix: a stored copy never goes stale."""
        return target.source == "label_studio" and "/data/upload/" in target.url
