"""The bundled sentence-transformers embedder and the storage-backed embedding cache."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from labelloop.embeddings import (
    CachedEmbedder,
    Embedder,
    EmbeddingModelUnavailable,
    InvalidTexts,
    SentenceTransformerEmbedder,
    embed_cached,
    embed_each,
    text_hash,
)
from labelloop.storage import Storage, open_storage


class CountingEmbedder:
    """A deterministic fake: a vector from the text's hash; counts what it was asked."""

    name = "fake-embedder"
    dim = 8

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(self.dim)
                        for t in texts]) if texts else np.zeros((0, self.dim))
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)

    @property
    def encoded(self) -> list[str]:
        return [t for call in self.calls for t in call]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    s = open_storage(f"sqlite:///{tmp_path / 'cache.db'}")
    yield s
    s.close()


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(torch_threads=1)


class TestSentenceTransformer:
    def test_is_an_embedder_and_loads_lazily(self) -> None:
        e = SentenceTransformerEmbedder()
        assert isinstance(e, Embedder)
        assert not e.loaded  # nothing loaded by constructing it
        assert e.name == "sentence-transformers/all-MiniLM-L6-v2"

    def test_a_twin_shares_the_model_and_encodes_alike_on_pinned_threads(
            self, minilm: SentenceTransformerEmbedder) -> None:
        from labelloop.embeddings.pinned import PinnedThreadsEmbedder

        texts = ["a great film", "the worst movie I have seen"]
        want = minilm.encode(texts)
        twin = minilm.with_threads(None)
        assert twin.loaded and twin.model is minilm.model and twin.torch_threads is None
        assert (twin.name, twin.dim, minilm.torch_threads) == (minilm.name, 384, 1)
        pinned = PinnedThreadsEmbedder(twin, torch_threads=1, workers=2)
        try:
            np.testing.assert_allclose(pinned.encode(texts), want, atol=1e-5)
        finally:
            pinned.close()

    def test_a_bfloat16_twin_gives_nearly_the_float32_vectors(
            self, minilm: SentenceTransformerEmbedder) -> None:
        texts = ["a great film", "the worst movie I have seen, " * 8, "ok"]
        want = minilm.encode(texts)
        twin = minilm.with_threads(None, precision="bfloat16")
        assert twin.model is minilm.model and minilm.precision == "float32"
        got = twin.encode(texts)
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        assert not np.array_equal(got, want)  # autocast ran: bfloat16 rounding shows
        assert float((got * want).sum(axis=1).min()) > 0.999
        assert twin.with_threads(2).precision == "bfloat16"  # a twin keeps it
        with pytest.raises(ValueError, match="precision"):
            minilm.with_threads(None, precision="float16")  # type: ignore[arg-type]

    def test_unit_float32_vectors_in_input_order(self, minilm: SentenceTransformerEmbedder,
                                                 ) -> None:
        texts = ["a great film", "the worst movie I have seen", "a great film"]
        v = minilm.encode(texts)
        assert v.dtype == np.float32 and v.shape == (3, 384) and minilm.dim == 384
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(v[0], v[2], atol=1e-5)

    def test_similar_texts_are_closer(self, minilm: SentenceTransformerEmbedder) -> None:
        v = minilm.encode(["I loved this movie", "What a wonderful film",
                           "The invoice is due on Monday"])
        assert v[0] @ v[1] > v[0] @ v[2] + 0.2

    def test_empty_input(self, minilm: SentenceTransformerEmbedder) -> None:
        assert minilm.encode([]).shape == (0, 384)

    def test_thread_count_is_restored(self, minilm: SentenceTransformerEmbedder) -> None:
        import torch

        before = torch.get_num_threads()
        SentenceTransformerEmbedder(torch_threads=1).encode(["hello"])
        assert torch.get_num_threads() == before

    def test_missing_model_folder_is_a_clear_error(self, tmp_path: Path) -> None:
        e = SentenceTransformerEmbedder(tmp_path / "nowhere")
        with pytest.raises(EmbeddingModelUnavailable, match="nowhere"):
            e.encode(["x"])

    @pytest.mark.parametrize("texts", ["just one string", [b"bytes"], ["ok", None]])
    def test_texts_must_be_strings(self, minilm: SentenceTransformerEmbedder,
                                   texts: object) -> None:
        with pytest.raises(InvalidTexts):
            minilm.encode(texts)  # type: ignore[arg-type]


class TestCache:
    def test_second_call_encodes_nothing(self, store: Storage) -> None:
        fake = CountingEmbedder()
        texts = ["alpha", "beta", "gamma"]
        first = embed_cached(texts, embedder=fake, store=store)
        second = embed_cached(texts, embedder=fake, store=store)
        np.testing.assert_array_equal(first, second)
        assert fake.encoded == ["alpha", "beta", "gamma"]
        with store.read() as tx:
            assert tx.count_embeddings("fake-embedder") == 3

    def test_only_new_texts_are_encoded_and_each_once(self, store: Storage) -> None:
        fake = CountingEmbedder()
        embed_cached(["alpha", "beta"], embedder=fake, store=store)
        out = embed_cached(["beta", "delta", "delta", "alpha"], embedder=fake, store=store)
        assert fake.encoded == ["alpha", "beta", "delta"]
        np.testing.assert_array_equal(out[1], out[2])
        np.testing.assert_array_equal(out, fake.encode(["beta", "delta", "delta", "alpha"]))

    def test_keyed_by_model_name(self, store: Storage) -> None:
        a, b = CountingEmbedder(), CountingEmbedder()
        b.name = "another-model"  # type: ignore[misc]
        embed_cached(["alpha"], embedder=a, store=store)
        embed_cached(["alpha"], embedder=b, store=store)
        assert b.encoded == ["alpha"]

    def test_float16_storage(self, store: Storage) -> None:
        fake = CountingEmbedder()
        fresh = embed_cached(["alpha", "beta"], embedder=fake, store=store, dtype="float16")
        cached = embed_cached(["alpha", "beta"], embedder=fake, store=store)
        assert cached.dtype == np.float32
        np.testing.assert_array_equal(fresh, cached)  # the same numbers either way
        np.testing.assert_allclose(cached, fake.encode(["alpha", "beta"]), atol=1e-3)

    def test_chunks_are_stored_as_they_are_encoded(self, store: Storage) -> None:
        fake = CountingEmbedder()
        seen: list[int] = []
        embed_cached([f"t{i}" for i in range(10)], embedder=fake, store=store, chunk_size=4,
                     progress=seen.append)
        assert seen == [4, 4, 2] and [len(c) for c in fake.calls] == [4, 4, 2]

    def test_cached_embedder_wraps_the_cache(self, store: Storage) -> None:
        fake = CountingEmbedder()
        cached = CachedEmbedder(fake, store)
        assert isinstance(cached, Embedder) and cached.name == fake.name
        cached.encode(["x", "y"])
        cached.encode(["y", "x"])
        assert fake.encoded == ["x", "y"]

    def test_real_model_through_the_cache(self, store: Storage,
                                          minilm: SentenceTransformerEmbedder) -> None:
        texts = ["fresh and funny", "a tedious mess"]
        first = embed_cached(texts, embedder=minilm, store=store)
        np.testing.assert_allclose(first, minilm.encode(texts), atol=1e-6)
        with store.read() as tx:
            stored = tx.get_embeddings(minilm.name, [text_hash(t) for t in texts])
        assert len(stored) == 2

    def test_empty_and_bad_input(self, store: Storage) -> None:
        assert embed_cached([], embedder=CountingEmbedder(), store=store).shape == (0, 8)
        with pytest.raises(InvalidTexts):
            embed_cached("one string", embedder=CountingEmbedder(), store=store)


class PickyEmbedder(CountingEmbedder):
    """Fails a whole call when one text holds ``poison`` (as a tokenizer may), and answers NaN
    for ``nan``; fails every call with ``broken`` set (a model that cannot be used)."""

    def __init__(self, broken: BaseException | None = None) -> None:
        super().__init__()
        self.broken = broken

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.broken is not None:
            raise self.broken
        self.tried = [*getattr(self, "tried", []), *texts]
        if any("poison" in t for t in texts):
            raise ValueError("cannot tokenize this text")
        out = super().encode(texts)
        out[[i for i, t in enumerate(texts) if "nan" in t]] = np.nan
        return out


class TestBadItems:
    def test_a_text_that_cannot_be_encoded_is_left_out_not_fatal(self, store: Storage) -> None:
        fake = CountingEmbedder()
        texts = ["good one", "bad \udc80 one", "good two"]
        result = embed_each(texts, embedder=fake, store=store)
        assert list(result.failed) == [1] and "not valid Unicode" in result.failed[1]
        assert result.ok.tolist() == [True, False, True]
        assert not result.vectors[1].any() and fake.encoded == ["good one", "good two"]
        np.testing.assert_array_equal(result.vectors[[0, 2]], fake.encode(["good one",
                                                                            "good two"]))
        with pytest.raises(InvalidTexts, match="1 text"):
            embed_cached(texts, embedder=fake, store=store)

    def test_a_chunk_the_embedder_refuses_is_split_until_the_bad_text_is_alone(self, store: Storage) -> None:
        fake = PickyEmbedder()
        texts = [f"t{i}" for i in range(6)] + ["poison pill", "nan here"]
        result = embed_each(texts, embedder=fake, store=store, chunk_size=4)
        assert set(result.failed) == {6, 7}
        assert "cannot tokenize" in result.failed[6] and "not finite" in result.failed[7]
        assert result.ok.sum() == 6
        with store.read() as tx:  # the good ones are cached, the bad ones are not
            assert tx.count_embeddings(fake.name) == 6
        # the second run reads the good ones from the cache and tries only the bad ones
        fake.tried = []
        again = embed_each(texts, embedder=fake, store=store, chunk_size=4)
        assert set(again.failed) == {6, 7} and set(fake.tried) == {"poison pill", "nan here"}

    def test_an_embedder_that_cannot_work_still_fails_the_call(self, store: Storage) -> None:
        fake = PickyEmbedder(broken=EmbeddingModelUnavailable("model files missing"))
        with pytest.raises(EmbeddingModelUnavailable):
            embed_each(["a", "b"], embedder=fake, store=store)
        with pytest.raises(RuntimeError):
            embed_each(["a"], embedder=PickyEmbedder(broken=RuntimeError("CUDA")), store=store)

    def test_an_embedder_that_fails_on_every_text_alone_is_not_a_bad_text(self,
                                                                           store: Storage) -> None:
        broken = PickyEmbedder(broken=ValueError("wrong input dimension"))
        with pytest.raises(EmbeddingModelUnavailable, match="not a text"):
            embed_each(["a", "b", "c"], embedder=broken, store=store)
        # two bad texts are two bad texts; with vectors at hand (cached) so are three
        assert len(embed_each(["a", "b"], embedder=broken, store=store).failed) == 2
        embed_each(["x"], embedder=CountingEmbedder(), store=store)
        assert len(embed_each(["x", "a", "b", "c"], embedder=broken, store=store).failed) == 3


@pytest.mark.parametrize(("flags", "native"), [
    ("fpu avx2 avx512f avx512_bf16 avx512_vnni", True),
    ("fpu avx2 amx_bf16 amx_tile", True),
    ("fpu avx2 avx512f avx512bw", False),
])
def test_native_bfloat16_reads_the_cpu_flags(tmp_path: Path, flags: str, native: bool) -> None:
    from labelloop.embeddings.sentence_transformer import native_bfloat16

    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n")
    assert native_bfloat16(info) is native
    assert native_bfloat16(tmp_path / "absent") is False


def test_resolve_precision() -> None:
    from labelloop.embeddings.sentence_transformer import native_bfloat16, resolve_precision

    assert resolve_precision("float32") == "float32"
    assert resolve_precision("bfloat16") == "bfloat16"
    assert resolve_precision("auto") == ("bfloat16" if native_bfloat16() else "float32")
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp8")
