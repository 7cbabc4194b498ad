"""Thumbnails (media/thumbnail.py) are labelloop's own pictures of decoded pixels: bounded in
size, never the original bytes, and nothing but raster images decode (issue 19 §5)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from labelloop.embeddings.media_base import UndecodableMedia
from labelloop.media.thumbnail import (
    Thumbnail,
    ThumbnailCache,
    content_hash,
    image_thumbnail,
    video_thumbnail,
)
from tests.media.video_synth import ENCODERS, encode


def picture(width: int, height: int, *, fmt: str = "PNG", mode: str = "RGB",
            seed: int = 0, **save: object) -> tuple[bytes, np.ndarray]:
    """A smooth colour gradient with noise (so a resize is checkable), its file and pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([255 * x / width, 255 * y / height, 128 + 0 * x], axis=-1)
    rgb = np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)
    img = Image.fromarray(rgb)
    if mode == "RGBA":
        img = img.convert("RGBA")
        img.putalpha(Image.fromarray(np.full((height, width), 100, dtype=np.uint8)))
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue(), rgb


def pixels(thumb: Thumbnail) -> np.ndarray:
    with Image.open(io.BytesIO(thumb.data)) as img:
        assert img.format == {"image/png": "PNG", "image/jpeg": "JPEG"}[thumb.content_type]
        assert img.size == (thumb.width, thumb.height)
        return np.asarray(img.convert("RGB"), dtype=np.float64)


@pytest.mark.parametrize(("fmt", "size", "want"), [
    ("PNG", (400, 300), (128, 96)), ("JPEG", (300, 600), (64, 128)),
    ("WEBP", (200, 200), (128, 128)), ("GIF", (50, 20), (50, 20)),  # never enlarged
])
def test_an_image_is_decoded_shrunk_and_encoded_again(fmt: str, size: tuple[int, int],
                                                      want: tuple[int, int]) -> None:
    data, rgb = picture(*size, fmt=fmt)
    thumb = image_thumbnail(data, max_side=128)
    assert (thumb.width, thumb.height) == want and thumb.data != data
    assert thumb.content_type == "image/jpeg" and thumb.source_hash == content_hash(data)
    got = pixels(thumb)
    small = np.asarray(Image.fromarray(rgb).resize(want, Image.Resampling.BOX), dtype=np.float64)
    assert np.abs(got - small).mean() < (12 if fmt == "GIF" else 6)  # the same picture


def test_transparency_gives_a_png_and_exif_orientation_is_applied() -> None:
    data, _ = picture(300, 100, mode="RGBA")
    thumb = image_thumbnail(data, max_side=60)
    assert thumb.content_type == "image/png" and (thumb.width, thumb.height) == (60, 20)
    with Image.open(io.BytesIO(thumb.data)) as img:
        assert img.mode == "RGBA" and img.getpixel((5, 5))[3] == 100
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to show
    turned, _ = picture(300, 100, fmt="JPEG", exif=exif.tobytes())
    thumb = image_thumbnail(turned, max_side=60)
    assert (thumb.width, thumb.height) == (20, 60)


@pytest.mark.parametrize("body", [
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
     b"<script>alert(document.cookie)</script></svg>"),
    b"<!doctype html><html><body><script>alert(1)</script></body></html>",
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",  # EPS: Pillow runs Ghostscript
    b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>",  # a PNG signature, then HTML
    b"",
])
def test_markup_and_non_raster_files_do_not_decode(body: bytes) -> None:
    with pytest.raises(UndecodableMedia):
        image_thumbnail(body)


def test_an_image_with_too_many_pixels_is_refused_before_decoding() -> None:
    data, _ = picture(200, 200)
    with pytest.raises(UndecodableMedia, match="more than 10000 pixels"):
        image_thumbnail(data, max_pixels=10_000)


@pytest.mark.skipif(not ENCODERS, reason="this PyAV build encodes no test codec")
def test_a_video_gives_its_middle_frame() -> None:
    levels = [20, 120, 220]  # three seconds at 2 frames/s: the middle frame is mid-grey

    def paint(i: int) -> np.ndarray:
        return np.full((48, 64, 3), levels[i // 2], dtype=np.uint8)

    clip = encode(paint, 6, fps=2)
    thumb = video_thumbnail(clip, max_side=32)
    assert (thumb.width, thumb.height) == (32, 24) and thumb.content_type == "image/jpeg"
    assert abs(pixels(thumb).mean() - 120) < 12
    with pytest.raises(UndecodableMedia):
        video_thumbnail(b"\x00\x00\x00\x18ftypmp42 not a video at all")


def test_the_cache_keeps_the_most_recent_thumbnails_within_its_bytes() -> None:
    def thumb(n: int) -> Thumbnail:
        return Thumbnail(bytes(100), "image/png", 1, 1, str(n))

    cache = ThumbnailCache(max_bytes=250)
    cache.put(("a", 1), thumb(1))
    cache.put(("b", 1), thumb(2))
    assert cache.get(("a", 1)) == thumb(1)  # a is now the most recent
    cache.put(("c", 1), thumb(3))
    assert cache.get(("b", 1)) is None and len(cache) == 2
    assert cache.get(("a", 1)) is not None and cache.get(("c", 1)) is not None
    assert (cache.hits, cache.misses) == (3, 1)
    cache.put(("big", 1), Thumbnail(bytes(300), "image/png", 1, 1, "x"))  # larger than it all
    assert cache.get(("big", 1)) is None and len(cache) == 2
