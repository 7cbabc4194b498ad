"""``labelloop simulate`` with a vision LLM: the images reach the endpoint as ``image_url``
parts and its answers join the committee; an endpoint that refuses images leaves the run
without an LLM and the result says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tests.fakes.vision_llm import FakeVisionLLM
from tests.simulate.test_media_simulate import _run, photo

GOLD = {"red": "cat", "blue": "dog", "green": "bird"}


def pets(root: Path, per_class: int = 10) -> Path:
    for c, (colour, label) in enumerate(GOLD.items()):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            (root / label / f"{i}.png").write_bytes(photo(colour, 100 * c + i))
    return root


def test_a_vision_llm_labels_the_train_images(tmp_path: Path) -> None:
    root, out = pets(tmp_path / "pets"), tmp_path / "results.json"
    with FakeVisionLLM(GOLD) as llm:
        code = _run(["simulate", "--images", str(root), "--strategies", "random,committee",
                     "--batch-size", "10", "--budget", "20", "--seeds", "1",
                     "--llm-base-url", llm.url, "--llm-model", "fake", "--output", str(out),
                     "--no-cache", "--no-progress"])
        seen = [mime for mime, _, _ in llm.images]
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["committee_fallback"] is False
    assert doc["llm"]["train_accuracy"] == 1.0  # it sees each colour, and gold maps it
    assert len(seen) >= doc["n_train"] and set(seen) <= {"image/png", "image/jpeg"}
    assert np.asarray(doc["strategies"]["committee"]["accuracy"]).shape == (1, 2)


def test_an_endpoint_that_refuses_images_takes_no_part(tmp_path: Path) -> None:
    root, out = pets(tmp_path / "pets", per_class=6), tmp_path / "results.json"
    with FakeVisionLLM(GOLD, vision="refuse") as llm:
        code = _run(["simulate", "--images", str(root), "--strategies", "random,default",
                     "--batch-size", "10", "--budget", "10", "--seeds", "1",
                     "--llm-base-url", llm.url, "--llm-model", "fake", "--output", str(out),
                     "--no-cache", "--no-progress"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["llm"] is None
    assert any("gave no label for any image item" in n for n in doc["notes"])
