"""Video frames (labelloop.media.video) on clips the tests synthesise with PyAV: the frames
taken at the configured rate and which ones, the frame cap, seeking, unknown durations,
rotation, size limits, corrupt bytes and slow decodes as skips, and JPEG frames for the LLM."""

from __future__ import annotations

import io

import numpy as np
import pytest
from av.container import InputContainer
from PIL import Image
from pydantic import ValidationError

from labelloop.embeddings.media_base import UndecodableMedia
from labelloop.media import video
from labelloop.media.sniff import sniff, wrong_kind
from labelloop.media.video import VideoLimits, frames_as_jpeg, plan_times, sample_frames
from labelloop.settings import Settings
from tests.media.media_bytes import PNG
from tests.media.video_synth import ENCODERS, encode, grey_ramp, level_at

FPS = 10
CODEC_IDS = [f"{c}-{f}" for c, f in ENCODERS]


@pytest.fixture(scope="module")
def ramps() -> dict[tuple[str, str], bytes]:
    """A 3 s clip at 10 frames/s per encoder; frame i is grey level 2i."""
    return {(c, f): encode(grey_ramp(30), 30, codec=c, fmt=f, fps=FPS) for c, f in ENCODERS}


def test_encoders_cover_mp4_and_webm():
    assert {f for _, f in ENCODERS} == {"mp4", "webm"}


def test_plan_times_known_values():
    np.testing.assert_allclose(plan_times(3.0, fps=1.0, max_frames=32), [0.5, 1.5, 2.5])
    np.testing.assert_allclose(plan_times(3.0, fps=2.0, max_frames=32), np.arange(6) / 2 + 0.25)
    np.testing.assert_allclose(plan_times(2.9, fps=1.0, max_frames=32), (np.arange(3) + .5) * 2.9 / 3)
    np.testing.assert_allclose(plan_times(100.0, fps=1.0, max_frames=4), [12.5, 37.5, 62.5, 87.5])
    np.testing.assert_allclose(plan_times(0.2, fps=1.0, max_frames=8), [0.1])
    np.testing.assert_allclose(plan_times(3.0, fps=None, max_frames=3), [0.5, 1.5, 2.5])


@pytest.mark.parametrize(("codec", "fmt"), ENCODERS, ids=CODEC_IDS)
def test_frames_at_the_rate_are_the_frames_on_screen(ramps, codec, fmt):
    data = ramps[(codec, fmt)]
    assert sniff(data) == f"video/{fmt}" and wrong_kind(sniff(data), "video") is None
    one = sample_frames(data, limits=VideoLimits(fps=1.0))
    assert len(one) == 3 and one.frames.shape == (3, 32, 32, 3) and one.frames.dtype == np.uint8
    np.testing.assert_allclose(one.times, [0.5, 1.5, 2.5])
    assert one.duration == pytest.approx(3.0, abs=0.01) and (one.width, one.height) == (32, 32)
    two = sample_frames(data, limits=VideoLimits(fps=2.0))
    assert len(two) == 6
    every = sample_frames(data, limits=VideoLimits(fps=10.0))
    assert len(every) == 30
    for got in (one, two, every):  # the frame shown at each time, within the codec's loss
        shown = got.frames[:, :, :, 0].mean(axis=(1, 2))
        np.testing.assert_allclose(shown, level_at(got.times, fps=FPS), atol=6)


@pytest.mark.parametrize(("codec", "fmt"), ENCODERS, ids=CODEC_IDS)
def test_frame_cap_spreads_frames_over_the_whole_clip(ramps, codec, fmt):
    got = sample_frames(ramps[(codec, fmt)], limits=VideoLimits(fps=10.0, max_frames=4))
    assert len(got) == 4
    np.testing.assert_allclose(got.times, [0.375, 1.125, 1.875, 2.625])
    even = sample_frames(ramps[(codec, fmt)], limits=VideoLimits(fps=None, max_frames=5))
    np.testing.assert_allclose(even.times, (np.arange(5) + 0.5) * 0.6)


@pytest.mark.parametrize(("seconds", "fps", "gop", "max_frames"), [
    (100, 2, 10, 7),   # key frames every 5 s, targets 14 s apart
    (40, 10, 5, 8),    # key frames every 0.5 s, targets 5 s apart (under SEEK_GAP_S)
])
def test_long_clip_seeks_to_the_same_frames_as_decoding_through(monkeypatch, seconds, fps, gop,
                                                                 max_frames):
    seeks = []
    real_seek = InputContainer.seek

    def counted_seek(self, *args, **kwargs):
        seeks.append(args)
        return real_seek(self, *args, **kwargs)

    for codec, fmt in ENCODERS:
        data = encode(grey_ramp(seconds * fps), seconds * fps, codec=codec, fmt=fmt, fps=fps,
                      gop=gop)
        limits = VideoLimits(fps=1.0, max_frames=max_frames)
        with monkeypatch.context() as m:
            m.setattr(InputContainer, "seek", counted_seek)
            seeking = sample_frames(data, limits=limits)
        with monkeypatch.context() as m:
            m.setattr(video, "SEEK_GAP_S", 1e9)
            m.setattr(video, "MIN_SEEK_GAP_S", 1e9)
            through = sample_frames(data, limits=limits)
        np.testing.assert_array_equal(seeking.frames, through.frames)
        np.testing.assert_allclose(seeking.frames[:, :, :, 0].mean(axis=(1, 2)),
                                   level_at(seeking.times, fps=fps), atol=6)
    assert len(seeks) >= len(ENCODERS) * (max_frames - 2)  # most targets were reached by seeking


def test_duration_missing_from_the_headers_comes_from_the_packets():
    data = encode(grey_ramp(45), 45, codec="libvpx", fmt="webm", fps=FPS,
                  options={"live": "1"})  # a streamed WebM: no duration in the header
    got = sample_frames(data, limits=VideoLimits(fps=1.0))
    assert got.duration == pytest.approx(4.5, abs=0.11)
    assert len(got) == 5
    np.testing.assert_allclose(got.frames[:, :, :, 0].mean(axis=(1, 2)),
                               level_at(got.times, fps=FPS), atol=6)


def test_frames_shrink_to_max_side_and_are_never_enlarged():
    wide = encode(lambda i: np.full((48, 64, 3), 90, dtype=np.uint8), 10)
    assert sample_frames(wide, limits=VideoLimits(max_side=32)).frames.shape == (1, 24, 32, 3)
    assert sample_frames(wide, limits=VideoLimits(max_side=500)).frames.shape == (1, 48, 64, 3)


@pytest.mark.parametrize(("rotation", "corner"), [(-90, (0, -1)), (90, (-1, 0)), (180, (-1, -1))])
def test_frames_are_turned_upright(rotation, corner):
    def paint(i):  # landscape 48 x 32, red block in the top-left corner
        img = np.zeros((32, 48, 3), dtype=np.uint8)
        img[:12, :12] = (255, 0, 0)
        return img

    got = sample_frames(encode(paint, 10, rotation=rotation)).frames[0]
    assert got.shape == ((48, 32, 3) if rotation % 180 else (32, 48, 3))
    y = 4 if corner[0] == 0 else got.shape[0] - 5
    x = 4 if corner[1] == 0 else got.shape[1] - 5
    assert got[y, x, 0] > 200 and got[y, x, 1] < 60  # red where the display puts the corner
    assert got[got.shape[0] - 1 - y, got.shape[1] - 1 - x, 0] < 60


def test_corrupt_or_foreign_bytes_are_skips_with_reasons(ramps):
    mp4 = ramps[("mpeg4", "mp4")]
    webm = next(v for (c, f), v in ramps.items() if f == "webm")
    cases = {
        "empty": b"", "text": b"hello, not a video", "png": PNG,
        "mp4 head": mp4[:300], "mp4 half": mp4[: len(mp4) // 2], "webm head": webm[:200],
        "ebml zeros": b"\x1a\x45\xdf\xa3" + bytes(500),
        "ftyp junk": b"\x00\x00\x00\x18ftypisom" + np.random.default_rng(0).bytes(4000),
    }
    for name, data in cases.items():
        with pytest.raises(UndecodableMedia) as info:
            sample_frames(data)
        assert str(info.value), name
    with pytest.raises(UndecodableMedia, match="not an MP4 or WebM"):
        sample_frames(PNG)
    with pytest.raises(UndecodableMedia, match="not bytes"):
        sample_frames("clip.mp4")  # type: ignore[arg-type]


def test_frames_larger_than_the_limit_are_skips(ramps):
    data = ramps[("mpeg4", "mp4")]
    with pytest.raises(UndecodableMedia, match="32x32, more than 1000 pixels"):
        sample_frames(data, limits=VideoLimits(max_pixels=1000))



def test_a_slow_decode_stops_between_frames_at_the_time_limit(monkeypatch):
    long = encode(grey_ramp(3000, size=16), 3000, fps=25, gop=3000)  # 2 min, one key frame
    clock = {"now": 0.0, "calls": 0}

    def monotonic():  # every look at the clock: 1 ms later
        clock["now"] += 0.001
        clock["calls"] += 1
        return clock["now"]

    monkeypatch.setattr(video, "monotonic", monotonic)
    with pytest.raises(UndecodableMedia, match="longer than its time limit"):
        sample_frames(long, limits=VideoLimits(fps=1.0, max_frames=120, timeout_s=0.1))
    assert 100 <= clock["calls"] <= 110  # one look per decoded frame, stopped at the limit
    clock["calls"] = 0
    assert len(sample_frames(long, limits=VideoLimits(fps=1.0, max_frames=120,
                                                      timeout_s=10.0))) == 120
    assert clock["calls"] > 2900  # decoded up to the last target (119.5 s) within 10 s


def test_frames_as_jpeg_for_the_llm(ramps):
    for codec, fmt in ENCODERS:
        jpegs = frames_as_jpeg(ramps[(codec, fmt)], k=3)
        assert len(jpegs) == 3
        levels = []
        for data in jpegs:
            img = Image.open(io.BytesIO(data))
            img.load()
            assert img.format == "JPEG" and img.size == (32, 32) and img.mode == "RGB"
            levels.append(np.asarray(img)[..., 0].mean())
        np.testing.assert_allclose(levels, level_at(np.array([0.5, 1.5, 2.5]), fps=FPS), atol=6)
    big = encode(lambda i: np.full((64, 96, 3), 120, dtype=np.uint8), 10)
    (one,) = frames_as_jpeg(big, k=1, max_side=48)
    assert Image.open(io.BytesIO(one)).size == (48, 32)
    with pytest.raises(ValueError):
        frames_as_jpeg(big, k=0)
    with pytest.raises(UndecodableMedia):
        frames_as_jpeg(b"junk", k=2)


def test_limits_from_settings_and_their_key(monkeypatch):
    monkeypatch.setenv("LABELLOOP_VIDEO_FPS", "2.5")
    monkeypatch.setenv("LABELLOOP_VIDEO_MAX_FRAMES", "12")
    monkeypatch.setenv("LABELLOOP_VIDEO_DECODE_TIMEOUT_S", "9")
    limits = VideoLimits.from_settings(Settings())
    assert (limits.fps, limits.max_frames, limits.timeout_s) == (2.5, 12, 9.0)
    assert limits.key == "fps2.5-max12-side512"
    assert VideoLimits(fps=None, max_frames=4).key == "even-max4-side512"
    for bad in ({"fps": 0}, {"max_frames": 0}, {"timeout_s": 0}):
        with pytest.raises(ValueError):
            VideoLimits(**bad)  # type: ignore[arg-type]
    monkeypatch.setenv("LABELLOOP_VIDEO_FPS", "0")
    with pytest.raises(ValidationError):
        Settings()
