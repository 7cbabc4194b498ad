"""Prices and cost: USD per million (input, output) tokens, looked up by model name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    input_per_million: float
    output_per_million: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_million
                + completion_tokens * self.output_per_million) / 1_000_000


def price_for(model: str, table: Mapping[str, tuple[float, float]]) -> Price | None:
    """The price of ``model``: an exact entry, else the longest entry the name starts with
    (``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini``). None when the table has no entry."""
    if model in table:
        return Price(*table[model])
    keys = sorted((k for k in table if model.startswith(k)), key=len, reverse=True)
    return Price(*table[keys[0]]) if keys else None
