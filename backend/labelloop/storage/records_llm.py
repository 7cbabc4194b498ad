"""Records of the LLM tables that cross the storage boundary (see ``tables_llm``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LlmCacheEntry:
    """One cached chat response, keyed by a hash of (endpoint, model, messages, parameters)."""

    key: str
    endpoint: str
    model: str
    response: dict[str, Any]


@dataclass(frozen=True)
class LlmCall:
    """One HTTP call to an LLM (cache hits are not calls and are not logged)."""

    endpoint: str
    model: str
    purpose: str  # label | retry | sample | probe
    status: str  # ok | error
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    error: str | None = None
    cache_key: str | None = None
    project_id: int | None = None
    task_id: int | None = None
    at: float = 0.0


@dataclass(frozen=True)
class LlmUsage:
    """Totals over logged calls."""

    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class LlmEndpoint:
    """What labelloop learnt about one (endpoint, model): capabilities and pause state."""

    endpoint: str
    model: str
    capabilities: dict[str, Any] | None
    detected_at: float | None
    paused_until: float | None
    pause_reason: str | None
    updated_at: float


@dataclass(frozen=True)
class LlmLabel:
    """The LLM's answer for one task under one model version (labels are output values)."""

    project_id: int
    task_id: int
    model_version: str
    labels: list[str] | None
    distribution: dict[str, float] | None
    confidence: float | None
    confidence_method: str  # logprobs | self_consistency | unknown
    failure: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    spans: dict[str, Any] | None = None  # text spans (see labelloop.llm.span_store)
