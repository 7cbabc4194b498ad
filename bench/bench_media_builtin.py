"""What the built-in image and audio embedders are worth: 5-fold CV accuracy of labelloop's
learner (logistic regression, C=4) on their vectors, next to raw pixels, and their speed.

* sklearn's digits (1,797 8 × 8 images upscaled to 64 × 64 PNGs, 10 classes);
* with ``--skimage-data DIR`` (scikit-image's ``skimage/data`` folder, e.g. unpacked from its
  wheel): ``lfw_subset.npy`` (100 faces / 100 non-faces, 25 × 25) and 64 × 64 tiles of the
  ``brick``/``grass``/``gravel`` textures (64 each);
* synthesised audio (low tone / high tone / white noise / chirp, 40 clips each, every WAV
  format and rate of ``tests/embeddings/audio_synth.py``).

    .venv/bin/python bench/bench_media_builtin.py [--skimage-data DIR]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "backend"), str(ROOT)]

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from tests.embeddings.audio_synth import dataset
from threadpoolctl import threadpool_limits

from labelloop.embeddings.audio_builtin import BuiltinAudioEmbedder
from labelloop.embeddings.image_builtin import BuiltinImageEmbedder


def png(a, side=None):
    img = Image.fromarray(a)
    if side:
        img = img.resize((side, side), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def cv_acc(x, y):
    with threadpool_limits(1):
        cv = StratifiedKFold(5, shuffle=True, random_state=0)
        return cross_val_score(LogisticRegression(C=4, max_iter=3000), x, y, cv=cv).mean()


def raw_pixels(blobs):
    x = np.array([np.asarray(Image.open(io.BytesIO(b)).convert("L").resize((32, 32)), float)
                  .ravel() for b in blobs])
    x -= x.mean(axis=1, keepdims=True)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)


def image_sets(skimage_data):
    from sklearn.datasets import load_digits

    d = load_digits()
    yield "digits (64x64 PNG)", [png((a * 255 / 16).astype(np.uint8), 64) for a in d.images], \
        d.target
    if skimage_data is None:
        return
    lfw = np.load(skimage_data / "lfw_subset.npy")
    yield "lfw_subset faces", [png((a * 255).astype(np.uint8)) for a in lfw], \
        np.r_[np.ones(100), np.zeros(100)]
    blobs, y = [], []
    for k, name in enumerate(["brick", "grass", "gravel"]):
        a = np.asarray(Image.open(skimage_data / f"{name}.png").convert("L"))
        for i in range(0, a.shape[0] - 63, 64):
            for j in range(0, a.shape[1] - 63, 64):
                blobs.append(png(a[i:i + 64, j:j + 64]))
                y.append(k)
    yield "textures (brick/grass/gravel)", blobs, np.array(y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skimage-data", type=Path)
    args = ap.parse_args()
    print("| data | items | raw 32x32 pixels | built-in | built-in items/s |\n|---|---|---|---|---|")
    e = BuiltinImageEmbedder()
    for name, blobs, y in image_sets(args.skimage_data):
        t = time.perf_counter()
        x = e.encode(blobs)
        rate = len(blobs) / (time.perf_counter() - t)
        print(f"| {name} | {len(y)} | {cv_acc(raw_pixels(blobs), y):.3f} | {cv_acc(x, y):.3f} "
              f"| {rate:.0f} |")
    blobs, y = dataset(40)
    a = BuiltinAudioEmbedder()
    t = time.perf_counter()
    x = a.encode(blobs)
    rate = len(blobs) / (time.perf_counter() - t)
    print(f"| synthetic audio (4 classes) | {len(y)} | - | {cv_acc(x, y):.3f} | {rate:.0f} |")
    print(f"\nimage: {e.name} ({e.dim}-d)\naudio: {a.name} ({a.dim}-d)")


if __name__ == "__main__":
    main()
