"""The input seam (loop/inputs.py): task inputs → vectors for every modality, through the
embedding cache; media fetched from a loopback Label Studio with its token; what does not fetch
or decode is a skip with its reason, transient where a retry may help."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import make_settings
from tests.loop.media_data import KEY, FakeLabelStudioMedia, digit_pngs, tone_wavs

from labelloop.embeddings import embed_each
from labelloop.embeddings.audio_builtin import BuiltinAudioEmbedder
from labelloop.embeddings.image_builtin import BuiltinImageEmbedder
from labelloop.loop.inputs import encode_inputs
from labelloop.loop.resources import Resources
from labelloop.storage.base import Storage


class ToyText:
    name, dim = "toy-text", 4

    def encode(self, texts):
        return np.tile(np.array([1.0, 0, 0, 0], dtype=np.float32), (len(texts), 1))


class NoText:
    """A text embedder a media project must never touch."""

    name, dim = "no-text", 4

    def encode(self, texts):
        raise AssertionError("the text embedder was used for media")


@pytest.fixture
def images():
    return digit_pngs((0, 1), 3)  # 6 PNGs


@pytest.fixture
def ls(images):
    files = {f"abcd{i:04d}-img{i}.png": png for i, (png, _) in enumerate(images)}
    files["abcd9999-notes.png"] = b"this is text, not an image"
    files["abcd8888-cut.png"] = images[0][0][:60]  # a PNG signature, then cut short
    with FakeLabelStudioMedia(1, files, missing=("abcd7777-gone.png",)) as server:
        yield server


def resources(tmp_path, server, **kw) -> Resources:
    s = make_settings(tmp_path, label_studio_url=server.url, label_studio_api_key=KEY)
    return Resources(s, embedder=NoText(), **kw)  # type: ignore[arg-type]


def test_text_inputs_go_through_the_text_embedder_and_its_cache(storage: Storage,
                                                                tmp_path) -> None:
    res = Resources(make_settings(tmp_path), embedder=ToyText())  # type: ignore[arg-type]
    got = encode_inputs(["a", "b", "a"], modality="text", resources=res, store=storage)
    assert got.embedder == "toy-text" and got.failed == {} and got.transient == frozenset()
    assert got.encoded == 2  # each distinct text once
    want = embed_each(["a", "b", "a"], embedder=ToyText(), store=storage).vectors
    np.testing.assert_array_equal(got.vectors, want)
    again = encode_inputs(["a", "b"], modality="text", resources=res, store=storage)
    assert again.encoded == 0


def test_images_are_fetched_with_the_token_embedded_and_cached(storage: Storage, tmp_path,
                                                               ls, images) -> None:
    res = resources(tmp_path, ls)
    names = [f"abcd{i:04d}-img{i}.png" for i in range(len(images))]
    values = [ls.value(n) for n in names] + [ls.value(names[0])]  # one file twice
    got = encode_inputs(values, modality="image", resources=res, store=storage,
                        task_ids=list(range(1, 8)), project_id=1)
    assert got.failed == {} and got.ok.all()
    builtin = BuiltinImageEmbedder()
    assert got.embedder == builtin.name and got.vectors.shape == (7, builtin.dim)
    np.testing.assert_allclose(got.vectors[:6], builtin.encode([p for p, _ in images]),
                               atol=1e-6)
    np.testing.assert_array_equal(got.vectors[6], got.vectors[0])
    assert got.encoded == 6  # the same bytes are embedded once
    assert all(r.headers.get("authorization") == f"Token {KEY}" for r in ls.requests)
    # a second run: uploads come from the media cache, vectors from the embedding cache
    sent, asked = ls.body_bytes, len(ls.requests)
    again = encode_inputs(values, modality="image", resources=res, store=storage,
                          task_ids=list(range(1, 8)), project_id=1)
    np.testing.assert_array_equal(again.vectors, got.vectors)
    assert again.encoded == 0 and ls.body_bytes == sent and len(ls.requests) == asked


def test_media_that_will_not_fetch_or_decode_are_skips_with_reasons(storage: Storage, tmp_path,
                                                                    ls) -> None:
    ls.fail["abcd0001-img1.png"] = 503
    values = [ls.value("abcd0000-img0.png"), ls.value("abcd0001-img1.png"),
              ls.value("abcd7777-gone.png"), ls.value("abcd9999-notes.png"),
              ls.value("abcd8888-cut.png"), "http://169.254.169.254/latest/meta-data/",
              "ftp://example.com/x.png"]
    got = encode_inputs(values, modality="image", resources=resources(tmp_path, ls),
                        store=storage, task_ids=list(range(1, 8)), project_id=1)
    assert got.ok.tolist() == [True] + [False] * 6
    assert not got.vectors[1:].any()  # no vector where there is none, never a made-up one
    assert got.transient == {1}  # Label Studio's 503 may pass; nothing else will
    assert got.failed[1] == "media not fetched: http_error: HTTP 503"
    assert got.failed[2] == "media not fetched: missing: HTTP 500"  # LS: a missing upload
    assert got.failed[3].startswith("media not fetched: wrong_type:")
    assert got.failed[4].startswith("media not decoded:")
    assert got.failed[5].startswith("media not fetched: refused:")
    assert got.failed[6].startswith("media not fetched: invalid_value:")
    assert "http" not in got.failed[2]  # reasons group: no URL in them


def test_audio_goes_through_its_own_embedder(storage: Storage, tmp_path) -> None:
    tones = tone_wavs(2)
    files = {f"ffff{i:04d}-t{i}.wav": w for i, (w, _) in enumerate(tones)}
    files["ffff9999-img.wav"] = digit_pngs((3,), 1)[0][0]  # a PNG named .wav
    with FakeLabelStudioMedia(2, files) as server:
        values = [server.value(n) for n in files]
        got = encode_inputs(values, modality="audio", resources=resources(tmp_path, server),
                            store=storage, task_ids=list(range(1, 8)), project_id=2)
    builtin = BuiltinAudioEmbedder()
    assert got.embedder == builtin.name and list(got.failed) == [6]
    assert got.failed[6].startswith("media not fetched: wrong_type:")
    np.testing.assert_allclose(got.vectors[:6], builtin.encode([w for w, _ in tones]),
                               atol=1e-6)


def test_a_configured_media_embedder_is_used_and_built_once(storage: Storage, tmp_path,
                                                            ls) -> None:
    class Flat:
        name, dim, modality = "flat-image", 3, "image"
        calls = 0

        def encode_each(self, items):
            from labelloop.embeddings.cache import Embedded

            Flat.calls += 1
            return Embedded(np.tile(np.array([0, 1, 0], np.float32), (len(items), 1)), {})

        def encode(self, items):
            return self.encode_each(items).vectors

    res = resources(tmp_path, ls, media_embedders={"image": Flat()})
    got = encode_inputs([ls.value("abcd0000-img0.png")], modality="image", resources=res,
                        store=storage, chunk_size=1)
    assert got.embedder == "flat-image" and got.vectors.tolist() == [[0, 1, 0]]
    assert res.media_embedder("image") is res.media_embedder("image")
    assert res.input_embedder_name("image") == "flat-image"
    assert res.media_fetcher(None) is res.media_fetcher(None)
    with pytest.raises(ValueError):
        res.media_embedder("text")
    video = res.media_embedder("video")  # served: frames through the image embedder, pooled
    assert video.modality == "video" and video is res.media_embedder("video")
    assert video.name.startswith("labelloop/video-mean-v1:")
    assert res.input_embedder_name("video") == video.name


def test_chunks_bound_what_is_held_and_keep_the_order(storage: Storage, tmp_path, ls,
                                                      images) -> None:
    names = [f"abcd{i:04d}-img{i}.png" for i in range(len(images))]
    values = [ls.value(n) for n in reversed(names)]
    seen: list[int] = []
    got = encode_inputs(values, modality="image", resources=resources(tmp_path, ls),
                        store=storage, chunk_size=4, progress=seen.append)
    assert seen == [4, 2]
    np.testing.assert_allclose(got.vectors, BuiltinImageEmbedder().encode(
        [p for p, _ in reversed(images)]), atol=1e-6)
