"""Synthesised labelled audio for the built-in audio embedder's tests: WAV bytes in every
format the decoder reads (8/16/24/32-bit PCM, float32; mono or stereo; several rates)."""

from __future__ import annotations

import io
import wave

import numpy as np
from scipy.io import wavfile

CLASSES = ("low_tone", "high_tone", "white_noise", "chirp")
RATES = (8_000, 16_000, 22_050, 44_100)
FORMATS = ("u8", "s16", "s24", "s32", "f32")


def signal(kind: str, rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One clip of ``kind`` in [-1, 1] with random level, phase and a little pitch jitter."""
    t = np.arange(int(rate * seconds)) / rate
    level = rng.uniform(0.05, 0.8)
    if kind == "low_tone":
        x = np.sin(2 * np.pi * rng.uniform(200, 300) * t + rng.uniform(0, 2 * np.pi))
    elif kind == "high_tone":
        x = np.sin(2 * np.pi * rng.uniform(1_500, 2_500) * t + rng.uniform(0, 2 * np.pi))
    elif kind == "white_noise":
        x = rng.uniform(-1, 1, t.size)
    elif kind == "chirp":
        f0, f1 = rng.uniform(300, 500), rng.uniform(3_000, 3_800)
        x = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds)))
    else:
        raise ValueError(kind)
    return level * x + rng.normal(0, 0.003, t.size)


def wav_bytes(x: np.ndarray, rate: int, fmt: str, *, stereo: bool = False) -> bytes:
    """``x`` (mono, [-1, 1]) as a WAV file in ``fmt`` (one of FORMATS)."""
    x = np.clip(x, -1, 1)
    data = np.stack([x, x], axis=1) if stereo else x
    buf = io.BytesIO()
    if fmt == "s24":  # scipy writes no 24-bit files: the stdlib writes them
        ints = np.round(data * (2 ** 23 - 1)).astype("<i4").reshape(-1, 1).view(np.uint8)
        with wave.open(buf, "wb") as w:
            w.setnchannels(2 if stereo else 1)
            w.setsampwidth(3)
            w.setframerate(rate)
            w.writeframes(ints.reshape(-1, 4)[:, :3].tobytes())
        return buf.getvalue()
    if fmt == "u8":
        arr: np.ndarray = np.round(data * 127 + 128).astype(np.uint8)
    elif fmt == "s16":
        arr = np.round(data * 32767).astype(np.int16)
    elif fmt == "s32":
        arr = np.round(data * (2 ** 31 - 1)).astype(np.int32)
    else:
        arr = data.astype(np.float32)
    wavfile.write(buf, rate, arr)
    return buf.getvalue()


def dataset(n_per_class: int, *, seed: int = 0) -> tuple[list[bytes], np.ndarray]:
    """``n_per_class`` clips of each class, formats, rates, channels and lengths mixed."""
    rng = np.random.default_rng(seed)
    blobs, labels = [], []
    for k, kind in enumerate(CLASSES):
        for i in range(n_per_class):
            rate = RATES[int(rng.integers(len(RATES)))]
            seconds = float(rng.uniform(0.3, 1.0))
            blobs.append(wav_bytes(signal(kind, rate, seconds, rng), rate,
                                   FORMATS[i % len(FORMATS)], stereo=bool(i % 2)))
            labels.append(k)
    return blobs, np.array(labels)
