"""Magic-byte sniffing, the disk cache's LRU bound, the allowed-hosts setting."""

from __future__ import annotations

import os
import time

import pytest
from pydantic import ValidationError

from labelloop.media.cache import MediaCache
from labelloop.media.sniff import ACCEPTS, UNKNOWN, sniff, wrong_kind
from labelloop.media.urls import LabelStudio, host_port
from tests.conftest import make_settings
from tests.media.media_bytes import PNG, WAV

SAMPLES = {
    "image/png": PNG,
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "image/gif": b"GIF89a\x01\x00\x01\x00",
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    "image/bmp": b"BM" + b"\x00" * 20,
    "image/tiff": b"II*\x00\x08\x00\x00\x00",
    "audio/wav": WAV,
    "audio/flac": b"fLaC\x00\x00\x00\x22",
    "audio/ogg": b"OggS\x00\x02" + b"\x00" * 20,
    "audio/mpeg": b"ID3\x04\x00\x00\x00\x00\x00\x00",
    "audio/aac": b"\xff\xf1\x50\x80\x00\x1f\xfc",
    "audio/mp4": b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00",
    "video/mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00",
    "video/webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm",
}


@pytest.mark.parametrize(("expected", "data"), SAMPLES.items())
def test_sniff_each_format(expected, data):
    assert sniff(data) == expected


def test_sniff_frame_sync_mp3_and_unknown():
    assert sniff(b"\xff\xfb\x90\x64\x00") == "audio/mpeg"
    assert sniff(b"hello world") == UNKNOWN
    assert sniff(b"") == UNKNOWN


def test_kinds():
    assert wrong_kind("image/png", "audio") == "expected audio, the bytes are image/png"
    assert wrong_kind("audio/wav", "audio") is None
    assert wrong_kind("video/mp4", "video") is None and wrong_kind("video/mp4", "image")
    assert wrong_kind(UNKNOWN, "image") == "expected image, the bytes are no known image format"
    assert wrong_kind(UNKNOWN, None) is None
    assert all(t.startswith("image/") for t in ACCEPTS["image"])


def test_cache_evicts_least_recently_used(tmp_path):
    cache = MediaCache(tmp_path, max_bytes=3000)
    for i in range(3):
        cache.put(f"u{i}", bytes([i]) * 900, content_type="x", etag=f'"{i}"', last_modified=None)
        past = time.time() - 100 + i
        os.utime(tmp_path / f"{cache._paths(f'u{i}')[0].name}", (past, past))
    assert cache.read("u0") is not None  # used now: the most recent
    cache.put("u3", b"3" * 900, content_type="x", etag=None, last_modified=None)
    assert cache.get("u1") is None  # the least recently used went
    assert cache.get("u0") is not None and cache.get("u2") is not None
    assert cache.get("u3") is not None
    assert sum(p.stat().st_size for p in tmp_path.glob("*.bin")) <= 3000
    assert cache.get("u0")[0].validators == {"If-None-Match": '"0"'}


def test_cache_off_and_torn_entries(tmp_path):
    off = MediaCache(tmp_path / "off", max_bytes=0)
    off.put("u", b"x", content_type="x", etag="e", last_modified=None)
    assert off.get("u") is None and not (tmp_path / "off").exists()
    cache = MediaCache(tmp_path, max_bytes=10_000)
    cache.put("u", b"abc", content_type="x", etag=None, last_modified="Mon")
    cache._paths("u")[1].write_bytes(b"ab")  # torn: a miss, not wrong bytes
    assert cache.read("u") is None


def test_allowed_hosts_setting(tmp_path):
    s = make_settings(tmp_path, media_allowed_hosts="CDN.example.com, 10.0.0.5:8080,[::1]:9,*")
    assert s.media_allowed_hosts == ("cdn.example.com", "10.0.0.5:8080", "[::1]:9", "*")
    assert [host_port(e) for e in s.media_allowed_hosts[:3]] == [
        ("cdn.example.com", None), ("10.0.0.5", 8080), ("::1", 9)]
    for bad in ("http://x.com", "x.com/path", "x.com:port", "x.com:0", "u@x.com"):
        with pytest.raises(ValidationError):
            make_settings(tmp_path, media_allowed_hosts=bad)


def test_label_studio_join_under_a_sub_path():
    assert LabelStudio("http://h:8080", "k").join("/data/upload/1/a.png") == \
        "http://h:8080/data/upload/1/a.png"
    assert LabelStudio("http://h/ls", "k").join("/data/upload/1/a.png") == \
        "http://h/ls/data/upload/1/a.png"
    assert LabelStudio("http://h/ls", "k").join("/ls/data/x") == "http://h/ls/data/x"
