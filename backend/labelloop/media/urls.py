"""What a task's media value points at: a URL to GET (and from where), or a data: URL's bytes.

Label Studio 1.23.2 stores (docs: label-studio-media-and-spans.md):

* uploads as relative ``/data/upload/<project>/<hex>-<name>``, local-files storage as
  ``/data/local-files/?d=…`` (absolute when ``LABEL_STUDIO_HOST`` is set): joined to the
  configured Label Studio URL, fetched with its token;
* external ``http(s)`` URLs and ``data:`` URLs verbatim;
* ``s3://``, ``gs://``, ``azure-blob://`` URIs, which only Label Studio can turn into bytes: through
  ``/tasks/{id}/resolve/?fileuri=<urlsafe base64>`` (no ``/api/`` prefix), which answers a 303 to
  a presigned URL or the bytes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlencode

import httpx

from labelloop.media.types import MediaSkip, MediaSkipped, SourceKind, short

CLOUD_SCHEMES = ("s3", "gs", "gcs", "azure-blob", "azure-spi")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: httpx.URL) -> Origin:
        return cls(url.scheme, url.host.lower(), url.port or DEFAULT_PORTS.get(url.scheme, 0))


@dataclass(frozen=True)
class LabelStudio:
    """The Label Studio labelloop is configured with: the only origin that gets the token."""

    url: str  # base URL, no trailing slash
    key: str

    @property
    def origin(self) -> Origin:
        return Origin.of(httpx.URL(self.url))

    def join(self, path: str) -> str:
        base = httpx.URL(self.url)
        prefix = base.path.rstrip("/")
        if prefix and not path.startswith(prefix + "/"):  # Label Studio under a sub-path
            path = prefix + path
        return str(base.copy_with(raw_path=path.encode()))


@dataclass(frozen=True)
class HttpTarget:
    url: str
    source: SourceKind


@dataclass(frozen=True)
class DataTarget:
    data: bytes
    declared_type: str


def skip(code: str, reason: str, value: str, task_id: int | None = None) -> MediaSkipped:
    return MediaSkipped(MediaSkip(code, reason, short(value), task_id))  # type: ignore[arg-type]


def resolve(value: str, *, label_studio: LabelStudio | None, task_id: int | None,
            project_id: int | None, max_bytes: int) -> HttpTarget | DataTarget:
    """Where ``value``'s bytes are; raises :class:`MediaSkipped` for a value that has none."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise skip("invalid_value", "not a non-empty string", str(value)[:60], task_id)
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme == "data":
        data, declared = decode_data_url(text, max_bytes=max_bytes, task_id=task_id)
        return DataTarget(data, declared)
    if text.startswith("/") and not text.startswith("//"):
        if label_studio is None:
            raise skip("no_label_studio", "a Label Studio path, and no Label Studio URL and key "
                       "are configured", text, task_id)
        return HttpTarget(label_studio.join(text), "label_studio")
    if scheme in CLOUD_SCHEMES and text.startswith(scheme + "://"):
        if label_studio is None:
            raise skip("no_label_studio", f"a {scheme}:// URI is resolved by Label Studio, and "
                       "none is configured", text, task_id)
        fileuri = base64.urlsafe_b64encode(text.encode()).decode()
        if task_id is not None:
            path = f"/tasks/{task_id}/resolve/"
        elif project_id is not None:
            path = f"/projects/{project_id}/resolve/"
        else:
            raise skip("invalid_value", f"a {scheme}:// URI needs a task or project id", text)
        return HttpTarget(label_studio.join(path) + "?" + urlencode({"fileuri": fileuri}),
                          "cloud")
    if scheme in ("http", "https"):
        try:
            url = httpx.URL(text)
        except (httpx.InvalidURL, ValueError) as exc:
            raise skip("invalid_value", f"not a valid URL ({exc})", text, task_id) from None
        if not url.host:
            raise skip("invalid_value", "a URL without a host", text, task_id)
        if label_studio is not None and Origin.of(url) == label_studio.origin:
            return HttpTarget(str(url), "label_studio")
        return HttpTarget(str(url), "external")
    raise skip("invalid_value", f"unsupported value (scheme {scheme or 'none'!r}); expected a "
               "Label Studio path, http(s), data:, s3://, gs:// or azure-blob://", text, task_id)


def decode_data_url(value: str, *, max_bytes: int,
                    task_id: int | None = None) -> tuple[bytes, str]:
    """``data:[<type>][;base64],<payload>`` → (bytes, declared type); base64 or percent-encoded."""
    head, sep, payload = value[5:].partition(",")
    if not sep:
        raise skip("invalid_value", "a data: URL without ','", value, task_id)
    params = [p.strip().lower() for p in head.split(";")]
    declared = params[0] or "text/plain"
    if len(payload) > max_bytes * 4 // 3 + 16 * 1024:  # before decoding anything
        raise skip("too_large", f"the data: URL holds more than {max_bytes} bytes", value,
                   task_id)
    try:
        if "base64" in params[1:]:
            compact = "".join(unquote_to_bytes(payload).decode("ascii").split())
            data = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
        else:
            data = unquote_to_bytes(payload)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise skip("invalid_value", f"a data: URL that does not decode ({exc})", value,
                   task_id) from None
    if len(data) > max_bytes:
        raise skip("too_large", f"the data: URL holds {len(data)} bytes, over the limit of "
                   f"{max_bytes} (LABELLOOP_MEDIA_MAX_BYTES)", value, task_id)
    return data, declared


def host_port(entry: str) -> tuple[str, int | None]:
    """``"Host"`` → ("host", None); ``"host:8080"`` → ("host", 8080); ``"[::1]:80"`` → ("::1", 80)."""
    text = entry.strip().lower()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, None


def redact(url: str) -> str:
    """``url`` without its query string and user info (presigned URLs carry signatures)."""
    try:
        u = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return short(url)
    return str(u.copy_with(query=None, fragment=None, username=None, password=None))
