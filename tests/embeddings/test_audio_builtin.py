"""The built-in audio embedder: contract (shape, dtype, unit rows, determinism, batch order,
skips), every WAV sample format, and synthesised classes separated by a linear model."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
from tests.embeddings.audio_synth import FORMATS, dataset, signal, wav_bytes

from labelloop.embeddings.audio_builtin import BuiltinAudioEmbedder, decode_wav, mel_filterbank
from labelloop.embeddings.media_base import MediaEmbedder, UndecodableMedia


def _tone(seed: int, fmt: str = "s16", rate: int = 16_000, stereo: bool = False) -> bytes:
    rng = np.random.default_rng(seed)
    return wav_bytes(signal("low_tone", rate, 0.4, rng), rate, fmt, stereo=stereo)


def test_shape_dtype_unit_rows_and_protocol():
    e = BuiltinAudioEmbedder()
    assert isinstance(e, MediaEmbedder) and e.modality == "audio"
    v = e.encode([_tone(1), _tone(2, "f32", 44_100, True), _tone(3, "u8", 8_000)])
    assert v.shape == (3, e.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert e.encode([]).shape == (0, e.dim)
    assert BuiltinAudioEmbedder(n_mfcc=13).name != e.name


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_sample_format_decodes_to_the_same_signal(fmt):
    rng = np.random.default_rng(0)
    x = 0.5 * signal("high_tone", 8_000, 0.2, rng)
    for stereo in (False, True):
        y, rate = decode_wav(wav_bytes(x, 8_000, fmt, stereo=stereo), max_seconds=10)
        assert rate == 8_000 and y.shape == x.shape
        np.testing.assert_allclose(y, x, atol=1.5 / 128 if fmt == "u8" else 1e-4)


def test_level_does_not_matter_and_max_seconds_cuts():
    rng = np.random.default_rng(3)
    x = signal("chirp", 16_000, 0.5, rng)
    e = BuiltinAudioEmbedder()
    loud, quiet = e.encode([wav_bytes(0.9 * x, 16_000, "f32"), wav_bytes(0.09 * x, 16_000, "f32")])
    assert float(loud @ quiet) > 0.999
    short = BuiltinAudioEmbedder(max_seconds=0.1)
    assert short.name != e.name
    y, _ = decode_wav(wav_bytes(x, 16_000, "s16"), max_seconds=0.1)
    assert y.size == 1_600


def test_deterministic_across_instances_and_batch_order():
    items = [_tone(s, FORMATS[s % len(FORMATS)]) for s in range(4)]
    v1 = BuiltinAudioEmbedder().encode(items)
    v2 = BuiltinAudioEmbedder().encode(items)
    assert v1.tobytes() == v2.tobytes()
    e = BuiltinAudioEmbedder()
    assert e.encode(items[::-1]).tobytes() == v1[::-1].tobytes()
    for i, item in enumerate(items):
        assert e.encode([item])[0].tobytes() == v1[i].tobytes()


def test_undecodable_items_are_skips_with_reasons():
    e = BuiltinAudioEmbedder()
    good = _tone(1)
    empty = io.BytesIO()
    with wave.open(empty, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
    items = [b"fLaC\x00\x00\x00\x22", good, b"OggS" + b"\x00" * 30, b"ID3\x04" + b"\x00" * 30,
             good[:30], b"\x89PNG\r\n\x1a\n", empty.getvalue(), b""]
    out = e.encode_each(items)
    assert set(out.failed) == {0, 2, 3, 4, 5, 6, 7}
    assert "FLAC" in out.failed[0] and "Ogg" in out.failed[2] and "MP3" in out.failed[3]
    assert "not a WAV" in out.failed[5] and "no samples" in out.failed[6]
    assert all(r.startswith("UndecodableMedia: ") for r in out.failed.values())
    assert out.vectors[1].tobytes() == e.encode([good])[0].tobytes()
    assert not out.vectors[~out.ok].any()
    with pytest.raises(UndecodableMedia, match="item 0"):
        e.encode([b"junk", good])


def test_filterbank_covers_the_band():
    bank = mel_filterbank(n_mels=40)
    assert bank.shape == (40, 257)
    np.testing.assert_allclose(bank.sum(axis=1), 1.0)
    centres = bank.argmax(axis=1)
    assert (np.diff(centres) >= 0).all() and centres[-1] > centres[0]


def test_synthetic_classes_are_separated_by_a_linear_model():
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    blobs, y = dataset(15, seed=1)
    x = BuiltinAudioEmbedder().encode(blobs)
    test = np.arange(len(y)) % 3 == 0
    with threadpool_limits(1):
        clf = LogisticRegression(C=4, max_iter=1000).fit(x[~test], y[~test])
    assert clf.score(x[test], y[test]) >= 0.95


def test_absurd_rates_and_corrupted_files_are_skips_never_crashes():
    good = _tone(2, "s16")
    bad_rate = bytearray(good)
    bad_rate[24:28] = (1_999_993).to_bytes(4, "little")  # a prime: resampling would explode
    bad_rate[28:32] = (2 * 1_999_993).to_bytes(4, "little")  # the byte rate that goes with it
    rng = np.random.default_rng(0)
    corrupted = []
    for i in range(40):
        a = bytearray(_tone(i, FORMATS[i % len(FORMATS)]))
        if i % 2:
            a = a[: int(rng.integers(len(a)))]
        else:
            for p in rng.integers(0, 64, 6):
                a[p] = int(rng.integers(256))
        corrupted.append(bytes(a))
    out = BuiltinAudioEmbedder().encode_each([bytes(bad_rate), *corrupted])
    assert 0 in out.failed and "sample rate" in out.failed[0]
    assert all(r.startswith("UndecodableMedia: ") for r in out.failed.values())
    assert np.isfinite(out.vectors).all()
