"""label_texts_sync (the simulator's entry point) and the Azure OpenAI client."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.errors import InvalidInput
from labelloop.llm import LabelRequest, LLMLabeler, label_texts_sync
from labelloop.llm.chat import EndpointConfig
from tests.llm.conftest import GOLD, LABELS, llm_settings


def test_label_texts_sync_returns_the_distribution_array(fake_llm) -> None:
    server = fake_llm(confidence=0.9)
    texts = list(GOLD)
    probas = label_texts_sync(texts, LABELS, base_url=server.url, model="m", concurrency=4)
    assert probas.shape == (len(texts), 3)
    assert np.allclose(probas.sum(axis=1), 1.0)
    assert [LABELS[i] for i in probas.argmax(axis=1)] == list(GOLD.values())
    assert probas.max(axis=1) == pytest.approx(np.full(len(texts), 0.9))


def test_label_texts_sync_noise_rate_and_nan_rows(fake_llm) -> None:
    gold = {f"review number {i}": LABELS[i % 3] for i in range(300)}
    server = fake_llm(gold, noise=0.3, seed=1)
    probas = label_texts_sync(list(gold), LABELS, base_url=server.url, model="m",
                              concurrency=16)
    accuracy = np.mean([LABELS[i] == g for i, g in zip(probas.argmax(axis=1), gold.values())])
    assert 0.62 < accuracy < 0.78  # the flip rate is ~0.3
    server.inject("outside", times=None)
    failed = label_texts_sync(["new text"], LABELS, base_url=server.url, model="m")
    assert np.isnan(failed).all() and failed.shape == (1, 3)


def test_label_texts_sync_caches_in_a_given_database(fake_llm, tmp_path) -> None:
    server = fake_llm()
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    first = label_texts_sync(list(GOLD), LABELS, base_url=server.url, model="m",
                             database_url=url)
    calls = server.calls
    second = label_texts_sync(list(GOLD), LABELS, base_url=server.url, model="m",
                              database_url=url)
    assert server.calls == calls and np.array_equal(first, second)


def test_label_texts_sync_unknown_confidence_is_one_hot(fake_llm) -> None:
    server = fake_llm(logprobs=False)
    probas = label_texts_sync(list(GOLD)[:3], LABELS, base_url=server.url, model="m",
                              samples=1)
    assert np.array_equal(probas, np.eye(3))


def test_label_texts_sync_needs_distinct_labels(fake_llm) -> None:
    with pytest.raises(InvalidInput):
        label_texts_sync(["x"], ["a", "a"], base_url="http://127.0.0.1:9/v1", model="m")


def test_azure_client_routes_to_the_deployment(fake_llm, tmp_path, llm_storage,
                                               schema) -> None:
    server = fake_llm()
    base = server.url.removesuffix("/v1")
    settings = llm_settings(tmp_path, None, openai_base_url=None, llm_azure_endpoint=base,
                            openai_api_key="azure-key", llm_model="my-deployment")
    assert settings.llm_configured
    labeler = LLMLabeler(settings, llm_storage)
    assert labeler.config.endpoint == f"azure:{base}"
    out = labeler.label_many_sync(schema, [LabelRequest(1, "Dull and far too long.")])
    assert out[0].labels == ["negative"]
    assert server.paths[-1] == \
        "/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21"


def test_azure_needs_a_key(tmp_path, llm_storage, schema) -> None:
    config = EndpointConfig(model="d", azure_endpoint="http://127.0.0.1:9")
    with pytest.raises(InvalidInput, match="Azure OpenAI needs an API key"):
        config.make_client()
