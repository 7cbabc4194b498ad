"""MediaFetcher against real loopback servers: the token rule, redirects, SSRF, limits, cache."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from urllib.parse import parse_qs, quote

import pytest

from labelloop.media import Media, MediaSkip, MediaSkipped
from labelloop.media.fetch import MediaFetcher
from labelloop.skips import is_item_error
from tests.conftest import make_settings
from tests.media.media_bytes import PNG, WAV
from tests.media.servers import Loopback, Req

KEY = "secret-ls-token"


def fetcher(tmp_path: Path, ls: Loopback | None, **kw: object) -> MediaFetcher:
    settings = make_settings(tmp_path, label_studio_url=ls.url if ls else None,
                             label_studio_api_key=KEY if ls else None, **kw)
    return MediaFetcher(settings)


def skip_of(f: MediaFetcher, value: str, **kw: object) -> MediaSkip:
    with pytest.raises(MediaSkipped) as info:
        f.fetch(value, task_id=kw.pop("task_id", 1), project_id=1, **kw)  # type: ignore[arg-type]
    return info.value.skip


def ok(body: bytes, **headers: str):
    return lambda req: (200, dict(headers), body)


def redirect(location: str, status: int = 302):
    return lambda req: (status, {"Location": location}, b"")


def test_token_goes_to_label_studio_only_also_across_a_redirect(tmp_path):
    with Loopback({"/img.png": ok(PNG)}) as other, Loopback({
        "/data/upload/1/a.png": ok(PNG, **{"Content-Type": "image/png",
                                           "Set-Cookie": "sessionid=s3cret; Path=/"}),
        "/data/upload/1/moved.png": redirect(f"http://localhost:{0}/img.png"),
    }) as ls:
        ls.routes["/data/upload/1/moved.png"] = redirect(f"http://localhost:{other.port}/img.png")
        f = fetcher(tmp_path, ls, media_allowed_hosts=f"localhost:{other.port}",
                    media_cache_bytes=0)
        media = f.fetch("/data/upload/1/a.png", task_id=1, project_id=1, kind="image")
        assert (media.data, media.content_type, media.source) == (PNG, "image/png",
                                                                  "label_studio")
        assert ls.requests[-1].headers["authorization"] == f"Token {KEY}"
        absolute = f.fetch(f"{ls.url}/data/upload/1/a.png", task_id=1, project_id=1)
        assert absolute.data == PNG and absolute.source == "label_studio"
        assert ls.requests[-1].headers["authorization"] == f"Token {KEY}"

        moved = f.fetch("/data/upload/1/moved.png", task_id=1, project_id=1, kind="image")
        assert moved.data == PNG
        assert ls.requests[-1].headers["authorization"] == f"Token {KEY}"
        assert [r.path for r in other.requests] == ["/img.png"]
        assert "authorization" not in other.requests[0].headers
        assert not any("cookie" in r.headers for r in ls.requests + other.requests)
        # the external URL itself, fetched directly: no token either
        f.fetch(f"http://localhost:{other.port}/img.png", task_id=1, project_id=1)
        assert all("authorization" not in r.headers for r in other.requests)


def test_a_chain_that_left_label_studio_gets_no_token_when_it_comes_back(tmp_path):
    with Loopback({}) as ls, Loopback({}) as other:
        ls.routes["/data/upload/1/out.png"] = redirect(f"{other.url}/bounce")
        other.routes["/bounce"] = redirect(f"{ls.url}/data/upload/1/back.png")
        ls.routes["/data/upload/1/back.png"] = ok(PNG)
        f = fetcher(tmp_path, ls, media_allowed_hosts=f"127.0.0.1:{other.port}")
        assert f.fetch("/data/upload/1/out.png", task_id=1, project_id=1).data == PNG
        back = [r for r in ls.requests if r.path.endswith("back.png")]
        assert len(back) == 1 and "authorization" not in back[0].headers


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/",
                                    "http://[fe80::1]/x", "http://100.100.100.200/x",
                                    "http://metadata.google.internal/computeMetadata/v1/",
                                    "http://metadata.google.internal./computeMetadata/v1/",
                                    "http://[::ffff:169.254.169.254]/x",
                                    "http://[64:ff9b::a9fe:a9fe]/x"])
def test_a_redirect_to_a_metadata_address_is_refused_even_with_star(tmp_path, target):
    with Loopback({"/data/upload/1/a.png": redirect(target)}) as ls:
        f = fetcher(tmp_path, ls, media_allowed_hosts="*")
        s = skip_of(f, "/data/upload/1/a.png")
        assert s.code == "refused" and "metadata" in s.reason
        assert not s.transient


def test_metadata_address_allowed_only_when_listed(tmp_path):
    import httpx

    from labelloop.media.guard import HostPolicy, Refused, blocked_address
    assert blocked_address("::ffff:169.254.169.254") and not blocked_address("127.0.0.1")
    assert blocked_address("64:ff9b::a9fe:a9fe") and blocked_address("2002:a9fe:a9fe::1")
    assert not blocked_address("64:ff9b::7f00:1") and not blocked_address("2002:7f00:1::1")
    listed = HostPolicy(("169.254.169.254",), None)
    listed.check_url(httpx.URL("http://169.254.169.254/x"), presigned=False)
    with pytest.raises(Refused):
        HostPolicy(("*",), None).check_url(httpx.URL("http://169.254.169.254/x"),
                                           presigned=False)
    with pytest.raises(Refused):  # a name that resolves to a blocked address
        HostPolicy(("*",), None).addresses("169.254.169.254", 80)


def test_external_hosts_only_when_allowed(tmp_path):
    with Loopback({"/cat.png": ok(PNG)}) as ext:
        url = f"http://localhost:{ext.port}/cat.png"
        s = skip_of(fetcher(tmp_path / "a", None), url)
        assert s.code == "refused" and "LABELLOOP_MEDIA_ALLOWED_HOSTS" in s.reason
        assert ext.requests == []
        s = skip_of(fetcher(tmp_path / "b", None, media_allowed_hosts="localhost:1"), url)
        assert s.code == "refused"
        for allowed in ("*", "localhost", f"other.example, LOCALHOST:{ext.port}"):
            media = fetcher(tmp_path / allowed[:5], None,
                            media_allowed_hosts=allowed).fetch(url, task_id=1, project_id=1)
            assert media.source == "external" and media.data == PNG
        assert len(ext.requests) == 3


def test_a_redirect_from_an_allowed_host_to_another_host_is_checked_again(tmp_path):
    with Loopback({"/x.png": ok(PNG)}) as hidden, Loopback({}) as ext:
        ext.routes["/go"] = redirect(f"{hidden.url}/x.png", 307)
        f = fetcher(tmp_path, None, media_allowed_hosts=f"127.0.0.1:{ext.port}")
        s = skip_of(f, f"{ext.url}/go")
        assert s.code == "refused" and str(hidden.port) in s.reason
        assert hidden.requests == []


def test_too_many_redirects(tmp_path):
    with Loopback({}) as ls:
        ls.routes["/data/upload/1/loop.png"] = redirect("/data/upload/1/loop.png")
        s = skip_of(fetcher(tmp_path, ls), "/data/upload/1/loop.png")
        assert s.code == "refused" and "redirects" in s.reason
        assert len(ls.requests) == 6


def test_size_limit_streamed_and_declared(tmp_path):
    limit = 256 * 1024

    def endless(req: Req):
        def chunks():
            for _ in range(64):  # 4 MiB if nobody stops reading
                yield PNG + b"\x00" * (64 * 1024 - len(PNG))
        return 200, {}, chunks()

    with Loopback({"/data/upload/1/big.png": endless,
                   "/data/upload/1/declared.png": ok(PNG + b"\x00" * limit)}) as ls:
        f = fetcher(tmp_path, ls, media_max_bytes=limit)
        s = skip_of(f, "/data/upload/1/big.png")
        assert s.code == "too_large" and "aborted" in s.reason and str(limit) in s.reason
        s = skip_of(f, "/data/upload/1/declared.png")
        assert s.code == "too_large" and "Content-Length" in s.reason
        assert list((tmp_path / "media").glob("*.bin")) == []


def test_content_checked_by_magic_bytes_not_the_name(tmp_path):
    with Loopback({"/data/upload/1/tone.wav": ok(PNG, **{"Content-Type": "audio/x-wav"}),
                   "/data/upload/1/real.mp3": ok(WAV, **{"Content-Type": "audio/mpeg"})}) as ls:
        f = fetcher(tmp_path, ls)
        s = skip_of(f, "/data/upload/1/tone.wav", kind="audio")
        assert s.code == "wrong_type" and "image/png" in s.reason and s.task_id == 1
        assert f.fetch("/data/upload/1/tone.wav", task_id=1, project_id=1,
                       kind="image").content_type == "image/png"
        wav = f.fetch("/data/upload/1/real.mp3", task_id=1, project_id=1, kind="audio")
        assert wav.content_type == "audio/wav"


def test_slow_server_times_out_and_500_is_missing(tmp_path):
    def slow(req: Req):
        time.sleep(1.5)
        return 200, {}, PNG

    with Loopback({"/data/upload/1/slow.png": slow,
                   "/data/upload/1/gone.png": lambda r: (500, {}, b'{"detail":"x"}'),
                   "/data/upload/1/busy.png": lambda r: (503, {}, b"")}) as ls, \
            Loopback({"/e.png": lambda r: (503, {}, b"")}) as ext:
        f = fetcher(tmp_path, ls, media_timeout_s=0.3, media_allowed_hosts="*")
        start = time.monotonic()
        s = skip_of(f, "/data/upload/1/slow.png")
        assert s.code == "timeout" and s.transient and time.monotonic() - start < 1.2
        s = skip_of(f, "/data/upload/1/gone.png")
        assert s.code == "missing" and "500" in s.reason
        s = skip_of(f, "/data/upload/1/nothing-here.png")  # the server's 404
        assert s.code == "missing"
        s = skip_of(f, "/data/upload/1/busy.png")  # only Label Studio's 500 means "missing"
        assert s.code == "http_error" and s.transient
        s = skip_of(f, f"{ext.url}/e.png")  # another host's 5xx is an error, not "missing"
        assert s.code == "http_error" and s.transient


def test_unreachable_host(tmp_path):
    with Loopback({}) as dead:
        url = f"{dead.url}/a.png"
    s = skip_of(fetcher(tmp_path, None, media_allowed_hosts="*"), url)
    assert s.code == "unreachable" and s.transient


def test_data_urls_base64_and_percent_encoded_not_cached(tmp_path):
    f = fetcher(tmp_path, None)
    b64 = "data:image/png;base64," + base64.b64encode(PNG).decode()
    media = f.fetch(b64, task_id=None, project_id=None, kind="image")
    assert (media.data, media.source, media.url, media.cache_hit) == (PNG, "data",
                                                                      "data:image/png", False)
    pct = "data:audio/wav," + quote(WAV)
    assert f.fetch(pct, task_id=None, project_id=None, kind="audio").data == WAV
    assert not (tmp_path / "media").exists()
    s = skip_of(f, "data:image/png;base64,@@@not-base64")
    assert s.code == "invalid_value" and "@@@" not in s.value
    s = skip_of(fetcher(tmp_path, None, media_max_bytes=1024),
                "data:image/png;base64," + base64.b64encode(PNG * 100).decode())
    assert s.code == "too_large"


def test_cloud_uri_through_the_resolve_endpoint_presigned_url_gets_no_token(tmp_path):
    with Loopback({"/bucket/key.png": ok(PNG)}) as store, Loopback({}) as ls:
        presigned = f"http://localhost:{store.port}/bucket/key.png?X-Amz-Signature=abc"
        ls.routes["/tasks/8/resolve/"] = redirect(presigned, 303)
        ls.routes["/projects/3/resolve/"] = redirect(presigned, 303)
        f = fetcher(tmp_path, ls, media_cache_bytes=0)  # the store is in no allow-list
        media = f.fetch("s3://bucket/key.png", task_id=8, project_id=3, kind="image")
        assert media.source == "cloud" and media.data == PNG
        asked = ls.requests[-1]
        assert asked.headers["authorization"] == f"Token {KEY}"
        fileuri = parse_qs(asked.query)["fileuri"][0]
        assert base64.urlsafe_b64decode(fileuri) == b"s3://bucket/key.png"
        assert store.requests[-1].query == "X-Amz-Signature=abc"
        assert "authorization" not in store.requests[-1].headers
        assert f.fetch("gs://bucket/key.png", task_id=None, project_id=3).data == PNG
        assert ls.requests[-1].path == "/projects/3/resolve/"
        # past the presigned URL, another host needs the allow-list again
        with Loopback({"/y.png": ok(PNG)}) as elsewhere:
            store.routes["/bucket/moved.png"] = redirect(f"{elsewhere.url}/y.png", 307)
            ls.routes["/tasks/10/resolve/"] = redirect(
                f"http://localhost:{store.port}/bucket/moved.png", 303)
            s = skip_of(f, "s3://bucket/moved.png", task_id=10)
            assert s.code == "refused" and str(elsewhere.port) in s.reason
            assert elsewhere.requests == []
        # Label Studio answers 404 when the project has no storage for the URI
        s = skip_of(f, "azure-blob://c/key.png", task_id=9)
        assert s.code == "missing"
        s = skip_of(fetcher(tmp_path, None), "s3://bucket/key.png")
        assert s.code == "no_label_studio"


def test_cache_revalidates_with_etag_and_fetches_no_body_twice(tmp_path):
    etag = 'W/"abc"'

    def local(req: Req):
        if req.headers.get("if-none-match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"ETag": etag}, PNG

    with Loopback({"/data/local-files/": local, "/data/upload/1/u.png": ok(PNG)}) as ls:
        f = fetcher(tmp_path, ls)
        value = f"{ls.url}/data/local-files/?d=dataset1/red.png"
        first = f.fetch(value, task_id=1, project_id=1, kind="image")
        assert (first.cache_hit, first.bytes_received) == (False, len(PNG))
        assert "d=dataset1" in first.url
        second = f.fetch(value, task_id=1, project_id=1, kind="image")
        assert (second.cache_hit, second.bytes_received, second.data) == (True, 0, PNG)
        assert ls.requests[-1].headers["if-none-match"] == etag
        assert ls.body_bytes == len(PNG)
        # an upload (random name, no validators) is served from the cache without a request
        f.fetch("/data/upload/1/u.png", task_id=2, project_id=1)
        n = len(ls.requests)
        again = MediaFetcher(f_settings(tmp_path, ls)).fetch("/data/upload/1/u.png", task_id=2,
                                                              project_id=1)
        assert again.cache_hit and len(ls.requests) == n


def f_settings(tmp_path, ls):
    return make_settings(tmp_path, label_studio_url=ls.url, label_studio_api_key=KEY)


def test_fetch_many_bounds_concurrency_keeps_order_and_returns_skips(tmp_path):
    def slow(req: Req):
        time.sleep(0.15)
        return 200, {}, PNG

    with Loopback({f"/data/upload/1/{i}.png": slow for i in range(12)}) as ls:
        f = fetcher(tmp_path, ls, media_concurrency=3, media_cache_bytes=0)
        values = [f"/data/upload/1/{i}.png" for i in range(12)] + ["ftp://x/y.png"]
        out = f.fetch_many(values, task_ids=list(range(13)), project_id=1, kind="image")
        assert all(isinstance(m, Media) for m in out[:12])
        assert isinstance(out[12], MediaSkip) and out[12].code == "invalid_value"
        assert out[12].task_id == 12
        assert ls.max_in_flight == 3
        assert [r.path for r in ls.requests] != [] and len(ls.requests) == 12


def test_relative_path_without_label_studio_and_skips_are_item_errors(tmp_path):
    with pytest.raises(MediaSkipped) as info:
        fetcher(tmp_path, None).fetch("/data/upload/1/a.png", task_id=4, project_id=1)
    assert info.value.skip.code == "no_label_studio"
    assert is_item_error(info.value)
    assert skip_of(fetcher(tmp_path, None), "file:///etc/passwd").code == "invalid_value"


def test_connections_go_to_the_addresses_checked_dns_rebinding(tmp_path, monkeypatch):
    import socket

    from labelloop.media import guard

    looked_up: list[str] = []
    real = socket.getaddrinfo

    def fake_dns(host, port, *args, **kw):
        looked_up.append(host)
        if host == "evil.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]
        if host == "pinned.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kw)

    monkeypatch.setattr(guard.socket, "getaddrinfo", fake_dns)
    with Loopback({"/x.png": ok(PNG)}) as ext:
        f = fetcher(tmp_path, None, media_allowed_hosts="*")
        s = skip_of(f, f"http://evil.test:{ext.port}/x.png")
        assert s.code == "refused" and "169.254.169.254" in s.reason
        # a name only the checked look-up knows: the connection used that very answer
        media = f.fetch(f"http://pinned.test:{ext.port}/x.png", task_id=1, project_id=1)
        assert media.data == PNG and ext.requests[-1].headers["host"].startswith("pinned.test")
        names = [h for h in looked_up if not h[0].isdigit()]  # create_connection's IP literals
        assert names == ["evil.test", "pinned.test"]
        # listed by name: its link-local answer is the user's choice
        listed = fetcher(tmp_path / "l", None, media_allowed_hosts="evil.test,pinned.test",
                         media_timeout_s=0.3)
        assert skip_of(listed, f"http://evil.test:{ext.port}/x.png").code in ("unreachable",
                                                                              "timeout")
