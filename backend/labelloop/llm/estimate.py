"""Projected tokens and cost of labeling texts, before any call.

Prompt tokens are counted on the rendered prompts (with the few-shot examples each text would
get) at about 4 characters a token; answers are the JSON of an average label. Three scenarios,
by what the endpoint supports: logprobs (one call a text), self-consistency with ``n`` (one call,
``samples`` answers), self-consistency without ``n`` (``samples`` calls). When the endpoint's
capabilities are stored, the scenario that applies is marked.

Text spans: the span prompts (``templates`` must be the ``span_extraction`` ones) with their
few-shot answers; an answer is counted as one entity per 8 words of the text, each its mention
and label in JSON (:func:`span_answer_tokens`: a rough figure, entities per text vary); logprobs
apply whenever the endpoint returns them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.capabilities import Capabilities
from labelloop.llm.costs import Price
from labelloop.llm.fewshot import ExamplePool
from labelloop.llm.prompts import PromptTemplates, estimate_tokens, render_messages
from labelloop.llm.span_prompts import render_span_messages
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


def span_answer_tokens(schema: LabelSchema, text: str) -> int:
    """Tokens of a typical entities answer for ``text``: one entity per 8 words."""
    label = sum(estimate_tokens(c.value) for c in schema.choices) / len(schema.choices)
    entities = max(1, len(text.split()) // 8)
    mention = estimate_tokens(" ".join(text.split()[:2]))
    return round(6 + entities * (10 + label + mention))


def _prompt_and_answer(schema: LabelSchema, text: str, *, templates: PromptTemplates,
                       k: int, seed: int, examples: ExamplePool | None,
                       mode: OutputMode) -> tuple[int, int]:
    if schema.task_type == "text_spans":
        value_of = {c.output: c.value for c in schema.choices}
        shown = [(t, [(m, value_of.get(x, x)) for m, x in entities]) for t, entities in
                 (examples.spans_for_text(text, k=k, seed=seed) if examples is not None else [])]
        messages = render_span_messages(templates, schema, text, mode=mode, examples=shown)
        return estimate_tokens(messages), span_answer_tokens(schema, text)
    value_of = {c.output: c.value for c in schema.choices}
    labeled = [(t, [value_of.get(x, x) for x in labels]) for t, labels in
               (examples.for_text(text, k=k, seed=seed) if examples is not None else [])]
    messages = render_messages(templates, schema, text, mode=mode, examples=labeled)
    return estimate_tokens(messages), answer_tokens(schema)


def estimate(schema: LabelSchema, texts: Sequence[str], *, templates: PromptTemplates,
             price: Price | None, samples: int, k: int = 0, seed: int = 0,
             examples: ExamplePool | None = None, capabilities: Capabilities | None = None,
             mode: OutputMode = "json_schema") -> list[Scenario]:
    """Scenarios for labeling ``texts`` (already-cached texts should be left out by the
    caller: they cost nothing)."""
    prompt = answer = 0
    for text in texts:
        p, a = _prompt_and_answer(schema, text, templates=templates, k=k, seed=seed,
                                  examples=examples, mode=mode)
        prompt, answer = prompt + p, answer + a
    n = len(texts)

    def cost(p: int, c: int) -> float | None:
        return price.cost(p, c) if price is not None else None

    single = not schema.multiple or schema.task_type == "text_spans"
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
