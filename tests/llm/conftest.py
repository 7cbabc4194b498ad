"""Fixtures for the LLM tests: the loopback fake LLM server, settings, storage, labelers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labelloop.labelconfig.schema import LabelSchema, parse_label_config
from labelloop.llm import LLMLabeler
from labelloop.settings import Settings
from labelloop.storage.base import Storage, open_storage
from tests.conftest import make_settings
from tests.fakes.llm_server import FakeLLM

LABELS = ["positive", "negative", "neutral"]
GOLD = {
    "A wonderful, moving film.": "positive",
    "Dull and far too long.": "negative",
    "It is a film about a boat.": "neutral",
    "Loved every minute of it.": "positive",
    "The worst script this year.": "negative",
    "Runs for two hours.": "neutral",
}
CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="positive" hint="the author liked it"/>
    <Choice value="negative"/>
    <Choice value="neutral"/>
  </Choices>
</View>"""
MULTI_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="topics" toName="text" choice="multiple">
    <Choice value="sports"/><Choice value="politics"/><Choice value="science"/>
  </Choices>
</View>"""


def llm_settings(tmp_path: Path, server: FakeLLM | None = None, **kw: Any) -> Settings:
    """Settings for one test: the fake server, fast retries, no environment."""
    base: dict[str, Any] = {
        "openai_base_url": server.url if server else "http://127.0.0.1:9/v1",
        "llm_model": "fake-model", "llm_azure_endpoint": None, "llm_prompts_dir": None,
        "llm_max_retries": 2, "llm_retry_max_wait_s": 0.05, "llm_timeout_s": 5.0,
        "llm_budget_usd": None, "llm_requests_per_minute": None, "llm_tokens_per_minute": None,
        "llm_output_mode": "auto", "llm_few_shot_k": 4,
    }
    base.update(kw)
    return make_settings(tmp_path, **base)


@pytest.fixture
def schema() -> LabelSchema:
    return parse_label_config(CONFIG)


@pytest.fixture
def multi_schema() -> LabelSchema:
    return parse_label_config(MULTI_CONFIG)


@pytest.fixture
def fake_llm() -> Iterator[Callable[..., FakeLLM]]:
    """Start fake LLM servers with the given options; all are stopped after the test."""
    servers: list[FakeLLM] = []

    def start(gold: dict[str, Any] | None = None, **kw: Any) -> FakeLLM:
        server = FakeLLM(GOLD if gold is None else gold, **kw).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def llm_storage(tmp_path: Path) -> Iterator[Storage]:
    s = open_storage(f"sqlite:///{tmp_path / 'llm.db'}")
    yield s
    s.close()


@pytest.fixture
def make_labeler(tmp_path: Path, llm_storage: Storage) -> Callable[..., LLMLabeler]:
    def make(server: FakeLLM | None = None, **kw: Any) -> LLMLabeler:
        return LLMLabeler(llm_settings(tmp_path, server, **kw), llm_storage)
    return make
