"""The records the LLM labeler takes and gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from labelloop.labelconfig.spans import Span

if TYPE_CHECKING:
    from labelloop.llm.media_parts import MediaInput

ConfidenceMethod = Literal["logprobs", "self_consistency", "unknown"]
OutputMode = Literal["json_schema", "tools", "text"]
FailureKind = Literal["invalid_answer", "rejected", "request_failed", "paused", "over_budget",
                      "no_input", "media_unsupported"]
"""Why an item has no label: the model answered outside the label set (after one retry); the
server rejected the request (400); the call failed after retries; the circuit breaker or the
budget stopped LLM work before the item was sent (these two are worth retrying later); the task
has nothing to label (no text, or media that cannot be sent: an image that does not decode, audio
in a format ``input_audio`` does not take); the endpoint does not take this kind of media (its
capability check, see :mod:`labelloop.llm.media_caps`)."""


@dataclass(frozen=True)
class LabelRequest:
    """One text to label. ``embedding`` (optional) picks few-shot examples similar to it.
    ``media``: for an image, audio or video task, what the LLM is shown instead of a text
    (:class:`~labelloop.llm.media_parts.MediaInput`; ``text`` is then ignored)."""

    task_id: int
    text: str
    embedding: np.ndarray | None = None
    media: MediaInput | None = None


@dataclass(frozen=True)
class Usage:
    """Calls and tokens spent on one item (zero when every response came from the cache).
    ``image_tokens`` / ``audio_tokens``: the part of ``prompt_tokens`` the server says the
    images / audio took (0 when it does not say; they are in ``prompt_tokens`` either way)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cached_responses: int = 0
    image_tokens: int = 0
    audio_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.calls + other.calls, self.prompt_tokens + other.prompt_tokens,
                     self.completion_tokens + other.completion_tokens,
                     self.cost_usd + other.cost_usd,
                     self.cached_responses + other.cached_responses,
                     self.image_tokens + other.image_tokens,
                     self.audio_tokens + other.audio_tokens)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {
            "calls": self.calls, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "cost_usd": self.cost_usd,
            "cached_responses": self.cached_responses}
        if self.image_tokens:
            out["image_tokens"] = self.image_tokens
        if self.audio_tokens:
            out["audio_tokens"] = self.audio_tokens
        return out


@dataclass(frozen=True)
class ScoredSpan:
    """A span the LLM produced, located in the task's text by labelloop, with its confidence
    (None when unknown: no logprobs and no self-consistency samples)."""

    span: Span
    score: float | None = None


@dataclass(frozen=True)
class DroppedEntity:
    """An entity the LLM named that produced no span, and why: the reason
    :func:`~labelloop.labelconfig.spans.locate` gave (``not_found``, ``unknown_label``,
    ``empty``, ``duplicate``) or the answer parser (``unknown_label``, ``malformed_entity``)."""

    text: str
    label: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"text": self.text, "label": self.label, "reason": self.reason}


@dataclass(frozen=True)
class LabelOutcome:
    """The LLM's answer for one task.

    ``labels`` are output values (what Label Studio stores), never anything outside the label
    set; None when the item failed (``failure`` says why, ``failure_kind`` how).
    ``distribution`` maps every output label to a probability: for single choice it sums to 1;
    for multiple choice each value is the probability that the label applies. None when the
    method is ``unknown`` or the item failed. ``confidence`` is the probability of the chosen
    label (single choice) or the mean over the chosen labels (multiple choice).
    ``cached`` is True when no call was made for the item.

    Text spans (``schema.task_type == "text_spans"``): ``spans`` holds the located spans with
    their scores (sorted; empty: "no entities", an answer like any other), ``dropped`` what the
    LLM named that gave no span; ``labels`` is then the sorted distinct labels of the spans
    (so ``ok`` reads the same), ``distribution`` None, ``confidence`` the mean span score (None
    when unknown or when there is no span).
    """

    task_id: int
    labels: list[str] | None
    distribution: dict[str, float] | None
    confidence: float | None
    confidence_method: ConfidenceMethod
    failure: str | None = None
    failure_kind: FailureKind | None = None
    cached: bool = False
    usage: Usage = field(default_factory=Usage)
    spans: tuple[ScoredSpan, ...] | None = None
    dropped: tuple[DroppedEntity, ...] = ()

    @property
    def ok(self) -> bool:
        return self.labels is not None

    @property
    def span_list(self) -> list[Span]:
        """The spans alone (empty for a failure or a classification outcome)."""
        return [s.span for s in self.spans or ()]

    @property
    def span_scores(self) -> dict[Span, float]:
        """Each span's score, for the spans whose score is known."""
        return {s.span: s.score for s in self.spans or () if s.score is not None}
