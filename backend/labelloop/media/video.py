"""Frames of a video, decoded with PyAV (whose wheels carry their own ffmpeg).

:func:`sample_frames` turns the bytes of an MP4 (or MOV) or WebM (or Matroska) file into a few
RGB frames: at ``fps`` frames per second of video, at most ``max_frames`` of them, the frame on
screen at the middle of each of ``n`` equal slices of the video (so a 3 s clip at 1 frame/s
gives the frames at 0.5, 1.5 and 2.5 s; a clip longer than ``max_frames / fps`` seconds gets
``max_frames`` frames spread evenly over its whole length). Frames are turned upright (the
display matrix phones write) and shrunk to fit ``max_side`` (never enlarged), all to one size.

The container is chosen from the magic bytes, never probed, so no other demuxer (playlists that
name URLs, concat lists) ever reads the bytes. A file that does not decode, holds no video
stream, is larger than ``max_pixels`` a frame, or takes more than ``timeout_s`` to decode is a
:class:`~labelloop.embeddings.media_base.UndecodableMedia` (an item error: a skip with its
reason). The deadline is checked between frames; one frame's decode is not interrupted.

:func:`frames_as_jpeg` gives ``k`` frames spread evenly over a video as JPEG bytes, for the
vision LLM (``MediaInput.frames``)::

    frames = sample_frames(data, limits=VideoLimits.from_settings(settings))  # VideoFrames
    jpegs = frames_as_jpeg(data, k=settings.llm_video_frames, limits=limits)   # list[bytes]
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from time import monotonic
from typing import TYPE_CHECKING

import numpy as np

from labelloop.embeddings.media_base import UndecodableMedia
from labelloop.media.sniff import sniff

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

    from labelloop.settings import Settings

# sniffed type -> the one ffmpeg demuxer allowed to read it
DEMUXERS = {"video/mp4": "mov", "audio/mp4": "mov", "video/webm": "matroska",
            "video/x-matroska": "matroska"}
# a target further ahead than this (key frame interval unknown), or than twice the interval
# (at least MIN_SEEK_GAP_S), is reached by seeking to the key frame before it, not decoding through
SEEK_GAP_S = 8.0
MIN_SEEK_GAP_S = 1.0


@dataclass(frozen=True)
class VideoLimits:
    """What is sampled and what is refused. ``fps``: frames per second of video (None: exactly
    ``max_frames``, spread evenly); ``max_side``: frames shrunk to fit (pixels);
    ``max_pixels``: larger frames are refused; ``timeout_s``: decode time allowed per file."""

    fps: float | None = 1.0
    max_frames: int = 32
    max_side: int = 512
    max_pixels: int = 8192 * 4320
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.max_frames < 1 or self.max_side < 1 or self.max_pixels < 1:
            raise ValueError("max_frames, max_side and max_pixels must be >= 1")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")

    @classmethod
    def from_settings(cls, settings: Settings) -> VideoLimits:
        return cls(fps=settings.video_fps, max_frames=settings.video_max_frames,
                   timeout_s=settings.video_decode_timeout_s)

    @property
    def key(self) -> str:
        """The parameters that change the frames (part of a video embedder's name)."""
        rate = "even" if self.fps is None else f"fps{self.fps:g}"
        return f"{rate}-max{self.max_frames}-side{self.max_side}"


DEFAULT_LIMITS = VideoLimits()


@dataclass(frozen=True)
class VideoFrames:
    """Frames sampled from one video: ``frames`` uint8 ``(n, h, w, 3)`` RGB, upright;
    ``times`` float64 ``(n,)`` seconds from the start of the video stream; ``duration`` in
    seconds; ``width``/``height`` of the stored (not rotated) picture; ``codec`` its name."""

    frames: np.ndarray
    times: np.ndarray
    duration: float
    width: int
    height: int
    codec: str

    def __len__(self) -> int:
        return len(self.frames)


def plan_times(duration: float, *, fps: float | None, max_frames: int) -> np.ndarray:
    """The times (s) to sample in a video of ``duration`` seconds: the middles of ``n`` equal
    slices, ``n = ceil(duration * fps)`` capped at ``max_frames`` (``max_frames`` when ``fps`` is
    None), at least 1."""
    if fps is None:
        n = max_frames
    else:
        n = min(max_frames, max(1, math.ceil(duration * fps - 1e-9)))
    return (np.arange(n, dtype=np.float64) + 0.5) * (max(duration, 0.0) / n)


def sample_frames(data: bytes, *, limits: VideoLimits = DEFAULT_LIMITS) -> VideoFrames:
    """The frames of a video file's bytes (see the module); :class:`UndecodableMedia` when it
    cannot be decoded within the limits."""
    deadline = monotonic() + limits.timeout_s
    try:
        with _open(data) as container:
            stream = _video_stream(container, limits)
            start = _seconds(stream.start_time, stream) or 0.0
            duration = _duration(container, stream)
            if duration is None:  # not in the headers: the packets say (demuxed, not decoded)
                duration = _demuxed_duration(container, stream, start, deadline)
                container.seek(0)
            times = plan_times(duration, fps=limits.fps, max_frames=limits.max_frames)
            picked = list(_frames_at(container, stream, times, start=start, deadline=deadline))
            codec = stream.codec_context.name
    except UndecodableMedia:
        raise
    except Exception as exc:  # a parser of untrusted bytes: whatever it raises is the file's
        raise UndecodableMedia(f"the video cannot be decoded: {exc}") from exc
    if not picked:
        raise UndecodableMedia("the video holds no decodable frame")
    width, height = picked[0][1].width, picked[0][1].height
    size = _fit(width, height, limits.max_side)
    frames = np.stack([_rgb(frame, size) for _, frame in picked])
    return VideoFrames(frames, np.array([t for t, _ in picked]), duration, width, height, codec)


def frames_as_jpeg(data: bytes, *, k: int, limits: VideoLimits = DEFAULT_LIMITS,
                   max_side: int = 768, quality: int = 85) -> list[bytes]:
    """``k`` frames spread evenly over the video (the middles of ``k`` equal slices) as JPEG
    files of at most ``max_side`` pixels a side, in time order; ``limits``' ``timeout_s`` and
    ``max_pixels`` apply (its rate and count do not)."""
    from PIL import Image

    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    sampled = sample_frames(data, limits=replace(limits, fps=None, max_frames=k,
                                                 max_side=max_side))
    out = []
    for frame in sampled.frames:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
        out.append(buf.getvalue())
    return out


def _open(data: bytes) -> InputContainer:
    import av

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UndecodableMedia(f"item is {type(data).__name__}, not bytes")
    kind = sniff(bytes(data[:64]))
    demuxer = DEMUXERS.get(kind)
    if demuxer is None:
        raise UndecodableMedia(f"not an MP4 or WebM video (the bytes are {kind})")
    return av.open(io.BytesIO(bytes(data)), mode="r", format=demuxer)


def _video_stream(container: InputContainer, limits: VideoLimits) -> VideoStream:
    if not container.streams.video:
        raise UndecodableMedia("the file holds no video stream")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > limits.max_pixels:
        raise UndecodableMedia(f"the video is {width}x{height}, more than {limits.max_pixels} "
                               "pixels a frame")
    return stream


def _seconds(value: int | None, stream: VideoStream) -> float | None:
    if value is None or stream.time_base is None:
        return None
    return float(value * stream.time_base)


def _duration(container: InputContainer, stream: VideoStream) -> float | None:
    seconds = _seconds(stream.duration, stream)
    if seconds is None and container.duration is not None:
        seconds = container.duration / 1_000_000  # AV_TIME_BASE
    return seconds if seconds is not None and seconds > 0 else None


def _demuxed_duration(container: InputContainer, stream: VideoStream, start: float,
                      deadline: float) -> float:
    end = 0.0
    for packet in container.demux(stream):
        _check(deadline)
        if packet.pts is not None and packet.time_base is not None:
            length = float((packet.duration or 0) * packet.time_base)
            end = max(end, float(packet.pts * packet.time_base) + length - start)
    return end


def _check(deadline: float) -> None:
    if monotonic() > deadline:
        raise UndecodableMedia("decoding the video took longer than its time limit")


def _frames_at(container: InputContainer, stream: VideoStream, times: np.ndarray, *,
               start: float, deadline: float) -> Iterator[tuple[float, VideoFrame]]:
    """(target time, the frame on screen at that time) for each of ``times`` (ascending).
    Targets past the last frame by more than the gap between frames are dropped."""
    cursor = _Cursor(container, stream, start=start, deadline=deadline)
    for target in times:
        frame = cursor.at(float(target))
        if frame is None:
            return
        yield float(target), frame


class _Cursor:
    """Decodes one video stream forward; jumps (seeks) to a target when a key frame lies
    between: the target is more than twice the key frame interval ahead (or, before two key
    frames were seen, more than ``SEEK_GAP_S``)."""

    def __init__(self, container: InputContainer, stream: VideoStream, *, start: float,
                 deadline: float) -> None:
        self.container, self.stream, self.start, self.deadline = container, stream, start, deadline
        self.gap = 1.0 / float(stream.average_rate) if stream.average_rate else 1.0
        self.key_gap: float | None = None    # time between key frames, once two were seen
        self._last_key: float | None = None
        self._decoded: Iterator[VideoFrame] = container.decode(stream)
        self.cur: tuple[float, VideoFrame] | None = None  # the last frame at or before a target
        self.nxt = self._read(None)                        # the frame decoded after it

    def _read(self, after: tuple[float, VideoFrame] | None) -> tuple[float, VideoFrame] | None:
        frame = next(self._decoded, None)
        _check(self.deadline)
        if frame is None:
            return None
        if frame.time is not None:
            t = float(frame.time) - self.start
        else:
            t = after[0] + self.gap if after else 0.0
        if frame.key_frame:
            if self._last_key is not None and t > self._last_key:
                self.key_gap = t - self._last_key
            self._last_key = t
        return t, frame

    def at(self, target: float) -> VideoFrame | None:
        """The frame on screen at ``target`` (None past the end)."""
        far = SEEK_GAP_S if self.key_gap is None else max(2 * self.key_gap, MIN_SEEK_GAP_S)
        time_base = self.stream.time_base
        if self.nxt is not None and target - self.nxt[0] > far and time_base is not None:
            self.container.seek(int((target + self.start) / time_base),
                                stream=self.stream)
            self._decoded, self.cur, self._last_key = self.container.decode(self.stream), None, None
            self.nxt = self._read(None)
        while self.nxt is not None and self.nxt[0] <= target:
            if self.cur is not None and self.nxt[0] > self.cur[0]:
                self.gap = self.nxt[0] - self.cur[0]
            self.cur, self.nxt = self.nxt, self._read(self.nxt)
        chosen = self.cur if self.cur is not None else self.nxt
        if chosen is None or (self.nxt is None and target - chosen[0] > self.gap):
            return None
        return chosen[1]


def _fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _rgb(frame: VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """The frame as uint8 ``(h, w, 3)`` RGB at ``size`` (w, h), turned upright."""
    rgb = frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
    turns = round(getattr(frame, "rotation", 0) / 90) % 4  # counter-clockwise quarter turns
    return np.ascontiguousarray(np.rot90(rgb, k=turns)) if turns else rgb
