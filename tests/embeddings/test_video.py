"""The video embedder: the MediaEmbedder contract on synthesised clips (shape, unit rows,
determinism, batch order, skips), mean pooling of the image embedder's frame vectors (arrays or
PNG files alike), same-class clips closer than different-class ones, and the settings wiring
(built-in image embedder, or the tiny local CLIP)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from tests.embeddings.test_clip_local import PROJECTION_DIM, tiny_clip  # noqa: F401 (fixture)
from tests.media.video_synth import ENCODERS, class_clip, encode

from labelloop.embeddings.audio_builtin import BuiltinAudioEmbedder
from labelloop.embeddings.clip_local import SentenceTransformerImageEmbedder
from labelloop.embeddings.image_builtin import BuiltinImageEmbedder
from labelloop.embeddings.media_base import MediaEmbedder, MediaEncoded, Modality, UndecodableMedia
from labelloop.embeddings.media_factory import media_embedder
from labelloop.embeddings.video import FrameEmbedder, VideoEmbedder, pool_frames
from labelloop.media.video import VideoLimits, sample_frames
from labelloop.settings import Settings

LABELS = ("square", "stripes")


@pytest.fixture(scope="module")
def clips() -> tuple[list[bytes], np.ndarray]:
    """4 clips per class, 2.5 s at 10 frames/s, each encoder in turn, varied per clip."""
    rng = np.random.default_rng(7)
    data, labels = [], []
    for k in range(8):
        label = k % 2
        codec, fmt = ENCODERS[(k // 2) % len(ENCODERS)]
        data.append(encode(class_clip(LABELS[label], rng), 25, codec=codec, fmt=fmt))
        labels.append(label)
    return data, np.array(labels)


class FilesOnly:
    """The built-in image embedder without ``encode_pixels``: frames reach it as PNG files."""

    def __init__(self) -> None:
        self.inner = BuiltinImageEmbedder()
        self.name, self.dim = self.inner.name, self.inner.dim
        self.calls = 0

    @property
    def modality(self) -> Modality:
        return "image"

    def encode(self, items: Sequence[bytes]) -> np.ndarray:
        self.calls += 1
        return self.inner.encode(items)

    def encode_each(self, items: Sequence[bytes]) -> MediaEncoded:
        return self.inner.encode_each(items)


def test_contract_shape_unit_rows_determinism_and_order(clips):
    data, _ = clips
    e = VideoEmbedder(BuiltinImageEmbedder())
    assert isinstance(e, MediaEmbedder) and e.modality == "video"
    assert e.dim == BuiltinImageEmbedder().dim
    v = e.encode(data[:4])
    assert v.shape == (4, e.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(e.encode(data[:4][::-1]), v[::-1], atol=1e-6)
    np.testing.assert_allclose(VideoEmbedder(BuiltinImageEmbedder()).encode([data[2]])[0], v[2],
                               atol=1e-6)
    assert e.encode([]).shape == (0, e.dim)


def test_name_carries_the_sampling_and_the_image_embedder():
    image = BuiltinImageEmbedder()
    e = VideoEmbedder(image)
    assert e.name == f"labelloop/video-mean-v1:fps1-max32-side512+{image.name}"
    assert VideoEmbedder(image, limits=VideoLimits(fps=2.0)).name != e.name
    assert VideoEmbedder(image, limits=VideoLimits(max_frames=8)).name != e.name
    assert VideoEmbedder(BuiltinImageEmbedder(size=32)).name != e.name
    with pytest.raises(ValueError, match="image embedder"):
        VideoEmbedder(BuiltinAudioEmbedder())  # type: ignore[arg-type]


def test_vector_is_the_mean_of_the_frames_vectors(clips):
    data, _ = clips
    image = BuiltinImageEmbedder()
    limits = VideoLimits(fps=2.0)
    frames = sample_frames(data[0], limits=limits).frames
    per_frame = image.encode_pixels(list(frames))
    assert per_frame.shape == (5, image.dim)
    mean = per_frame.mean(axis=0)
    expected = mean / np.linalg.norm(mean)
    np.testing.assert_allclose(VideoEmbedder(image, limits=limits).encode([data[0]])[0],
                               expected, atol=1e-5)
    np.testing.assert_allclose(pool_frames(np.array([[3.0, 0.0], [0.0, 4.0], [0.0, 0.0]])),
                               [0.6, 0.8], atol=1e-6)
    with pytest.raises(ValueError):
        pool_frames(np.zeros((0, 4)))


def test_an_image_embedder_without_arrays_gets_png_files(clips):
    data, _ = clips
    files_only = FilesOnly()
    assert not isinstance(files_only, FrameEmbedder)
    assert isinstance(BuiltinImageEmbedder(), FrameEmbedder)
    via_files = VideoEmbedder(files_only).encode(data[:2])  # type: ignore[arg-type]
    assert files_only.calls == 2
    np.testing.assert_allclose(via_files, VideoEmbedder(BuiltinImageEmbedder()).encode(data[:2]),
                               atol=1e-5)  # PNG is lossless: the same vectors


def test_undecodable_clips_are_skips_with_reasons(clips):
    data, _ = clips
    e = VideoEmbedder(BuiltinImageEmbedder())
    out = e.encode_each([b"not a video", data[1], data[0][:200], data[3],
                         b"\x89PNG\r\n\x1a\n" + bytes(40)])
    assert set(out.failed) == {0, 2, 4}
    assert all(reason.startswith("UndecodableMedia: ") for reason in out.failed.values())
    assert "not an MP4 or WebM" in out.failed[0]
    assert not out.vectors[~out.ok].any()
    np.testing.assert_allclose(out.vectors[[1, 3]], e.encode([data[1], data[3]]), atol=1e-6)
    with pytest.raises(UndecodableMedia, match="item 0"):
        e.encode([b"junk", data[0]])
    with pytest.raises(UndecodableMedia):
        e.encode_each(data[0])  # one file, not a sequence of files


def test_same_class_clips_are_closer_than_different_class_ones(clips):
    data, labels = clips
    v = VideoEmbedder(BuiltinImageEmbedder()).encode(data)
    sim = v @ v.T
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    assert sim[same & off].min() > sim[~same].max()
    np.fill_diagonal(sim, -np.inf)
    assert (labels[sim.argmax(axis=1)] == labels).all()


def test_settings_choose_the_video_embedder(monkeypatch):
    e = media_embedder(Settings(), "video")
    assert isinstance(e, VideoEmbedder) and isinstance(e.image, BuiltinImageEmbedder)
    assert e.limits == VideoLimits(fps=1.0, max_frames=32, timeout_s=60.0)
    monkeypatch.setenv("LABELLOOP_VIDEO_FPS", "4")
    monkeypatch.setenv("LABELLOOP_VIDEO_MAX_FRAMES", "6")
    configured = media_embedder(Settings(), "video")
    assert isinstance(configured, VideoEmbedder)
    assert (configured.limits.fps, configured.limits.max_frames) == (4.0, 6)
    assert configured.name != e.name


def test_video_through_the_configured_local_clip(tiny_clip, clips, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LABELLOOP_IMAGE_EMBEDDING_MODEL", str(tiny_clip))
    monkeypatch.setenv("LABELLOOP_EMBEDDING_THREADS", "1")
    e = media_embedder(Settings(), "video")
    assert isinstance(e, VideoEmbedder) and isinstance(e.image, SentenceTransformerImageEmbedder)
    data, _ = clips
    out = e.encode_each([data[0], b"junk", data[1]])
    assert set(out.failed) == {1} and out.vectors.shape == (3, PROJECTION_DIM)
    np.testing.assert_allclose(np.linalg.norm(out.vectors[[0, 2]], axis=1), 1.0, atol=1e-5)
    frames = sample_frames(data[0], limits=e.limits).frames
    per_frame = e.image.encode_pixels(list(frames))
    mean = per_frame.mean(axis=0)
    np.testing.assert_allclose(out.vectors[0], mean / np.linalg.norm(mean), atol=1e-5)
