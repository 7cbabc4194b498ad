"""Media embedding throughput: labelloop's media embedders (and the embedding cache) against the
bare encoder work on the same files, side by side, median of interleaved runs.

Rows, per set of files:
* bare — the encoder's own work and nothing else: for the built-in embedders, decode and
  features per file (``features(data)``: no checks, no per-file error handling, no
  normalisation); for a CLIP, Pillow decoding and ``SentenceTransformer.encode`` on the images;
* embedder — ``encode`` (checks, a skip per undecodable file, L2 normalisation);
* cache, cold — ``embed_media_each`` into an empty SQLite cache (SHA-256 of every file,
  look-up, encode, insert);
* cache, warm — ``embed_media_each`` when every file is cached (nothing decoded).

Sets: sklearn's digits as 64 × 64 PNGs (1,797), synthesised 640 × 480 JPEG photos, synthesised
5 s 16 kHz WAVs and the mixed-format short clips of ``tests/embeddings/audio_synth.py``; with
torch and transformers installed, a tiny random-weight CLIP built here (no weights exist offline:
its figures say what labelloop's wrapper costs around a model, not what a real CLIP runs at),
and likewise a tiny random-weight CLAP (``tests/embeddings/clap_tiny.py``) on the 5 s WAVs: its
bare row is the feature extractor and ``get_audio_features`` on the same 1 s windows, already
decoded and resampled; its embedder row decodes, resamples, cuts and pools as well.

    .venv/bin/python bench/bench_media_embed.py [--runs 5] [--photos 150] [--clips 120]
        [--only builtin|clip|clap]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "backend"), str(ROOT)]

import numpy as np
from PIL import Image, ImageDraw
from tests.embeddings.audio_synth import dataset, signal, wav_bytes

from labelloop.embeddings.audio_builtin import BuiltinAudioEmbedder
from labelloop.embeddings.image_builtin import BuiltinImageEmbedder
from labelloop.embeddings.media_cache import embed_media_each
from labelloop.simulate.media_data import digits_set
from labelloop.storage import open_storage


def photos(n: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    yy, xx = np.mgrid[:480, :640]
    for _ in range(n):
        c0, c1 = rng.integers(0, 255, 3), rng.integers(0, 255, 3)
        grad = (xx / 640)[..., None] * c0 + (yy / 480)[..., None] * c1
        img = Image.fromarray(np.clip(grad + rng.normal(0, 12, grad.shape), 0, 255)
                              .astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(4):
            x, y = int(rng.integers(0, 560)), int(rng.integers(0, 400))
            draw.ellipse((x, y, x + 80, y + 80), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def long_clips(n: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    kinds = ("low_tone", "high_tone", "white_noise", "chirp")
    return [wav_bytes(signal(kinds[i % 4], 16_000, 5.0, rng), 16_000, "s16") for i in range(n)]


def tiny_clip(path: Path) -> Path:
    """A CLIP with random weights, saved where sentence-transformers loads it from."""
    import torch
    import transformers

    chars = [chr(c) for c in range(33, 127)]
    vocab = {t: i for i, t in enumerate(chars + [c + "</w>" for c in chars])}
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")
    end = vocab["<|endoftext|>"]
    config = transformers.CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 2,
                     "max_position_embeddings": 32, "bos_token_id": vocab["<|startoftext|>"],
                     "eos_token_id": end, "pad_token_id": end},
        vision_config={"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": 64, "patch_size": 8},
        projection_dim=32)
    torch.manual_seed(0)
    transformers.CLIPModel(config).eval().save_pretrained(path)
    tok = transformers.CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"))
    proc = transformers.CLIPImageProcessor(size={"shortest_edge": 64},
                                           crop_size={"height": 64, "width": 64})
    transformers.CLIPProcessor(image_processor=proc, tokenizer=tok).save_pretrained(path)
    return path


def measure(name: str, blobs: list[bytes], embedder, bare: Callable[[list[bytes]], object],
            runs: int) -> None:
    times: dict[str, list[float]] = {k: [] for k in ("bare", "embedder", "cold", "warm")}
    embedder.encode(blobs[:4])  # warm up (a model loads here)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(runs):
            store = open_storage(f"sqlite:///{tmp}/cache{r}.db")
            steps = {"bare": lambda: bare(blobs), "embedder": lambda: embedder.encode(blobs),
                     "cold": lambda s=store: embed_media_each(blobs, embedder=embedder, store=s),
                     "warm": lambda s=store: embed_media_each(blobs, embedder=embedder, store=s)}
            for key, fn in steps.items():  # interleaved: load from elsewhere hits every row
                start = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - start)
            store.close()
    base = statistics.median(times["bare"])
    labels = {"bare": "bare encoder", "embedder": "embedder `encode`",
              "cold": "cache, cold", "warm": "cache, warm"}
    for key, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {len(blobs)} | {labels[key]} | {med:.2f} | {len(blobs) / med:,.0f} | "
              f"{base / med:.0%} | {' '.join(f'{t:.2f}' for t in ts)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--photos", type=int, default=150)
    ap.add_argument("--clips", type=int, default=120)
    ap.add_argument("--only", choices=("builtin", "clip", "clap"), help="one part of the rows")
    args = ap.parse_args()
    image, audio = BuiltinImageEmbedder(), BuiltinAudioEmbedder()
    digits = [bytes(s) for s in digits_set().sources if isinstance(s, bytes)]
    print(f"Median of {args.runs} interleaved runs; *vs bare* = bare median / row median "
          "(target: embedder and cold cache ≥ 90 %).\n")
    print("| files | n | path | median s | files/s | vs bare | runs (s) |")
    print("|---|---|---|---|---|---|---|")

    def built_in(e):
        return lambda blobs: [e.features(b) for b in blobs]

    if args.only == "clap":
        clap_rows(long_clips(args.clips), max(args.runs, 7))
        return
    if args.only == "clip":
        clip_rows(digits, max(args.runs, 7))
        return
    measure("digits, 64×64 PNG (built-in image)", digits, image, built_in(image), args.runs)
    measure("photos, 640×480 JPEG (built-in image)", photos(args.photos), image,
            built_in(image), args.runs)
    measure("5 s 16 kHz WAV (built-in audio)", long_clips(args.clips), audio, built_in(audio),
            args.runs)
    measure("0.3–1 s WAV, mixed formats (built-in audio)", dataset(40)[0], audio,
            built_in(audio), args.runs)
    if args.only is None:
        clip_rows(digits, max(args.runs, 7))
        clap_rows(long_clips(args.clips), max(args.runs, 7))
    print(f"\nimage: `{image.name}` ({image.dim}-d); audio: `{audio.name}` ({audio.dim}-d)")


def clip_rows(digits: list[bytes], runs: int) -> None:
    """The tiny random CLIP's rows, one torch thread (two oversubscribe shared cores)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            import torch

            path = tiny_clip(Path(tmp))
        except ImportError:
            return
        from labelloop.embeddings.clip_local import SentenceTransformerImageEmbedder

        torch.set_num_threads(1)
        clip = SentenceTransformerImageEmbedder(path, batch_size=32, torch_threads=1)

        def bare_clip(blobs):
            images = [Image.open(io.BytesIO(b)).convert("RGB") for b in blobs]
            return clip.model.encode(images, batch_size=32, show_progress_bar=False,
                                     convert_to_numpy=True, normalize_embeddings=True)

        measure("digits, 64×64 PNG (tiny random CLIP, 1 torch thread)", digits, clip,
                bare_clip, runs)


def clap_rows(clips: list[bytes], runs: int) -> None:
    """The tiny random CLAP's rows, one torch thread, batches of 16 windows."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            import torch
            from tests.embeddings.clap_tiny import build_tiny_clap

            path = build_tiny_clap(Path(tmp) / "clap", width=32, depth=2)
        except ImportError:
            return
        from labelloop.embeddings.audio_builtin import decode_wav
        from labelloop.embeddings.clap_local import ClapAudioEmbedder, resample, windows

        torch.set_num_threads(1)
        clap = ClapAudioEmbedder(path, batch_size=16, torch_threads=1)
        fe, model = clap.feature_extractor, clap.model
        size = int(fe.nb_max_samples)
        chunks = []  # decoded, resampled and cut before the clock starts
        for b in clips:
            x, rate = decode_wav(b, max_seconds=clap.max_windows * size / fe.sampling_rate)
            chunks += windows(resample(x, rate, fe.sampling_rate), size=size,
                              max_windows=clap.max_windows)

        def bare_clap(_blobs):
            out = []
            with torch.inference_mode():
                for i in range(0, len(chunks), 16):
                    inputs = fe(chunks[i:i + 16], sampling_rate=fe.sampling_rate,
                                return_tensors="pt")
                    out.append(model.get_audio_features(**inputs).pooler_output)
            return out

        measure(f"5 s 16 kHz WAV, {len(chunks)} windows of 1 s (tiny random CLAP, 1 torch "
                "thread)", clips, clap, bare_clap, runs)
        print(f"\nCLAP: `{clap.name}` ({clap.dim}-d, {sum(p.numel() for p in model.parameters()):,}"
              " weights)")


if __name__ == "__main__":
    main()
