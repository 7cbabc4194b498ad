"""LLM pre-annotation: label texts (and images, audio, video frames: see
:mod:`labelloop.llm.media_requests`) with an OpenAI-compatible LLM, constrained to the label set,
with a label distribution per answer, few-shot examples from human labels, a response cache,
retries, rate limits, a circuit breaker, and cost accounting.

Entry points: :class:`~labelloop.llm.labeler.LLMLabeler` (service and jobs),
:func:`~labelloop.llm.results.to_prediction_result` (outcome → Label Studio result),
:func:`~labelloop.llm.sync.label_texts_sync` (texts → probability array, for the simulator) and
:func:`~labelloop.llm.sync.label_spans_sync` (texts → located span sets).
"""

from typing import TYPE_CHECKING

from labelloop.lazy import lazy_exports

if TYPE_CHECKING:  # the names, for type checkers; imported on first use otherwise
    from labelloop.llm.fewshot import ExamplePool, select_examples
    from labelloop.llm.labeler import LLMLabeler
    from labelloop.llm.media_parts import MediaInput
    from labelloop.llm.media_requests import media_label_requests, media_prelabels_off
    from labelloop.llm.results import to_prediction_result
    from labelloop.llm.status import LLMStatus
    from labelloop.llm.sync import (
        label_spans_sync,
        label_texts_sync,
        outcomes_to_array,
        schema_for_labels,
    )
    from labelloop.llm.types import LabelOutcome, LabelRequest, Usage

__all__ = [
    "ExamplePool", "LLMLabeler", "LLMStatus", "LabelOutcome", "LabelRequest", "MediaInput",
    "Usage", "label_spans_sync", "label_texts_sync", "media_label_requests",
    "media_prelabels_off", "outcomes_to_array", "schema_for_labels", "select_examples",
    "to_prediction_result",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    "labelloop.llm.fewshot": ("ExamplePool", "select_examples"),
    "labelloop.llm.labeler": ("LLMLabeler",),
    "labelloop.llm.media_parts": ("MediaInput",),
    "labelloop.llm.media_requests": ("media_label_requests", "media_prelabels_off"),
    "labelloop.llm.status": ("LLMStatus",),
    "labelloop.llm.results": ("to_prediction_result",),
    "labelloop.llm.sync": (
        "label_spans_sync", "label_texts_sync", "outcomes_to_array", "schema_for_labels"),
    "labelloop.llm.types": ("LabelOutcome", "LabelRequest", "Usage"),
})
