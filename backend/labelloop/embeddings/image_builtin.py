"""The built-in image embedder: no weights, nothing fitted, the same vectors in every project.

An image is decoded with Pillow (first frame, EXIF orientation applied, transparency laid on
white), converted to RGB and resized to ``size`` × ``size``; its vector is four groups of
hand-made features, each scaled to unit norm and weighted, then L2-normalised as a whole:

* ``hog``: histograms of oriented gradients of the grey image (unsigned orientations in
  ``bins`` bins with linear interpolation, ``cell``-pixel cells, 2 × 2-cell blocks normalised
  with L2-Hys) — shape and texture;
* ``thumb``: the grey image averaged down to 8 × 8, mean removed — the coarse layout;
* ``hsv``: a joint hue × saturation × value histogram (square-rooted) — the colours;
* ``grid``: mean R, G, B over a 1 × 1, 2 × 2 and 4 × 4 pyramid, and the channel standard
  deviations — where the colours are.

Nothing is projected or whitened: a reduction fitted on one project would change the vector
space with the project, and a random one loses what a linear model could use. The name carries
every parameter (it keys the embedding cache). What the vectors are worth: docs/media.md.
HOG is computed here with numpy (scikit-image is not a labelloop dependency).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from labelloop.embeddings.base import l2_normalise
from labelloop.embeddings.media_base import (
    MediaEncoded,
    Modality,
    UndecodableMedia,
    encode_per_item,
    require_all,
)

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

MAX_PIXELS = 64_000_000  # larger images are refused (decompression bombs), not decoded
THUMB = 8
GRID_LEVELS = (1, 2, 4)
HSV_BINS = (8, 3, 3)
WEIGHTS = {"hog": 1.0, "thumb": 0.6, "hsv": 0.6, "grid": 0.6}


def decode_image(data: bytes, *, max_pixels: int | None = None) -> PILImage:
    """A ``PIL.Image`` in RGB from a file's bytes; :class:`UndecodableMedia` when Pillow cannot
    read it or it is larger than ``max_pixels`` (default :data:`MAX_PIXELS`)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
    try:
        img: Image.Image = Image.open(io.BytesIO(data))
        if img.width * img.height > max_pixels:
            raise UndecodableMedia(f"the image is {img.width}x{img.height}, more than "
                                   f"{max_pixels} pixels")
        img.seek(0)
        img.load()
        img = ImageOps.exif_transpose(img)
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba)
        return img.convert("RGB")
    except UnidentifiedImageError as exc:
        raise UndecodableMedia("not an image Pillow can read") from exc
    except UndecodableMedia:
        raise
    except Exception as exc:  # a parser of untrusted bytes: whatever it raises is the file's
        raise UndecodableMedia(f"the image cannot be decoded: {exc}") from exc


def hog(grey: np.ndarray, *, cell: int, bins: int) -> np.ndarray:
    """HOG of a 2-D array whose sides are multiples of ``cell``: 2 × 2-cell blocks, L2-Hys."""
    gy, gx = np.gradient(grey)
    mag = np.hypot(gx, gy)
    pos = np.mod(np.arctan2(gy, gx), np.pi) / np.pi * bins - 0.5
    lo = np.floor(pos)
    w_hi = pos - lo
    lo_i = lo.astype(np.int64) % bins
    hi_i = (lo_i + 1) % bins
    h, w = grey.shape
    ch, cw = h // cell, w // cell
    cell_of = (np.arange(h) // cell)[:, None] * cw + (np.arange(w) // cell)[None, :]
    n = ch * cw * bins
    hist = (np.bincount((cell_of * bins + lo_i).ravel(), (mag * (1 - w_hi)).ravel(), n)
            + np.bincount((cell_of * bins + hi_i).ravel(), (mag * w_hi).ravel(), n))
    cells = hist.reshape(ch, cw, bins)
    blocks = np.concatenate([cells[:-1, :-1], cells[:-1, 1:], cells[1:, :-1], cells[1:, 1:]],
                            axis=2)
    blocks = blocks / np.sqrt((blocks ** 2).sum(axis=2, keepdims=True) + 1e-6)
    blocks = np.minimum(blocks, 0.2)
    blocks = blocks / np.sqrt((blocks ** 2).sum(axis=2, keepdims=True) + 1e-6)
    return blocks.ravel()


def _pool(a: np.ndarray, k: int) -> np.ndarray:
    """Means over a k × k grid of a (h, w[, c]) array whose sides are multiples of k."""
    h, w = a.shape[:2]
    return a.reshape(k, h // k, k, w // k, *a.shape[2:]).mean(axis=(1, 3))


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


class BuiltinImageEmbedder:
    """A :class:`~labelloop.embeddings.media_base.MediaEmbedder` for images (see the module).

    ``size``: the side images are resized to (a multiple of ``cell`` and of 8); ``cell``: the
    HOG cell side in pixels; ``bins``: HOG orientation bins.
    """

    def __init__(self, *, size: int = 64, cell: int = 16, bins: int = 9) -> None:
        if size % cell or size % THUMB or size % max(GRID_LEVELS) or size // cell < 2:
            raise ValueError(f"size {size} must be a multiple of cell {cell}, of {THUMB} and "
                             f"of {max(GRID_LEVELS)}, and hold 2 cells or more")
        self.size = size
        self.cell = cell
        self.bins = bins
        blocks = (size // cell - 1) ** 2 * 4 * bins
        grid = sum(k * k for k in GRID_LEVELS) * 3 + 3
        self._dim = blocks + THUMB * THUMB + int(np.prod(HSV_BINS)) + grid

    @property
    def name(self) -> str:
        h, s, v = HSV_BINS
        return (f"labelloop/image-builtin-v1:s{self.size}-hog{self.cell}x{self.bins}"
                f"-thumb{THUMB}-hsv{h}x{s}x{v}-grid{''.join(map(str, GRID_LEVELS))}")

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def modality(self) -> Modality:
        return "image"

    def features(self, data: bytes) -> np.ndarray:
        """The raw (not yet normalised) ``(dim,)`` row of one image file."""
        return self.image_features(decode_image(data))

    def image_features(self, img: PILImage) -> np.ndarray:
        """The raw ``(dim,)`` row of a decoded RGB image."""
        from PIL import Image

        small = img.resize((self.size, self.size), Image.Resampling.BILINEAR)
        rgb = np.asarray(small, dtype=np.float64) / 255.0
        hsv = np.asarray(small.convert("HSV"), dtype=np.int64)
        grey = rgb @ np.array([0.299, 0.587, 0.114])
        thumb = _pool(grey, THUMB).ravel()
        hb, sb, vb = HSV_BINS
        joint = (hsv[..., 0] * hb // 256) * sb * vb + (hsv[..., 1] * sb // 256) * vb \
            + hsv[..., 2] * vb // 256
        hist = np.sqrt(np.bincount(joint.ravel(), minlength=hb * sb * vb) / joint.size)
        grid = np.concatenate([_pool(rgb, k).ravel() for k in GRID_LEVELS]
                              + [rgb.reshape(-1, 3).std(axis=0)])
        groups = {"hog": hog(grey, cell=self.cell, bins=self.bins),
                  "thumb": thumb - thumb.mean(), "hsv": hist, "grid": grid}
        return np.concatenate([WEIGHTS[k] * _unit(g) for k, g in groups.items()])

    def encode_each(self, items: Sequence[bytes]) -> MediaEncoded:
        return encode_per_item(items, self.features, self._dim)

    def encode(self, items: Sequence[bytes]) -> np.ndarray:
        return require_all(self.encode_each(items))

    def encode_pixels(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Unit rows for decoded pictures (uint8 ``(h, w, 3)`` RGB arrays, e.g. video frames):
        the vectors their files would get, without encoding and decoding a file."""
        from PIL import Image

        rows = [self.image_features(Image.fromarray(np.asarray(f, dtype=np.uint8), "RGB"))
                for f in frames]
        return l2_normalise(np.array(rows).reshape(len(rows), self._dim))
