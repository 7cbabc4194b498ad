"""Labeling one text: the request(s), strict parsing, one retry, and the confidence.

* Single choice on an endpoint with logprobs: one call at ``temperature``; the distribution
  comes from the answer's token logprobs.
* Otherwise, with ``samples > 1``: ``samples`` answers at ``sample_temperature`` (one call with
  ``n`` where the endpoint honours it, else one call each, seeded); the label is the vote
  winner (for multiple choice, every label in at least half the answers) and the distribution
  is the vote shares.
* With ``samples == 1`` and no logprobs: one call; confidence unknown.

When no answer is a label, the conversation is sent once more with the retry prompt; if that
answer is outside the set too, the item fails with the reason. Nothing outside the label set is
ever returned as a label.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.answers import (
    InvalidAnswer,
    LabelSet,
    build_request,
    field_name,
    parse_answer,
    raw_answer,
)
from labelloop.llm.calls import CallRunner
from labelloop.llm.capabilities import Capabilities
from labelloop.llm.chat import ChatRequest, ChatResponse
from labelloop.llm.confidence import (
    choose,
    confidence_of,
    distribution_from_logprobs,
    distribution_from_votes,
)
from labelloop.llm.errors import LLMError, LLMRejected, LLMUnavailable
from labelloop.llm.prompts import PromptTemplates, render_messages, render_retry
from labelloop.llm.types import ConfidenceMethod, LabelOutcome, LabelRequest, Usage


@dataclass(frozen=True)
class ItemOptions:
    temperature: float = 0.0
    samples: int = 5
    sample_temperature: float = 0.8
    top_logprobs: int = 10
    seed: int = 0


@dataclass(frozen=True)
class _Answer:
    raw: str
    labels: list[str] | None
    error: str | None
    choice: dict[str, Any]


class ItemLabeler:
    """Labels items of one schema with one runner. ``on_rejected(mode)`` is awaited after a
    400 in ``mode`` and returns the capabilities to use now (None: the request itself is bad)."""

    def __init__(self, runner: CallRunner, schema: LabelSchema, templates: PromptTemplates, *,
                 capabilities: Callable[[], Capabilities], options: ItemOptions,
                 examples: Callable[[LabelRequest], list[tuple[str, list[str]]]],
                 on_rejected: Callable[[str], Awaitable[Capabilities | None]]) -> None:
        self.runner = runner
        self.schema = schema
        self.templates = templates
        self.capabilities = capabilities
        self.options = options
        self.examples = examples
        self.on_rejected = on_rejected
        self.labelset = LabelSet.of(schema)
        self._value_of = {c.output: c.value for c in schema.choices}
        self._prepared: dict[int, tuple[Capabilities, list[dict[str, str]],
                                        list[ChatRequest]]] = {}

    def messages(self, item: LabelRequest, caps: Capabilities) -> list[dict[str, str]]:
        shown = [(text, [self._value_of.get(x, x) for x in labels])
                 for text, labels in self.examples(item)]
        return render_messages(self.templates, self.schema, item.text,
                               mode=caps.output_mode, examples=shown)

    def first_requests(self, item: LabelRequest) -> list[ChatRequest]:
        """The requests this item starts with (to prefetch their cached responses); kept until
        the item is labeled, so they are built once."""
        caps = self.capabilities()
        messages, requests = self._prepare(item, caps)
        self._prepared[id(item)] = (caps, messages, requests)
        return requests

    def _uses_logprobs(self, caps: Capabilities) -> bool:
        return caps.logprobs and not self.schema.multiple

    def _samples(self, caps: Capabilities) -> int:
        return 1 if self._uses_logprobs(caps) else self.options.samples

    def _n_requests(self, caps: Capabilities) -> int:
        samples = self._samples(caps)
        return 1 if samples == 1 or caps.n else samples

    def _prepare(self, item: LabelRequest, caps: Capabilities
                 ) -> tuple[list[dict[str, Any]], list[ChatRequest]]:
        """The item's messages and first requests: the prepared ones while the capabilities
        they were built for hold, else built now."""
        prepared = self._prepared.pop(id(item), None)
        if prepared is not None and prepared[0] == caps:
            return prepared[1], prepared[2]
        messages = self.messages(item, caps)
        return messages, [self._request(messages, caps, sample=i, text=item.text)
                          for i in range(self._n_requests(caps))]

    def _request(self, messages: list[dict[str, Any]], caps: Capabilities, *,
                 sample: int, text: str) -> ChatRequest:
        """Request ``sample`` of an item (``text``: the task's, unused by classification,
        whose answer length does not depend on it)."""
        o = self.options
        samples = self._samples(caps)
        if samples == 1:
            return build_request(self.schema, messages, mode=caps.output_mode,
                                 temperature=o.temperature, logprobs=self._uses_logprobs(caps),
                                 top_logprobs=o.top_logprobs)
        return build_request(self.schema, messages, mode=caps.output_mode,
                             temperature=o.sample_temperature, n=samples if caps.n else 1,
                             seed=o.seed + sample)

    async def label(self, item: LabelRequest) -> LabelOutcome:
        """The outcome for ``item``; never raises for LLM errors or bad answers."""
        spent = [Usage()]  # what the calls cost so far, also when one of them fails
        try:
            for attempt in range(2):
                caps = self.capabilities()
                try:
                    return await self._label(item, caps, spent)
                except LLMRejected as exc:
                    newer = await self.on_rejected(caps.output_mode) if attempt == 0 else None
                    if newer is None or newer == caps:
                        return self._failed(item, f"the LLM server rejected the request: "
                                            f"{exc.message}", "rejected", spent[0])
        except LLMUnavailable as exc:
            kind = "over_budget" if exc.kind == "over_budget" else "paused"
            return self._failed(item, exc.message, kind, spent[0])
        except LLMError as exc:
            return self._failed(item, f"the LLM call failed: {exc.message}", "request_failed",
                                spent[0])
        return self._failed(item, "the LLM server rejected the request", "rejected", spent[0])

    async def _call(self, request: Any, purpose: str, item: LabelRequest,
                    spent: list[Usage]) -> ChatResponse:
        response, usage = await self.runner.call(request, purpose=purpose, task_id=item.task_id)
        spent[0] = spent[0] + usage
        return response

    async def _first_responses(self, item: LabelRequest, caps: Capabilities, spent: list[Usage]
                               ) -> tuple[list[dict[str, Any]], list[ChatResponse]]:
        """The item's messages and the answers to its first requests (the label call, then any
        self-consistency samples, side by side), prepared ones reused when still valid."""
        messages, requests = self._prepare(item, caps)
        if len(requests) == 1:
            return messages, [await self._call(requests[0], "label", item, spent)]
        return messages, list(await asyncio.gather(*(
            self._call(r, "label" if i == 0 else "sample", item, spent)
            for i, r in enumerate(requests))))

    async def _label(self, item: LabelRequest, caps: Capabilities,
                     spent: list[Usage]) -> LabelOutcome:
        messages, responses = await self._first_responses(item, caps, spent)
        answers = [a for response in responses for a in self._parse(response, caps)]
        valid = [a for a in answers if a.labels]
        method: ConfidenceMethod = "unknown"
        if not valid:
            retry = await self._retry(item, messages, answers, caps, spent)
            if retry.labels is None:
                return self._failed(item, f"answer outside the label set after a retry: "
                                    f"{retry.error}", "invalid_answer", spent[0])
            valid = [retry]
        if self._samples(caps) > 1 and len(valid) > 1:
            dist = distribution_from_votes([a.labels or [] for a in valid], self.schema.labels,
                                           multiple=self.schema.multiple)
            method = "self_consistency"
        elif self._uses_logprobs(caps):
            dist = self._from_logprobs(valid[0], caps)
            method = "logprobs" if dist is not None else "unknown"
        else:
            dist = None
        if dist is None:
            labels, confidence = valid[0].labels, None
        else:
            labels = (valid[0].labels if method == "logprobs"
                      else choose(dist, multiple=self.schema.multiple, order=self.schema.labels))
            confidence = confidence_of(dist, labels or [])
        return LabelOutcome(item.task_id, labels, dist, confidence, method,
                            cached=_from_cache(spent[0]), usage=spent[0])

    async def _retry(self, item: LabelRequest, messages: list[dict[str, Any]],
                     answers: list[_Answer], caps: Capabilities,
                     spent: list[Usage]) -> _Answer:
        said = answers[0].raw if answers else ""
        convo = [*messages, {"role": "assistant", "content": said},
                 {"role": "user", "content": render_retry(self.templates, self.schema, said,
                                                          mode=caps.output_mode)}]
        request = build_request(self.schema, convo, mode=caps.output_mode,
                                temperature=self.options.temperature,
                                logprobs=self._uses_logprobs(caps),
                                top_logprobs=self.options.top_logprobs)
        parsed = self._parse(await self._call(request, "retry", item, spent), caps)
        return parsed[0] if parsed else _Answer("", None, "the server returned no answer", {})

    def _parse(self, response: ChatResponse, caps: Capabilities) -> list[_Answer]:
        out = []
        for choice in response.choices:
            raw, mode = raw_answer(choice, caps.output_mode)
            try:
                out.append(_Answer(raw or "", parse_answer(raw, self.schema, mode), None, choice))
            except InvalidAnswer as exc:
                out.append(_Answer(raw or "", None, str(exc), choice))
        return out

    def _from_logprobs(self, answer: _Answer, caps: Capabilities) -> dict[str, float] | None:
        tokens, content = answer.choice.get("logprobs"), answer.choice.get("content")
        if not tokens or not isinstance(content, str):
            return None
        key = field_name(self.schema) if caps.output_mode == "json_schema" else None
        by_value = distribution_from_logprobs(tokens, content, self.labelset.values,
                                              json_key=key)
        if by_value is None:
            return None
        return {self.labelset.outputs[i]: by_value[v]
                for i, v in enumerate(self.labelset.values)}

    @staticmethod
    def _failed(item: LabelRequest, reason: str, kind: Any, usage: Usage) -> LabelOutcome:
        return LabelOutcome(item.task_id, None, None, None, "unknown", failure=reason,
                            failure_kind=kind, cached=_from_cache(usage), usage=usage)


def _from_cache(usage: Usage) -> bool:
    return usage.calls == 0 and usage.cached_responses > 0
