"""A tiny CLAP with random weights, saved the way a user saves a real one (``ClapModel`` and a
``ClapProcessor`` with its tokenizer), for the configured-audio-model tests and the media bench.

Nothing is downloaded: the tokenizer is a RoBERTa BPE tokenizer over a vocabulary written here
(the embedder never uses it; a saved processor holds one). The feature extractor runs at 8 kHz
with 1 s windows, 16 mel bands; the audio tower is a 2-stage HTSAT of a few thousand weights.
"""

from __future__ import annotations

import json
from pathlib import Path

PROJECTION_DIM = 8
RATE = 8_000
WINDOW_SECONDS = 1


def build_tiny_clap(path: Path, *, fused: bool = False, width: int = 16, depth: int = 1,
                    processor: bool = True, seed: int = 0) -> Path:
    """Save a random-weight ClapModel (``fused``: with the fusion branch of the LAION "fused"
    models) and its processor (``processor`` False: the feature extractor alone, as
    ``preprocessor_config.json``) into ``path``. ``width``: channels of the first of the two
    audio stages (the second has twice as many); ``depth``: Swin blocks per stage."""
    import torch
    import transformers

    path.mkdir(parents=True, exist_ok=True)
    config = transformers.ClapConfig(
        text_config={"vocab_size": 128, "hidden_size": 16, "intermediate_size": 32,
                     "num_hidden_layers": 1, "num_attention_heads": 2,
                     "max_position_embeddings": 40},
        audio_config={"spec_size": 64, "num_mel_bins": 16, "patch_size": 4,
                      "patch_stride": [4, 4], "window_size": 4, "depths": [depth, depth],
                      "num_attention_heads": [2, 2], "patch_embeds_hidden_size": width,
                      "hidden_size": 2 * width, "enable_fusion": fused,
                      "fusion_type": "aff_2d" if fused else None},
        projection_dim=PROJECTION_DIM)
    torch.manual_seed(seed)
    transformers.ClapModel(config).eval().save_pretrained(path)
    extractor = transformers.ClapFeatureExtractor(
        feature_size=16, sampling_rate=RATE, hop_length=80, max_length_s=WINDOW_SECONDS,
        fft_window_size=256, frequency_max=RATE // 2,
        truncation="fusion" if fused else "rand_trunc", padding="repeatpad")
    if not processor:
        extractor.save_pretrained(path)
        return path
    chars = [chr(c) for c in range(33, 127)]
    vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", "<mask>", "Ġ"] + chars)}
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = transformers.RobertaTokenizer(str(path / "vocab.json"), str(path / "merges.txt"))
    transformers.ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(
        path)
    return path
