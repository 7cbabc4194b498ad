"""The configured image model's loading path, on a tiny CLIP (random weights) that the test
builds and saves to a temporary folder: loaded by sentence-transformers from local files, never
downloaded; and the settings → embedder wiring."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from labelloop.embeddings.base import EmbeddingModelUnavailable
from labelloop.embeddings.clip_local import SentenceTransformerImageEmbedder
from labelloop.embeddings.image_builtin import BuiltinImageEmbedder
from labelloop.embeddings.media_base import MediaEmbedder, UndecodableMedia
from labelloop.embeddings.media_factory import media_embedder
from labelloop.settings import Settings

PROJECTION_DIM = 8


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    path = tmp_path_factory.mktemp("tiny-clip")
    chars = [chr(c) for c in range(33, 127)]
    vocab = {t: i for i, t in enumerate(chars + [c + "</w>" for c in chars])}
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")
    config = transformers.CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 16, "intermediate_size": 32,
                         "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 32,
                         "bos_token_id": vocab["<|startoftext|>"],
                         "eos_token_id": vocab["<|endoftext|>"], "pad_token_id": vocab["<|endoftext|>"]},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                           "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=PROJECTION_DIM)
    torch.manual_seed(0)
    transformers.CLIPModel(config).eval().save_pretrained(path)
    tokenizer = transformers.CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"))
    images = transformers.CLIPImageProcessor(size={"shortest_edge": 32},
                                             crop_size={"height": 32, "width": 32})
    transformers.CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(path)
    return path


def _image(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", size, colour)
    img.paste((255 - colour[0], 0, colour[2] // 2), (5, 5, 20, 20))
    img.save(buf, "PNG")
    return buf.getvalue()


def test_tiny_local_clip_embeds_images(tiny_clip, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    e = SentenceTransformerImageEmbedder(tiny_clip, torch_threads=1)
    assert isinstance(e, MediaEmbedder) and e.modality == "image"
    assert e.name == f"sentence-transformers-image:{tiny_clip}"
    items = [_image((200, 10, 10)), _image((0, 0, 200), (20, 50)), _image((10, 200, 10))]
    v = e.encode(items)
    assert e.dim == PROJECTION_DIM and v.shape == (3, PROJECTION_DIM) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    again = SentenceTransformerImageEmbedder(tiny_clip, batch_size=2, torch_threads=1)
    np.testing.assert_allclose(again.encode(items[::-1]), v[::-1], atol=1e-5)
    np.testing.assert_allclose(again.encode([items[1]])[0], v[1], atol=1e-5)
    out = e.encode_each([b"not an image", items[0], items[0][:40]])
    assert set(out.failed) == {0, 2} and "Pillow" in out.failed[0]
    np.testing.assert_allclose(out.vectors[1], v[0], atol=1e-5)
    assert not out.vectors[~out.ok].any()
    with pytest.raises(UndecodableMedia):
        e.encode([b"junk"])


def test_missing_model_is_unavailable_not_a_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EmbeddingModelUnavailable, match="does not exist"):
        SentenceTransformerImageEmbedder(tmp_path / "absent").encode([_image((1, 2, 3))])
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmbeddingModelUnavailable):
        SentenceTransformerImageEmbedder(tmp_path / "empty").encode([_image((1, 2, 3))])
    with pytest.raises(EmbeddingModelUnavailable, match="local files"):
        SentenceTransformerImageEmbedder("nobody/no-such-clip-model").encode([_image((1, 2, 3))])


def test_settings_choose_the_embedder(tiny_clip, monkeypatch):
    assert isinstance(media_embedder(Settings(), "image"), BuiltinImageEmbedder)
    assert media_embedder(Settings(), "audio").modality == "audio"
    monkeypatch.setenv("LABELLOOP_IMAGE_EMBEDDING_MODEL", str(tiny_clip))
    configured = media_embedder(Settings(), "image")
    assert isinstance(configured, SentenceTransformerImageEmbedder)
    assert configured.model_ref == str(tiny_clip)
