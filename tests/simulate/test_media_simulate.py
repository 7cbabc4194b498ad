"""``labelloop simulate`` on images and audio (issue 19 §7): the loaders (class folders, a CSV,
JSON lines, sklearn's digits), the media embedding through the cache, a small digits
simulation whose strategies behave as they should, and the command on a folder of WAVs."""

from __future__ import annotations

import argparse
import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.embeddings.audio_synth import signal, wav_bytes

from labelloop.cli import simulate as simulate_cli
from labelloop.embeddings.image_builtin import BuiltinImageEmbedder
from labelloop.embeddings.media_base import MediaEncoded
from labelloop.simulate import (
    MediaSet,
    SimulatedLlmSource,
    SimulationConfig,
    digits_set,
    embed_media_set,
    load_class_folders,
    load_labels_csv,
    load_media_jsonl,
    simulate_media,
)
from labelloop.simulate.data import InvalidDataFile

COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 180, 40)}


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="labelloop")
    simulate_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def photo(colour: str, seed: int, side: int = 40) -> bytes:
    """A noisy picture of one dominant colour (its bytes differ from seed to seed)."""
    rng = np.random.default_rng(seed)
    base = np.array(COLOURS[colour], dtype=float)
    pixels = np.clip(base + rng.normal(0, 25, (side, side, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def image_folder(root: Path, per_class: int = 12) -> Path:
    """root/<colour>/<n>.png, a hidden file, a file at the top (unlabelled) and one text file
    in a class folder (not an image)."""
    for c, colour in enumerate(COLOURS):
        (root / colour / "more").mkdir(parents=True)
        for i in range(per_class):
            sub = root / colour / ("more" if i % 3 == 0 else "")
            (sub / f"{i}.png").write_bytes(photo(colour, 100 * c + i))
        (root / colour / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "README.png").write_bytes(photo("red", 999))
    (root / "red" / "notes.png").write_text("not an image, whatever its name")
    return root


@pytest.fixture(scope="module")
def digits() -> MediaSet:
    return digits_set()


def test_digits_set_is_the_bundled_digits(digits: MediaSet) -> None:
    assert len(digits) == 1797 and digits.modality == "image"
    assert digits.labels == [str(k) for k in range(10)]
    assert np.bincount(digits.y).min() >= 170
    img = Image.open(io.BytesIO(digits.sources[0]))  # type: ignore[arg-type]
    assert img.size == (64, 64) and img.format == "PNG"


def test_a_small_digits_simulation_learns_and_beats_random(digits: MediaSet) -> None:
    keep = np.zeros(len(digits), dtype=bool)
    keep[:600] = True
    config = SimulationConfig(strategies=("random", "default"), batch_size=20, budget=200,
                              seeds=2)
    kept, result = simulate_media(digits.subset(keep), config=config,
                                  embedder=BuiltinImageEmbedder())
    assert len(kept) == 600 and result.n_train + result.n_test == 600
    assert result.full_pool_accuracy > 0.9
    points = list(range(20, 201, 20))
    for name in ("random", "default"):
        curve = result.curves[name]
        assert curve.labels == points
        acc = np.asarray(curve.accuracy)
        assert acc.shape == (2, len(points)) and ((acc >= 0) & (acc <= 1)).all()
        assert acc[:, -1].mean() > acc[:, 0].mean() + 0.3  # it learns
        assert result.labels_to_target(name) is not None
    rnd, dflt = result.mean_curve("random"), result.mean_curve("default")
    assert dflt[0] > rnd[0] + 0.05  # the cold start's seed set spans more digits than chance
    assert dflt[-1] > rnd[-1]  # and after it, the model's picks teach more than random ones
    assert result.labels_to_target("default") <= result.labels_to_target("random")  # type: ignore[operator]
    assert any("image-builtin" in n for n in result.notes)


def test_class_folders_skip_what_is_not_an_image(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "pics")
    data = load_class_folders(root, modality="image")
    assert data.labels == ["blue", "green", "red"]
    assert len(data) == 3 * 12 + 1  # README.png (unlabelled) and hidden files left out
    assert "red/more/0.png" in data.names and "red/notes.png" in data.names
    config = SimulationConfig(strategies=("random", "default"), batch_size=10, budget=20,
                              seeds=1)
    kept, result = simulate_media(data, config=config, embedder=BuiltinImageEmbedder(),
                                  cache_dir=tmp_path / "cache")
    assert len(kept) == 36 and "red/notes.png" not in kept.names
    note = next(n for n in result.notes if "left out" in n)
    assert note.startswith("1 of 37 image files") and "red/notes.png" in note
    assert result.full_pool_accuracy == 1.0  # three colours: any linear model separates them


def test_labels_from_a_csv(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    root.mkdir()
    rows = ["path,kind"]
    for i, colour in enumerate(["red", "blue"] * 5):
        (root / f"{i}.png").write_bytes(photo(colour, i))
        rows.append(f"{i}.png,{colour}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    data = load_labels_csv(root, tmp_path / "labels.csv", modality="image", label_column="kind")
    assert data.labels == ["blue", "red"] and len(data) == 10
    assert [data.labels[k] for k in data.y[:2]] == ["red", "blue"]
    with pytest.raises(InvalidDataFile, match="file column"):
        load_labels_csv(root, tmp_path / "labels.csv", modality="image")  # no 'label' column


def test_media_jsonl_paths_data_urls_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    rows = []
    for i, colour in enumerate(["red", "blue"] * 4):
        (tmp_path / "img" / f"{i}.png").write_bytes(photo(colour, i))
        rows.append({"image": f"img/{i}.png", "label": colour})
    inline = base64.b64encode(photo("blue", 50)).decode()
    rows.append({"image": f"data:image/png;base64,{inline}", "label": "blue"})
    rows.append({"image": "img/gone.png", "label": "red"})
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    data = load_media_jsonl(tmp_path / "d.jsonl")
    assert data.modality == "image" and len(data) == 10
    assert isinstance(data.sources[0], Path) and isinstance(data.sources[8], str)
    embedded = embed_media_set(data, embedder=BuiltinImageEmbedder(), cache_dir=None)
    assert set(embedded.failed) == {8, 9}  # no fetcher for the data: URL, no file for the last
    assert "no media fetcher" in embedded.failed[8]


class CountingEmbedder(BuiltinImageEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.encoded = 0

    def encode_each(self, items: list[bytes]) -> MediaEncoded:  # type: ignore[override]
        self.encoded += len(items)
        return super().encode_each(items)


def test_a_second_run_decodes_nothing(tmp_path: Path) -> None:
    data = load_class_folders(image_folder(tmp_path / "pics", per_class=4), modality="image")
    first, again = CountingEmbedder(), CountingEmbedder()
    a = embed_media_set(data, embedder=first, cache_dir=tmp_path / "cache", chunk=5)
    b = embed_media_set(data, embedder=again, cache_dir=tmp_path / "cache", chunk=5)
    assert first.encoded == len(data) and again.encoded == 1  # only the undecodable file again
    assert a.failed == b.failed and np.array_equal(a.vectors, b.vectors)


def wav_folder(root: Path, per_class: int = 10) -> Path:
    rng = np.random.default_rng(7)
    for kind in ("low_tone", "high_tone", "white_noise"):
        (root / kind).mkdir(parents=True)
        for i in range(per_class):
            rate = (8_000, 16_000, 22_050)[i % 3]
            clip = wav_bytes(signal(kind, rate, 0.5, rng), rate, ("s16", "f32")[i % 2])
            (root / kind / f"{i}.wav").write_bytes(clip)
    return root


def test_cli_on_a_folder_of_wavs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = wav_folder(tmp_path / "sounds")
    out, plot = tmp_path / "results.json", tmp_path / "curve.png"
    code = _run(["simulate", "--audio", str(root), "--strategies", "random,uncertainty,default",
                 "--batch-size", "10", "--budget", "20", "--seeds", "2", "--output", str(out),
                 "--plot", str(plot), "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["data"] == str(root) and doc["class_labels"] == ["high_tone", "low_tone",
                                                                 "white_noise"]
    assert doc["n_train"] + doc["n_test"] == 30 and doc["full_pool_accuracy"] == 1.0
    assert np.asarray(doc["strategies"]["default"]["accuracy"]).shape == (2, 2)
    assert any("audio-builtin" in n for n in doc["notes"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "labels to 95 %" in capsys.readouterr().out


def test_cli_digits_with_a_simulated_llm(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    code = _run(["simulate", "--dataset", "digits", "--strategies", "random,committee",
                 "--batch-size", "20", "--budget", "40", "--seeds", "1", "--simulated-llm",
                 "0.8", "--output", str(out), "--no-cache", "--no-progress"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["data"] == "digits" and doc["n_train"] + doc["n_test"] == 1797
    assert doc["committee_fallback"] is False
    assert abs(doc["llm"]["train_accuracy"] - 0.8) < 0.005  # exact up to rounding
    assert any("simulated from the data" in n for n in doc["notes"])


def test_cli_on_wavs_with_a_configured_clap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("transformers")
    from tests.embeddings.clap_tiny import build_tiny_clap

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clap = build_tiny_clap(tmp_path / "clap")
    root = wav_folder(tmp_path / "sounds", per_class=6)
    out = tmp_path / "results.json"
    code = _run(["simulate", "--audio", str(root), "--embedding-model", str(clap),
                 "--strategies", "random", "--batch-size", "10", "--budget", "10", "--seeds", "1",
                 "--output", str(out), "--no-cache", "--no-progress", "--torch-threads", "1"])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert any(f"transformers-clap-audio:{clap}" in n for n in doc["notes"])
    assert not any("audio-builtin" in n for n in doc["notes"])


def test_cli_refuses_what_does_not_fit(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    root = wav_folder(tmp_path / "sounds", per_class=2)
    out = str(tmp_path / "r.json")
    assert _run(["simulate", "--output", out, "--no-progress"]) == 2  # no source at all
    assert _run(["simulate", "--audio", str(root), "--dataset", "digits", "--output", out]) == 2
    assert _run(["simulate", "--audio", str(root), "--embedding-model", "x",
                 "--output", out]) == 2
    assert _run(["simulate", "--dataset", "digits", "--objective", "dataset",
                 "--output", out]) == 2
    assert _run(["simulate", "--dataset", "digits", "--simulated-llm", "0.8",
                 "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "m",
                 "--output", out]) == 2
    err = capsys.readouterr().err
    assert "give one source" in err
    assert "cannot load the audio embedding model 'x'" in err  # a CLAP, never downloaded
    assert "exclude each other" in err
    with pytest.raises(SystemExit):
        _run(["simulate", "--dataset", "digits", "--simulated-llm", "1.5"])


class KeywordEmbedder:
    """Texts → unit vectors: one axis per keyword, plus a little seeded noise."""

    name, dim = "test/keywords", 8

    def encode(self, texts: list[str]) -> np.ndarray:
        rng = np.random.default_rng(len(texts))
        x = rng.normal(0, 0.3, (len(texts), self.dim))
        for i, t in enumerate(texts):
            x[i, ord(t[0]) % 3] += 1.0
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_text_simulation_takes_the_simulated_llm_too(tmp_path: Path) -> None:
    from labelloop.simulate import simulate_file

    rows = [{"text": f"{w} item {i}", "label": w} for i in range(40) for w in ("a", "b", "c")]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    config = SimulationConfig(strategies=("committee",), batch_size=10, budget=20, seeds=1)
    _, result = simulate_file(path, config=config, embedder=KeywordEmbedder(),
                              llm=SimulatedLlmSource(0.75))
    assert result.llm_train_accuracy is not None
    assert abs(result.llm_train_accuracy - 0.75) < 0.01
    assert not any("committee" in n for n in result.notes)  # the LLM took part


def test_cli_on_a_folder_of_clips(tmp_path: Path) -> None:
    from tests.media.video_synth import class_clip, encode

    rng = np.random.default_rng(3)
    for label in ("square", "stripes"):
        (tmp_path / "clips" / label).mkdir(parents=True)
        for i in range(6):
            clip = encode(class_clip(label, rng), 20, fps=10)
            (tmp_path / "clips" / label / f"{i}.mp4").write_bytes(clip)
    out = tmp_path / "results.json"
    code = _run(["simulate", "--video", str(tmp_path / "clips"), "--strategies",
                 "random,default", "--batch-size", "10", "--budget", "10", "--seeds", "1",
                 "--output", str(out), "--no-cache", "--no-progress"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["n_train"] + doc["n_test"] == 12 and doc["full_pool_accuracy"] == 1.0
    assert not any("left out" in n for n in doc["notes"])
