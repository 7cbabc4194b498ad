"""The built-in audio embedder: MFCC statistics with numpy and scipy, no weights, nothing fitted.

A WAV file (PCM 8/16/24/32-bit or float, any channel count, any rate: read by
``scipy.io.wavfile``) is mixed down to mono, cut to ``max_seconds``, resampled to 16 kHz
(``scipy.signal.resample_poly``), and turned into a log-mel spectrogram (``n_fft`` 512, hop 10 ms,
Hann window, ``n_mels`` HTK-mel bands from 20 Hz to 8 kHz, 80 dB floor below the loudest value).
The spectrogram's overall mean is removed, so the level of the recording does not matter, and
``n_mfcc`` MFCCs are taken (orthonormal DCT-II). The vector is, in the same units throughout:
the MFCCs' mean, standard deviation and 10th/50th/90th percentiles over time, the mean and
standard deviation of their first differences (deltas), and each mel band's mean and standard
deviation; then L2-normalised.

Other formats (FLAC, Ogg, MP3, …) are skips with their reason: no installed dependency of
labelloop decodes them. The name carries every parameter (it keys the embedding cache).
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence

import numpy as np

from labelloop.embeddings.media_base import (
    MediaEncoded,
    Modality,
    UndecodableMedia,
    encode_per_item,
    require_all,
)

RATE = 16_000
N_FFT = 512
HOP = 160
FMIN, FMAX = 20.0, 8_000.0
FLOOR_DB = 80.0
PERCENTILES = (10, 50, 90)
MIN_RATE, MAX_RATE = 1_000, 768_000  # declared rates outside are refused (resampling cost)
_SIGNATURES = {b"fLaC": "FLAC", b"OggS": "Ogg", b"ID3": "MP3", b"\xff\xfb": "MP3",
               b"\xff\xf3": "MP3", b"\xff\xf2": "MP3", b"FORM": "AIFF"}


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_filterbank(*, n_mels: int, n_fft: int = N_FFT, rate: int = RATE,
                   fmin: float = FMIN, fmax: float = FMAX) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` triangular HTK-mel filters (each of unit area)."""
    freqs = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    edges_mel = np.linspace(_hz_to_mel(np.array(fmin)), _hz_to_mel(np.array(fmax)), n_mels + 2)
    edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (freqs[None, :] - lower) / (centre - lower)
    fall = (upper - freqs[None, :]) / (upper - centre)
    bank = np.maximum(0.0, np.minimum(rise, fall))
    return bank / np.maximum(bank.sum(axis=1, keepdims=True), 1e-12)


def decode_wav(data: bytes, *, max_seconds: float) -> tuple[np.ndarray, int]:
    """(mono float64 samples in [-1, 1], sample rate) of a WAV file's first ``max_seconds``;
    :class:`UndecodableMedia` for anything else."""
    from scipy.io import wavfile

    if data[:4] not in (b"RIFF", b"RF64") or data[8:12] != b"WAVE":
        kind = next((k for sig, k in _SIGNATURES.items() if data.startswith(sig)), None)
        raise UndecodableMedia(f"{kind} audio is not decoded by the built-in embedder (WAV only)"
                               if kind else "not a WAV file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate, raw = wavfile.read(io.BytesIO(data), mmap=False)
    except Exception as exc:  # a parser of untrusted bytes: whatever it raises is the file's
        raise UndecodableMedia(f"the WAV file cannot be decoded: {exc}") from exc
    if not MIN_RATE <= rate <= MAX_RATE:
        raise UndecodableMedia(f"the WAV file declares a sample rate of {rate} Hz (outside "
                               f"{MIN_RATE}..{MAX_RATE})")
    samples = np.asarray(raw)[: int(max_seconds * rate)]
    if samples.dtype == np.uint8:
        x = (samples.astype(np.float64) - 128.0) / 128.0
    elif samples.dtype.kind == "i":
        x = samples.astype(np.float64) / float(2 ** (8 * samples.dtype.itemsize - 1))
    elif samples.dtype.kind == "f":
        x = np.nan_to_num(samples.astype(np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
    else:
        raise UndecodableMedia(f"WAV samples of type {samples.dtype} are not supported")
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.size == 0:
        raise UndecodableMedia("the WAV file holds no samples")
    return x, int(rate)


class BuiltinAudioEmbedder:
    """A :class:`~labelloop.embeddings.media_base.MediaEmbedder` for audio (see the module)."""

    def __init__(self, *, n_mels: int = 40, n_mfcc: int = 20, max_seconds: float = 300.0) -> None:
        if not 1 <= n_mfcc <= n_mels:
            raise ValueError(f"n_mfcc must be within 1..n_mels ({n_mels}), got {n_mfcc}")
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
        self.n_mels = n_mels
        self.n_mfcc = n_mfcc
        self.max_seconds = max_seconds
        self._bank = mel_filterbank(n_mels=n_mels)
        self._window = np.hanning(N_FFT + 1)[:-1]
        self._dim = n_mfcc * (4 + len(PERCENTILES)) + 2 * n_mels

    @property
    def name(self) -> str:
        return (f"labelloop/audio-builtin-v1:sr{RATE}-fft{N_FFT}-hop{HOP}-mel{self.n_mels}"
                f"-mfcc{self.n_mfcc}-floor{FLOOR_DB:g}-max{self.max_seconds:g}s")

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def modality(self) -> Modality:
        return "audio"

    def log_mel(self, x: np.ndarray, rate: int) -> np.ndarray:
        """``(frames, n_mels)`` log-mel (natural log of power) of mono samples at ``rate``."""
        from scipy.signal import resample_poly

        if rate != RATE:
            g = math.gcd(RATE, rate)
            x = resample_poly(x, RATE // g, rate // g)
        if x.size < N_FFT:
            x = np.pad(x, (0, N_FFT - x.size))
        frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP]
        power = np.abs(np.fft.rfft(frames * self._window, axis=1)) ** 2
        mel = np.log(power @ self._bank.T + 1e-12)
        return np.maximum(mel, mel.max() - FLOOR_DB * math.log(10) / 10)

    def features(self, data: bytes) -> np.ndarray:
        """The raw (not yet normalised) ``(dim,)`` row of one audio file."""
        from scipy.fft import dct

        x, rate = decode_wav(data, max_seconds=self.max_seconds)
        mel = self.log_mel(x, rate)
        mel = mel - mel.mean()
        mfcc = dct(mel, type=2, norm="ortho", axis=1)[:, : self.n_mfcc]
        delta = np.diff(mfcc, axis=0) if len(mfcc) > 1 else np.zeros_like(mfcc)
        return np.concatenate([
            mfcc.mean(axis=0), mfcc.std(axis=0),
            *np.percentile(mfcc, PERCENTILES, axis=0),
            delta.mean(axis=0), delta.std(axis=0),
            mel.mean(axis=0), mel.std(axis=0),
        ])

    def encode_each(self, items: Sequence[bytes]) -> MediaEncoded:
        return encode_per_item(items, self.features, self._dim)

    def encode(self, items: Sequence[bytes]) -> np.ndarray:
        return require_all(self.encode_each(items))
