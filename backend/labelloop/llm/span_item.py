"""Labeling one text with spans: the request(s), strict parsing, one retry, located spans and
their confidence.

The calls, cache, retries, fallbacks (structured output, then a forced tool call, then JSON
asked in the prompt) and error handling are those of :class:`~labelloop.llm.item.ItemLabeler`;
only the answer differs. Confidence per span, with the same settings as classification:

* endpoint with logprobs: one call at ``LABELLOOP_LLM_TEMPERATURE``; a span's score is the
  probability the answer's tokens give its label, read at that entity's ``"label"`` value
  (:func:`~labelloop.llm.confidence.span_label_distributions`); ``confidence_method`` is
  ``logprobs`` (``unknown`` when the logprobs do not cover the answer);
* otherwise, with ``LABELLOOP_LLM_SAMPLES`` > 1: that many answers at
  ``LABELLOOP_LLM_SAMPLE_TEMPERATURE`` (one call with ``n`` where honoured, else seeded calls);
  the spans kept are those at least half the valid samples produce, each scored by the share of
  samples that produce it (``self_consistency``);
* ``LABELLOOP_LLM_SAMPLES=1`` without logprobs: one call, scores None (``unknown``).

A span is produced by locating the entity's text in the task's text
(:func:`~labelloop.llm.span_locate.locate_entities`); entities that give no span are listed in
the outcome's ``dropped`` with their reason, and logged. Every outcome's spans pass
:func:`~labelloop.labelconfig.spans.validate_spans` before they leave.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from labelloop.errors import InvalidInput
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelconfig.spans import Span, validate_spans
from labelloop.llm.answers import InvalidAnswer, raw_answer
from labelloop.llm.calls import CallRunner
from labelloop.llm.capabilities import Capabilities
from labelloop.llm.chat import ChatRequest, ChatResponse
from labelloop.llm.confidence import span_label_distributions
from labelloop.llm.item import ItemLabeler, ItemOptions, _from_cache
from labelloop.llm.prompts import PromptTemplates
from labelloop.llm.span_answers import Entity, ParsedEntities, build_span_request, parse_entities
from labelloop.llm.span_locate import locate_entities, log_dropped
from labelloop.llm.span_prompts import SpanExample, render_span_messages, render_span_retry
from labelloop.llm.types import (
    ConfidenceMethod,
    DroppedEntity,
    LabelOutcome,
    LabelRequest,
    ScoredSpan,
    Usage,
)


@dataclass(frozen=True)
class _SpanAnswer:
    raw: str
    parsed: ParsedEntities | None
    error: str | None
    choice: dict[str, Any]


@dataclass(frozen=True)
class _Located:
    pairs: list[tuple[Span, Entity | None]]
    dropped: list[DroppedEntity]
    answer: _SpanAnswer


class SpanItemLabeler(ItemLabeler):
    """Labels texts of a ``text_spans`` schema with one runner (see the module docstring)."""

    def __init__(self, runner: CallRunner, schema: LabelSchema, templates: PromptTemplates, *,
                 capabilities: Callable[[], Capabilities], options: ItemOptions,
                 examples: Callable[[LabelRequest], list[SpanExample]],
                 on_rejected: Callable[[str], Awaitable[Capabilities | None]]) -> None:
        super().__init__(runner, schema, templates, capabilities=capabilities, options=options,
                         examples=lambda _item: [], on_rejected=on_rejected)
        self.span_examples = examples

    def messages(self, item: LabelRequest, caps: Capabilities) -> list[dict[str, str]]:
        shown = [(text, [(t, self._value_of.get(label, label)) for t, label in entities])
                 for text, entities in self.span_examples(item)]
        return render_span_messages(self.templates, self.schema, item.text,
                                    mode=caps.output_mode, examples=shown)

    def _uses_logprobs(self, caps: Capabilities) -> bool:
        return caps.logprobs  # every entity has one label: its tokens can be read

    def _request(self, messages: list[dict[str, Any]], caps: Capabilities, *,
                 sample: int, text: str) -> ChatRequest:
        """``text``: the task's text, which bounds the answer's length (its words; the
        few-shot examples in the message do not)."""
        o = self.options
        if self._samples(caps) == 1:
            return build_span_request(self.schema, messages, text=text, mode=caps.output_mode,
                                      temperature=o.temperature,
                                      logprobs=self._uses_logprobs(caps),
                                      top_logprobs=o.top_logprobs)
        samples = self._samples(caps)
        return build_span_request(self.schema, messages, text=text, mode=caps.output_mode,
                                  temperature=o.sample_temperature,
                                  n=samples if caps.n else 1, seed=o.seed + sample)

    async def _label(self, item: LabelRequest, caps: Capabilities,
                     spent: list[Usage]) -> LabelOutcome:
        messages, responses = await self._first_responses(item, caps, spent)
        answers = [a for response in responses for a in self._parse_spans(response, caps)]
        valid = [a for a in answers if a.parsed is not None]
        if not valid:
            retry = await self._retry_spans(item, messages, answers, caps, spent)
            if retry.parsed is None:
                return self._failed(item, f"no entities list after a retry: {retry.error}",
                                    "invalid_answer", spent[0])
            valid = [retry]
        located = [self._locate(item.text, a) for a in valid]
        method: ConfidenceMethod
        if self._samples(caps) > 1 and len(located) > 1:
            scored, method = _by_votes(located), "self_consistency"
        elif self._uses_logprobs(caps):
            scored, method = self._by_logprobs(located[0])
        else:
            scored = [ScoredSpan(s) for s, _ in located[0].pairs]
            method = "unknown"
        dropped = _unique(d for loc in located for d in loc.dropped)
        return self._outcome(item, scored, dropped, method, spent[0])

    def _outcome(self, item: LabelRequest, scored: list[ScoredSpan],
                 dropped: list[DroppedEntity], method: ConfidenceMethod,
                 usage: Usage) -> LabelOutcome:
        spans = sorted(scored, key=lambda s: s.span)
        try:  # locate's contract; checked again so that no invalid span ever leaves
            validate_spans(item.text, [s.span for s in spans], labels=self.schema.labels)
        except InvalidInput as exc:
            return self._failed(item, f"invalid spans: {exc}", "invalid_answer", usage)
        log_dropped(item.task_id, dropped)
        known = [s.score for s in spans if s.score is not None]
        confidence = sum(known) / len(known) if known else None
        if not known:
            method = "unknown" if spans else method
        labels = sorted({s.span.label for s in spans})
        return LabelOutcome(item.task_id, labels, None, confidence, method,
                            cached=_from_cache(usage), usage=usage, spans=tuple(spans),
                            dropped=tuple(dropped))

    def _locate(self, text: str, answer: _SpanAnswer) -> _Located:
        assert answer.parsed is not None
        pairs, gone = locate_entities(text, answer.parsed.entities, labels=self.schema.labels)
        return _Located(pairs, [*answer.parsed.dropped, *gone], answer)

    def _by_logprobs(self, located: _Located) -> tuple[list[ScoredSpan], ConfidenceMethod]:
        choice, parsed = located.answer.choice, located.answer.parsed
        tokens, content = choice.get("logprobs"), choice.get("content")
        dists = None
        if tokens and isinstance(content, str) and parsed is not None:
            dists = span_label_distributions(tokens, content, self.labelset.values,
                                             count=parsed.count)
        if dists is None:
            return [ScoredSpan(s) for s, _ in located.pairs], "unknown"
        out = []
        for span, entity in located.pairs:
            dist = dists[entity.position] if entity is not None else None
            value = self._value_of.get(span.label, span.label)
            out.append(ScoredSpan(span, None if dist is None else float(dist.get(value, 0.0))))
        return out, "logprobs"

    async def _retry_spans(self, item: LabelRequest, messages: list[dict[str, Any]],
                           answers: list[_SpanAnswer], caps: Capabilities,
                           spent: list[Usage]) -> _SpanAnswer:
        said = answers[0].raw if answers else ""
        convo = [*messages, {"role": "assistant", "content": said},
                 {"role": "user", "content": render_span_retry(self.templates, self.schema,
                                                               said, mode=caps.output_mode)}]
        request = build_span_request(self.schema, convo, text=item.text,
                                     mode=caps.output_mode, temperature=self.options.temperature,
                                     logprobs=self._uses_logprobs(caps),
                                     top_logprobs=self.options.top_logprobs)
        parsed = self._parse_spans(await self._call(request, "retry", item, spent), caps)
        return parsed[0] if parsed else _SpanAnswer("", None, "the server returned no answer",
                                                    {})

    def _parse_spans(self, response: ChatResponse, caps: Capabilities) -> list[_SpanAnswer]:
        out = []
        for choice in response.choices:
            raw, _mode = raw_answer(choice, caps.output_mode)
            try:
                out.append(_SpanAnswer(raw or "", parse_entities(raw, self.schema), None, choice))
            except InvalidAnswer as exc:
                out.append(_SpanAnswer(raw or "", None, str(exc), choice))
        return out


def _by_votes(located: Sequence[_Located]) -> list[ScoredSpan]:
    """Spans at least half the samples produce, scored by the share that produce them."""
    counts: Counter[Span] = Counter()
    for loc in located:
        counts.update({s for s, _ in loc.pairs})
    n = len(located)
    return [ScoredSpan(s, c / n) for s, c in sorted(counts.items()) if c / n >= 0.5]


def _unique(items: Any) -> list[DroppedEntity]:
    return list(dict.fromkeys(items))
