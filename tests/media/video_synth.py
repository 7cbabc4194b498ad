"""Short video clips the tests make with PyAV itself (no files, nothing downloaded)."""

from __future__ import annotations

import io
from collections.abc import Callable

import av
import numpy as np

# (encoder, container) pairs; those this PyAV build cannot encode are left out by ENCODERS
CANDIDATES = [("mpeg4", "mp4"), ("libx264", "mp4"), ("libvpx", "webm"), ("libvpx-vp9", "webm")]


def _can_encode(codec: str) -> bool:
    try:
        av.codec.Codec(codec, "w")
    except ValueError:  # av's UnknownCodecError
        return False
    return True


ENCODERS = [(c, f) for c, f in CANDIDATES if _can_encode(c)]
Painter = Callable[[int], np.ndarray]  # frame index -> uint8 (h, w, 3) RGB


def encode(paint: Painter, n_frames: int, *, codec: str = "mpeg4", fmt: str = "mp4",
           fps: int = 10, gop: int | None = None, rotation: float | None = None,
           options: dict[str, str] | None = None) -> bytes:
    """The bytes of a clip whose frame ``i`` is ``paint(i)``, at ``fps`` frames per second."""
    first = paint(0)
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt, options=options or {}) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.height, stream.width = first.shape[:2]
        stream.pix_fmt = "yuv420p"
        if gop is not None:
            stream.gop_size = gop
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(first if i == 0 else paint(i), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def grey_ramp(n_frames: int, *, size: int = 32, step: int = 2) -> Painter:
    """Frame ``i`` is solid grey of level ``(i * step) % 250``: the frame shown tells its index."""
    return lambda i: np.full((size, size, 3), (i * step) % 250, dtype=np.uint8)


def level_at(times: np.ndarray, *, fps: int, step: int = 2) -> np.ndarray:
    """The grey level :func:`grey_ramp` shows at ``times`` (s)."""
    return (np.floor(np.asarray(times) * fps + 1e-9).astype(int) * step) % 250


def class_clip(label: str, rng: np.random.Generator, *, size: int = 32) -> Painter:
    """A clip of one of two classes, varied per clip by ``rng``: ``"square"``, a white square
    moving right over a reddish background; ``"stripes"``, dark vertical stripes drifting
    down over a bluish background."""
    shade = rng.uniform(0.7, 1.0)
    start = int(rng.integers(0, size // 2))
    yy, xx = np.mgrid[:size, :size]

    def square(i: int) -> np.ndarray:
        img = np.zeros((size, size, 3), dtype=np.uint8)
        img[:] = (int(200 * shade), 40, 30)
        x = (start + i) % (size - 8)
        img[12:20, x:x + 8] = 255
        return img

    def stripes(i: int) -> np.ndarray:
        img = np.zeros((size, size, 3), dtype=np.uint8)
        img[:] = (30, 60, int(200 * shade))
        img[((xx + start) // 4) % 2 == 0] = (10, 10, 60)
        img[(yy + i) % size < 2] = (10, 10, 60)
        return img

    if label not in ("square", "stripes"):
        raise ValueError(label)
    return square if label == "square" else stripes
