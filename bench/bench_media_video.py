"""Video embedding throughput: frames sampled by PyAV (labelloop.media.video) and embedded by the
built-in image embedder, pooled (labelloop.embeddings.video.VideoEmbedder), against the bare
image encoder on the same frames.

Clips are synthesised with PyAV (a moving square and drifting bands over a colour gradient):
short 32 × 32 clips (3 s), 320 × 240 clips (10 s; H.264 in MP4 and VP9 in WebM), and 1- and
3-minute 320 × 240 clips (more frames than LABELLOOP_VIDEO_MAX_FRAMES at 1 frame/s, so the
frames are spread: decoded through with 2 s between key frames, reached by seeking with 1 s). For each: decode only (frames/s, clips/s), the whole embedder
(frames/s, clips/s), and the bare encoder's ``encode_pixels`` on the frames already decoded
(the share of the embedder's time the image encoder itself takes); and decode plus bare
encoder as a share of the embedder's time (100 %: the embedder adds nothing to its two parts).

Each time is the best of 3 runs.

    .venv/bin/python bench/bench_media_video.py [--clips 12] [--fps 1] [--max-frames 32]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "backend"), str(ROOT)]

import numpy as np
from tests.media.video_synth import ENCODERS, encode
from threadpoolctl import threadpool_limits

from labelloop.embeddings.image_builtin import BuiltinImageEmbedder
from labelloop.embeddings.video import VideoEmbedder
from labelloop.media.video import VideoLimits, sample_frames


def painter(seed, w, h):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, 3)
    yy, xx = np.mgrid[:h, :w]
    grad = ((xx / w)[..., None] * base + (yy / h)[..., None] * (255 - base)).astype(np.uint8)
    side = max(4, h // 5)

    def paint(i):
        img = grad.copy()
        x = (i * 3) % (w - side)
        img[h // 3:h // 3 + side, x:x + side] = 255
        img[((yy + 2 * i) % (h // 4)) < 3] = (20, 20, 20)
        return img

    return paint


def make_set(n, *, w, h, seconds, codec, fmt, fps=25, key_every_s=2):
    return [encode(painter(s, w, h), seconds * fps, codec=codec, fmt=fmt, fps=fps,
                   gop=fps * key_every_s) for s in range(n)]


def timed(fn, repeat=3):
    """``fn()`` and its best time of ``repeat`` runs (the cores are shared: the minimum is the
    least disturbed)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def run(name, clips, limits):
    image = BuiltinImageEmbedder()
    embedder = VideoEmbedder(image, limits=limits)
    embedder.encode(clips[:1])  # warm up
    sampled, t_decode = timed(lambda: [sample_frames(c, limits=limits) for c in clips])
    n_frames = sum(len(s) for s in sampled)
    _, t_bare = timed(lambda: [image.encode_pixels(list(s.frames)) for s in sampled])
    vectors, t_all = timed(lambda: embedder.encode(clips))
    assert vectors.shape == (len(clips), image.dim)
    mb = sum(len(c) for c in clips) / len(clips) / 1e6
    print(f"| {name} | {len(clips)} | {mb:.2f} | {n_frames / len(clips):.0f} | "
          f"{n_frames / t_decode:,.0f} | {n_frames / t_all:,.0f} | {len(clips) / t_all:,.1f} | "
          f"{n_frames / t_bare:,.0f} | {t_bare / t_all:.0%} | {(t_decode + t_bare) / t_all:.0%} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--fps", type=float, default=1.0)
    ap.add_argument("--max-frames", type=int, default=32)
    args = ap.parse_args()
    limits = VideoLimits(fps=args.fps, max_frames=args.max_frames)
    codecs = dict(ENCODERS)
    h264 = "libx264" if "libx264" in codecs else "mpeg4"
    vp = "libvpx-vp9" if "libvpx-vp9" in codecs else "libvpx"
    print(f"sampling: {limits.key}; built-in image embedder; numpy/BLAS limited to 1 thread\n")
    print("| clips | n | MB/clip | frames/clip | decode frames/s | embed frames/s | embed "
          "clips/s | bare encoder frames/s | encoder share | decode + encoder vs embedder |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    with threadpool_limits(1):
        run("32×32, 3 s, MPEG-4/MP4", make_set(args.clips, w=32, h=32, seconds=3,
                                                codec="mpeg4", fmt="mp4"), limits)
        run("320×240, 10 s, H.264/MP4", make_set(args.clips, w=320, h=240, seconds=10,
                                                  codec=h264, fmt="mp4"), limits)
        run("320×240, 10 s, VP9/WebM", make_set(args.clips, w=320, h=240, seconds=10,
                                                 codec=vp, fmt="webm"), limits)
        run("320×240, 60 s, H.264/MP4, key frame every 2 s",
            make_set(max(2, args.clips // 3), w=320, h=240, seconds=60, codec=h264, fmt="mp4"),
            limits)
        run("320×240, 180 s, H.264/MP4, key frame every 1 s",
            make_set(max(2, args.clips // 4), w=320, h=240, seconds=180, codec=h264, fmt="mp4",
                     key_every_s=1), limits)


if __name__ == "__main__":
    main()
