"""Labeling one image, audio or video task: the text path with the media as content parts.

Everything that makes a text label trustworthy is the text path's (:class:`ItemLabeler`): the
answer constrained to the label set (structured output, a forced tool call or strict text),
the same parsing, one retry with the same retry prompt, confidence from logprobs or
self-consistency votes, the cache, retries and the circuit breaker. What differs:

* the prompt: ``media_classification.{system,task,retry}.md``; the user message is the task
  file's text followed by the media parts (:mod:`labelloop.llm.media_parts`); no few-shot
  examples (each would be another image or recording to pay for);
* the parts are rendered (decoded, resized, base64) in a thread, once per item and only when a
  call is made: a cached answer costs neither a call nor a decode;
* an item whose kind the endpoint does not take (:mod:`labelloop.llm.media_caps`) fails with
  ``media_unsupported`` without a call; bytes that cannot be sent (an image that does not
  decode, audio that is not WAV or MP3) fail with ``no_input`` and the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.calls import CallRunner
from labelloop.llm.capabilities import Capabilities, MediaSupport
from labelloop.llm.chat import ChatResponse
from labelloop.llm.item import ItemLabeler, ItemOptions
from labelloop.llm.media_parts import (
    Capability,
    MediaUnreadable,
    describe,
    placeholder_parts,
    render_parts,
)
from labelloop.llm.prompts import PromptTemplates, render_messages
from labelloop.llm.types import LabelOutcome, LabelRequest, Usage

TASK_TYPE = "media_classification"
"""The prompt files' task type (``media_classification.*.md``)."""


def is_media_schema(schema: LabelSchema) -> bool:
    """A ``<Choices>`` schema on an image, audio or video object (its ``modality``): labeled
    from the task's media, with the media prompts."""
    return schema.modality != "text" and schema.task_type == "text_classification"


@dataclass(frozen=True)
class MediaOptions:
    max_side: int = 768  # LABELLOOP_LLM_IMAGE_MAX_SIDE
    max_frames: int = 4  # LABELLOOP_LLM_VIDEO_FRAMES


def off_reason(support: MediaSupport | None) -> str | None:
    """Why items of this kind are not sent (None: they are, or the check is still to come)."""
    if support is None or support.ok:
        return None
    return f"{support.kind} pre-labels are off for this LLM endpoint: {support.reason}"


class MediaItemLabeler(ItemLabeler):
    """:class:`ItemLabeler` for items whose :attr:`LabelRequest.media` is set. ``support(kind)``
    is what the endpoint's check found so far (read at each item: a refusal mid-batch turns the
    kind off for the rest)."""

    def __init__(self, runner: CallRunner, schema: LabelSchema, templates: PromptTemplates, *,
                 capabilities: Callable[[], Capabilities], options: ItemOptions,
                 media: MediaOptions,
                 on_rejected: Callable[[str], Awaitable[Capabilities | None]]) -> None:
        super().__init__(runner, schema, templates, capabilities=capabilities, options=options,
                         examples=lambda _item: [], on_rejected=on_rejected)
        self.media = media
        self._rendered: dict[int, dict[str, dict[str, Any]]] = {}

    def support(self, kind: Capability) -> MediaSupport | None:
        return self.capabilities().media_support(kind)

    def messages(self, item: LabelRequest, caps: Capabilities) -> list[dict[str, Any]]:
        if item.media is None:
            return super().messages(item, caps)
        m = self.media
        shown = describe(item.media, max_frames=m.max_frames)
        *head, user = render_messages(self.templates, self.schema, "", mode=caps.output_mode,
                                      media=shown)
        parts = placeholder_parts(item.media, max_side=m.max_side, max_frames=m.max_frames)
        return [*head, {"role": "user",
                        "content": [{"type": "text", "text": user["content"]}, *parts]}]

    async def label(self, item: LabelRequest) -> LabelOutcome:
        if item.media is None:
            return self._failed(item, "the task has no media to show the LLM", "no_input",
                                Usage())
        kind = item.media.capability
        off = off_reason(self.support(kind))
        if off is not None:
            return self._failed(item, off, "media_unsupported", Usage())
        try:
            outcome = await super().label(item)
        except MediaUnreadable as exc:
            return self._failed(item, exc.message, "no_input", Usage())
        finally:
            self._rendered.pop(id(item), None)
        off = off_reason(self.support(kind))
        if outcome.failure_kind == "rejected" and off is not None:
            # the 400 was the endpoint refusing the media (its check, run again, says so)
            return replace(outcome, failure=off, failure_kind="media_unsupported")
        return outcome

    async def _call(self, request: Any, purpose: str, item: LabelRequest,
                    spent: list[Usage]) -> ChatResponse:
        if item.media is not None and not await self.runner.has_cached(request):
            parts = self._rendered.get(id(item))
            if parts is None:
                m = self.media
                parts = await asyncio.to_thread(render_parts, item.media, max_side=m.max_side,
                                                max_frames=m.max_frames)
                self._rendered[id(item)] = parts
            request = replace(request, media=parts)
        return await super()._call(request, purpose, item, spent)
