"""A small real dataset, embedded once per test session (through an on-disk cache)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from tests.datasets import LabeledTexts, rotten_tomatoes

from labelloop.embeddings import SentenceTransformerEmbedder
from labelloop.simulate import embed_texts


@dataclass(frozen=True)
class Embedded:
    data: LabeledTexts
    x: np.ndarray


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(torch_threads=2)


@pytest.fixture(scope="session")
def rt_small(tmp_path_factory: pytest.TempPathFactory,
             minilm: SentenceTransformerEmbedder) -> Embedded:
    """1000 Rotten Tomatoes snippets (stratified, seed 0) and their MiniLM vectors."""
    data = rotten_tomatoes(1000, seed=0)
    x = embed_texts(data.texts, embedder=minilm,
                    cache_dir=tmp_path_factory.mktemp("embedding-cache"))
    return Embedded(data, x)
