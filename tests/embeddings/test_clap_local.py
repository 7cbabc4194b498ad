"""The configured audio model's path, on a tiny CLAP (random weights) that the tests build and
save to a temporary folder: loaded by transformers from local files, never downloaded; windows
pooled; a file's vector independent of its batch (also for a fused model, whose feature
extractor would mark a random item as longer); the settings → embedder wiring; the cache key."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from tests.embeddings.audio_synth import signal, wav_bytes
from tests.embeddings.clap_tiny import PROJECTION_DIM, RATE, build_tiny_clap

from labelloop.embeddings.audio_builtin import BuiltinAudioEmbedder
from labelloop.embeddings.base import EmbeddingModelUnavailable
from labelloop.embeddings.clap_local import ClapAudioEmbedder, windows
from labelloop.embeddings.media_base import MediaEmbedder, UndecodableMedia
from labelloop.embeddings.media_cache import embed_media_each
from labelloop.embeddings.media_factory import media_embedder
from labelloop.settings import Settings
from labelloop.storage import open_storage

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny_clap(tmp_path_factory):
    return build_tiny_clap(tmp_path_factory.mktemp("tiny-clap"))


@pytest.fixture(scope="module")
def tiny_fused_clap(tmp_path_factory):
    return build_tiny_clap(tmp_path_factory.mktemp("tiny-fused-clap"), fused=True,
                           processor=False)


def _clip(kind: str, seed: int, *, seconds: float = 0.6, rate: int = 16_000,
          fmt: str = "s16", stereo: bool = False) -> bytes:
    rng = np.random.default_rng(seed)
    return wav_bytes(signal(kind, rate, seconds, rng), rate, fmt, stereo=stereo)


def _clips() -> list[bytes]:
    return [_clip("low_tone", 1), _clip("white_noise", 2, rate=22_050, fmt="f32", stereo=True),
            _clip("chirp", 3, seconds=2.5, rate=8_000, fmt="u8"),
            _clip("high_tone", 4, seconds=1.3, rate=44_100, fmt="s24")]


def test_tiny_local_clap_embeds_audio(tiny_clap):
    e = ClapAudioEmbedder(tiny_clap, torch_threads=1)
    assert isinstance(e, MediaEmbedder) and e.modality == "audio"
    items = _clips()
    v = e.encode(items)
    assert e.dim == PROJECTION_DIM and v.shape == (4, PROJECTION_DIM) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.abs(v @ v.T - np.eye(4)).max() > 1e-3  # not one vector for every clip
    np.testing.assert_array_equal(e.encode(items), v)  # deterministic
    again = ClapAudioEmbedder(tiny_clap, batch_size=3, torch_threads=1)  # another batching
    np.testing.assert_allclose(again.encode(items[::-1]), v[::-1], atol=1e-5)
    np.testing.assert_allclose(again.encode([items[2]])[0], v[2], atol=1e-5)
    assert e.encode([]).shape == (0, PROJECTION_DIM)


def test_undecodable_files_are_skips(tiny_clap):
    e = ClapAudioEmbedder(tiny_clap, batch_size=2, torch_threads=1)
    good = _clip("low_tone", 1)
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    out = e.encode_each([png, good, good[:30], b"fLaC" + bytes(40), good])
    assert set(out.failed) == {0, 2, 3} and "not a WAV" in out.failed[0]
    assert "FLAC" in out.failed[3]
    np.testing.assert_allclose(out.vectors[1], e.encode([good])[0], atol=1e-5)
    np.testing.assert_allclose(out.vectors[4], out.vectors[1], atol=1e-6)
    assert not out.vectors[~out.ok].any()
    with pytest.raises(UndecodableMedia):
        e.encode([good, b"junk"])
    with pytest.raises(UndecodableMedia):
        e.encode(good)  # one file is not a sequence of files


def test_a_file_is_the_mean_of_its_windows(tiny_clap):
    e = ClapAudioEmbedder(tiny_clap, max_windows=2, torch_threads=1)
    x = signal("chirp", RATE, 3.5, np.random.default_rng(7))  # windows of 1 s: 3 + a half
    data = wav_bytes(x, RATE, "f32")
    parts = [x[:RATE], x[RATE:2 * RATE]]
    rows = e.encode_windows(parts)
    expect = rows.mean(axis=0) / np.linalg.norm(rows.mean(axis=0))
    np.testing.assert_allclose(e.encode([data])[0], expect, atol=1e-5)
    # past max_windows nothing counts: the first 2 s give the same vector
    np.testing.assert_allclose(e.encode([wav_bytes(x[:2 * RATE], RATE, "f32")])[0], expect,
                               atol=1e-5)
    assert ClapAudioEmbedder(tiny_clap, max_windows=4).encode([data])[0] @ expect < 1 - 1e-4
    assert e.name != ClapAudioEmbedder(tiny_clap, max_windows=4).name


def test_windows():
    x = np.arange(10.0)
    assert [len(w) for w in windows(x, size=4, max_windows=9)] == [4, 4, 2]
    assert [len(w) for w in windows(np.arange(17.0), size=8, max_windows=9)] == [8, 8]  # 1 < 2
    assert [len(w) for w in windows(np.arange(18.0), size=8, max_windows=9)] == [8, 8, 2]
    assert [len(w) for w in windows(np.arange(11.0), size=8, max_windows=9)] == [8, 3]
    assert [len(w) for w in windows(np.arange(3.0), size=8, max_windows=9)] == [3]
    assert [len(w) for w in windows(np.arange(40.0), size=8, max_windows=2)] == [8, 8]
    np.testing.assert_array_equal(windows(x, size=4, max_windows=1)[0], x[:4])


def test_fused_model_vector_does_not_depend_on_the_batch(tiny_fused_clap):
    """The extractor marks a random item of a batch with no long clip as longer (the fusion
    branch then changes that item's vector): the embedder passes is_longer as false."""
    e = ClapAudioEmbedder(tiny_fused_clap, batch_size=4, torch_threads=1)
    items = _clips()
    alone = np.stack([e.encode([b])[0] for b in items])
    for _ in range(3):
        np.testing.assert_allclose(e.encode(items), alone, atol=1e-5)
        np.testing.assert_allclose(e.encode(items[::-1]), alone[::-1], atol=1e-5)


def test_building_loads_nothing_and_bad_paths_are_unavailable(tmp_path, tiny_clap):
    absent = ClapAudioEmbedder(tmp_path / "absent")  # built: nothing is read yet
    assert absent.name == f"transformers-clap-audio:{tmp_path / 'absent'}:windows6-mean"
    with pytest.raises(EmbeddingModelUnavailable, match="does not exist"):
        absent.encode([_clip("low_tone", 1)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmbeddingModelUnavailable, match="local files"):
        ClapAudioEmbedder(tmp_path / "empty").encode([_clip("low_tone", 1)])
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(EmbeddingModelUnavailable, match="not a CLAP model"):
        ClapAudioEmbedder(tmp_path / "bert").encode([_clip("low_tone", 1)])
    weights_only = tmp_path / "no-extractor"
    weights_only.mkdir()
    for f in ("config.json", "model.safetensors"):
        shutil.copy(tiny_clap / f, weights_only / f)
    with pytest.raises(EmbeddingModelUnavailable, match="feature extractor"):
        ClapAudioEmbedder(weights_only).encode([_clip("low_tone", 1)])
    with pytest.raises(EmbeddingModelUnavailable, match="local files"):
        ClapAudioEmbedder("nobody/no-such-clap-model").encode([_clip("low_tone", 1)])
    with pytest.raises(ValueError):
        ClapAudioEmbedder(tiny_clap, max_windows=0)


def test_feature_extractor_alone_loads(tmp_path):
    path = build_tiny_clap(tmp_path / "fe-only", processor=False)
    assert (path / "preprocessor_config.json").exists()
    assert ClapAudioEmbedder(path).encode([_clip("low_tone", 1)]).shape == (1, PROJECTION_DIM)


def test_settings_choose_the_embedder(tiny_clap, monkeypatch):
    assert isinstance(media_embedder(Settings(), "audio"), BuiltinAudioEmbedder)
    monkeypatch.setenv("LABELLOOP_AUDIO_EMBEDDING_MODEL", str(tiny_clap))
    monkeypatch.setenv("LABELLOOP_AUDIO_EMBEDDING_BATCH_SIZE", "5")
    monkeypatch.setenv("LABELLOOP_EMBEDDING_THREADS", "1")
    configured = media_embedder(Settings(), "audio")
    assert isinstance(configured, ClapAudioEmbedder)
    assert (configured.model_ref, configured.batch_size, configured.torch_threads) == \
        (str(tiny_clap), 5, 1)
    assert configured._loaded is None  # the factory loads nothing
    assert media_embedder(Settings(), "image").modality == "image"  # images unchanged


def test_cached_built_in_vectors_are_never_served_as_clap_vectors(tiny_clap, tmp_path):
    items = _clips()[:2]
    builtin, clap = BuiltinAudioEmbedder(), ClapAudioEmbedder(tiny_clap, torch_threads=1)
    assert clap.name != builtin.name and str(tiny_clap) in clap.name
    other = tmp_path / "other-clap"
    shutil.copytree(tiny_clap, other)
    assert ClapAudioEmbedder(other).name != clap.name  # another model folder, another key
    store = open_storage(f"sqlite:///{tmp_path / 'cache.db'}")
    try:
        first, encoded = embed_media_each(items, embedder=builtin, store=store)
        assert encoded == 2 and first.vectors.shape == (2, builtin.dim)
        got, encoded = embed_media_each(items, embedder=clap, store=store)
        assert encoded == 2  # nothing taken from the built-in embedder's entries
        np.testing.assert_allclose(got.vectors, clap.encode(items), atol=1e-6)
        _, encoded = embed_media_each(items, embedder=clap, store=store)
        assert encoded == 0  # its own entries are reused
    finally:
        store.close()
