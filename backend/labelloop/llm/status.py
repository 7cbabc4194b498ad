"""Whether LLM work runs for an endpoint, and why not: what :meth:`LLMLabeler.status
<labelloop.llm.labeler.LLMLabeler.status>` reports (read from storage: no call)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from labelloop.llm.chat import EndpointConfig
from labelloop.storage.base import Storage
from labelloop.storage.records_llm import LlmUsage

LLMState = Literal["ok", "paused", "over_budget"]


@dataclass(frozen=True)
class LLMStatus:
    state: LLMState
    reason: str | None
    endpoint: str
    model: str
    model_version: str
    paused_until: float | None
    capabilities: dict[str, Any] | None
    usage: LlmUsage
    budget_usd: float | None


def read_status(storage: Storage, config: EndpointConfig, *, model_version: str,
                budget_usd: float | None, now: float) -> LLMStatus:
    """The stored pause, the budget, usage so far and the endpoint's capabilities."""
    with storage.read() as tx:
        record = tx.get_llm_endpoint(config.endpoint, config.model)
        usage = tx.llm_usage()
    paused = record.paused_until if record and record.paused_until else None
    state: LLMState
    reason: str | None
    if budget_usd is not None and usage.cost_usd >= budget_usd:
        state = "over_budget"
        reason = f"the LLM budget of ${budget_usd:.2f} is spent (${usage.cost_usd:.4f})"
    elif paused is not None and paused > now:
        state, reason = "paused", record.pause_reason if record else None
    else:
        state, reason, paused = "ok", None, None
    return LLMStatus(state, reason, config.endpoint, config.model, model_version, paused,
                     record.capabilities if record else None, usage, budget_usd)
