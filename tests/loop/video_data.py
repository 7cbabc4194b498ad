"""Labelled video clips for the loop's video tests, synthesised here with PyAV (nothing downloaded).

:func:`scene_clips`: short MP4 clips of three classes, one scene per class, each clip varied by a
seeded generator (background shade, start position, noise):

* ``cat``: a white square moving right over a red background;
* ``dog``: dark stripes drifting down over a blue background;
* ``bird``: a dark square moving left over a green background.

The backgrounds are :data:`tests.fakes.vision_llm.PALETTE` colours, so the loopback vision LLM
names a clip's class from any frame it is shown (:data:`GOLD`); the local model tells them apart
from their pooled frame vectors.
"""

from __future__ import annotations

import numpy as np
from tests.fakes.vision_llm import PALETTE
from tests.media.video_synth import Painter, encode

GOLD = {"red": "cat", "blue": "dog", "green": "bird"}
SCENES = {label: colour for colour, label in GOLD.items()}  # label -> background colour
VIDEO_CONFIG = """<View><Video name="clip" value="$video"/>
<Choices name="animal" toName="clip"><Choice value="cat"/><Choice value="dog"/>
<Choice value="bird"/></Choices></View>"""


def scene(label: str, rng: np.random.Generator, *, height: int = 48,
          width: int = 64) -> Painter:
    """Frame ``i`` of one clip of class ``label`` (see the module)."""
    base = np.array(PALETTE[SCENES[label]], dtype=np.float64) * rng.uniform(0.85, 1.0)
    start = int(rng.integers(0, width - 12))
    noise = rng.normal(0, 6, (height, width, 3))
    yy = np.arange(height)[:, None]

    def paint(i: int) -> np.ndarray:
        img = np.broadcast_to(base, (height, width, 3)) + noise
        if label == "cat":
            x = (start + 2 * i) % (width - 10)
            img[18:28, x:x + 10] = 250
        elif label == "bird":
            x = (start - 2 * i) % (width - 10)
            img[20:30, x:x + 10] = 20
        else:
            img = np.where(((yy + i) % 12 < 3)[..., None], 15.0, img)
        return np.clip(img, 0, 255).astype(np.uint8)
    return paint


def scene_clips(per_class: int, *, seed: int = 0, n_frames: int = 20,
                fps: int = 10) -> list[tuple[bytes, str]]:
    """``(mp4 bytes, label)``: ``per_class`` clips of each class, classes interleaved."""
    rng = np.random.default_rng(seed)
    return [(encode(scene(label, rng), n_frames, fps=fps), label)
            for _ in range(per_class) for label in SCENES]
