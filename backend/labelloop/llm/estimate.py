"""Projected tokens and cost of labeling texts, before any call.

Prompt tokens are counted on the rendered prompts (with the few-shot examples each text would
get) at about 4 characters a token; answers are the JSON of an average label. Three scenarios,
by what the endpoint supports: logprobs (one call a text), self-consistency with ``n`` (one call,
``samples`` answers), self-consistency without ``n`` (``samples`` calls). When the endpoint's
capabilities are stored, the scenario that applies is marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.capabilities import Capabilities
from labelloop.llm.costs import Price
from labelloop.llm.fewshot import ExamplePool
from labelloop.llm.prompts import PromptTemplates, estimate_tokens, render_messages
from labelloop.llm.types import OutputMode


@dataclass(frozen=True)
class Scenario:
    name: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # None: the model has no price
    applies: bool = False

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def answer_tokens(schema: LabelSchema) -> int:
    """Tokens of a typical JSON answer: overhead plus an average label (or two, multiple)."""
    avg = sum(estimate_tokens(c.value) for c in schema.choices) / len(schema.choices)
    return round(6 + avg * (2 if schema.multiple else 1))


def estimate(schema: LabelSchema, texts: Sequence[str], *, templates: PromptTemplates,
             price: Price | None, samples: int, k: int = 0, seed: int = 0,
             examples: ExamplePool | None = None, capabilities: Capabilities | None = None,
             mode: OutputMode = "json_schema") -> list[Scenario]:
    """Scenarios for labeling ``texts`` (already-cached texts should be left out by the
    caller: they cost nothing)."""
    value_of = {c.output: c.value for c in schema.choices}
    prompt = 0
    for text in texts:
        shown = [(t, [value_of.get(x, x) for x in labels]) for t, labels in
                 (examples.for_text(text, k=k, seed=seed) if examples is not None else [])]
        prompt += estimate_tokens(render_messages(templates, schema, text, mode=mode,
                                                  examples=shown))
    n = len(texts)
    answer = answer_tokens(schema) * n

    def cost(p: int, c: int) -> float | None:
        return price.cost(p, c) if price is not None else None

    single = not schema.multiple
    plans = [
        ("logprobs", n, prompt, answer,
         capabilities is not None and capabilities.logprobs and single),
        (f"self-consistency, n={samples} in one call", n, prompt, answer * samples,
         capabilities is not None and not (capabilities.logprobs and single) and capabilities.n),
        (f"self-consistency, {samples} calls", n * samples, prompt * samples, answer * samples,
         capabilities is not None and not (capabilities.logprobs and single)
         and not capabilities.n),
    ]
    if samples <= 1:
        plans = plans[:1]
    return [Scenario(name, calls, p, c, cost(p, c), applies)
            for name, calls, p, c, applies in plans]
