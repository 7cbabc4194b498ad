"""Real media for the loop's image and audio tests, made here (nothing downloaded).

* :func:`digit_pngs`: sklearn's bundled digits (8 × 8 grey, 16 levels) upscaled to 32 × 32 and
  written as PNG with Pillow;
* :func:`tone_wavs`: 0.3 s mono 16 kHz 16-bit WAV tones, one pitch per class, with a per-item
  phase, level and a little noise;
* :class:`FakeLabelStudioMedia`: a loopback HTTP server serving ``/data/upload/<project>/<name>``
  like Label Studio 1.23.2 (``Authorization: Token <key>`` required, 401 without; 500 for a
  missing upload), with scripted failures per name.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Callable

import numpy as np
from tests.media.servers import Answer, Loopback, Req

KEY = "media-test-key-123"


def digit_pngs(classes: tuple[int, ...], per_class: int) -> list[tuple[bytes, str]]:
    """``(png bytes, label)`` for the first ``per_class`` digits of each class, interleaved."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    by_class = {c: np.flatnonzero(digits.target == c)[:per_class] for c in classes}
    out: list[tuple[bytes, str]] = []
    for k in range(per_class):
        for c in classes:
            pixels = (digits.images[by_class[c][k]] * (255 / 16)).astype(np.uint8)
            img = Image.fromarray(pixels, mode="L").resize((32, 32), Image.Resampling.NEAREST)
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            out.append((buf.getvalue(), str(c)))
    return out


PITCHES = {"low": 220.0, "mid": 660.0, "high": 1980.0}


def tone_wavs(per_class: int, *, seed: int = 0) -> list[tuple[bytes, str]]:
    """``(wav bytes, label)``: a tone per class (:data:`PITCHES`), interleaved."""
    rng = np.random.default_rng(seed)
    rate, n = 16000, 4800
    t = np.arange(n) / rate
    out: list[tuple[bytes, str]] = []
    for _ in range(per_class):
        for label, hz in PITCHES.items():
            level = rng.uniform(0.2, 0.6)
            wave_ = level * np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi))
            wave_ += rng.normal(0, 0.01, n)
            buf = io.BytesIO()
            with wave.open(buf, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(rate)
                w.writeframes((np.clip(wave_, -1, 1) * 32767).astype("<i2").tobytes())
            out.append((buf.getvalue(), label))
    return out


class FakeLabelStudioMedia(Loopback):
    """Label Studio's upload serving on loopback. ``files``: {name: bytes} served at
    ``/data/upload/<project>/<name>``; ``missing``: names answered as Label Studio answers an
    upload that is not there (500); ``fail``: {name: status} answered instead (e.g. 503)."""

    def __init__(self, project_id: int, files: dict[str, bytes],
                 missing: tuple[str, ...] = ()) -> None:
        self.files = dict(files)
        self.fail: dict[str, int] = {}
        self.project_id = project_id
        super().__init__({f"/data/upload/{project_id}/{name}": self._route(name)
                          for name in [*files, *missing]})

    def _route(self, name: str) -> Callable[[Req], Answer]:
        def serve(req: Req) -> Answer:
            if req.headers.get("authorization") != f"Token {KEY}":
                return 401, {"Content-Type": "application/json"}, b'{"detail":"no auth"}'
            if name in self.fail:
                return self.fail[name], {}, b"{}"
            data = self.files.get(name)
            if data is None:  # Label Studio 1.23.2: a missing upload is a 500
                return 500, {"Content-Type": "application/json"}, b'{"detail":"NoneType"}'
            return 200, {"Content-Type": "image/png"}, data
        return serve

    def value(self, name: str) -> str:
        """The value Label Studio stores in a task's data for an upload: a relative path."""
        return f"/data/upload/{self.project_id}/{name}"
