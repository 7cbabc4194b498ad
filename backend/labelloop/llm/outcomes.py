"""Helpers of the labeler: which schemas it labels, the stored form of an outcome, the outcome
of an item the endpoint could not be asked for, and running a coroutine from sync code."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from labelloop.errors import UnsupportedConfig
from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.errors import LLMError, LLMRejected, LLMUnavailable
from labelloop.llm.span_store import spans_json
from labelloop.llm.types import FailureKind, LabelOutcome, LabelRequest
from labelloop.storage.records_llm import LlmLabel

T = TypeVar("T")

NOT_STORED = frozenset({"paused", "over_budget", "no_input", "request_failed",
                        "media_unsupported"})
"""Failure kinds that say nothing about the task: storing them would mark it done."""


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` in a new event loop (uvloop when installed: it roughly halves the client's
    CPU time per call, which bounds throughput at high concurrency)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def label_row(project_id: int, o: LabelOutcome, version: str) -> LlmLabel:
    """The stored LLM label of an outcome (spans and dropped entities in ``spans``)."""
    return LlmLabel(project_id=project_id, task_id=o.task_id, model_version=version,
                    labels=o.labels, distribution=o.distribution, confidence=o.confidence,
                    confidence_method=o.confidence_method, failure=o.failure,
                    usage=o.usage.to_json(), spans=spans_json(o))


def check_schema(schema: LabelSchema) -> None:
    """:class:`UnsupportedConfig` unless the LLM labels this schema: classification (of a
    text, or of an image, audio or video: its ``modality``) or text spans."""
    if not schema.supported or schema.task_type not in ("text_classification", "text_spans"):
        raise UnsupportedConfig(f"the LLM labels classification and text spans only: "
                                f"{schema.reason or schema.task_type}")


def failed_all(item: LabelRequest, exc: LLMError) -> LabelOutcome:
    kind: FailureKind
    if isinstance(exc, LLMUnavailable):
        kind = "over_budget" if exc.kind == "over_budget" else "paused"
    else:
        kind = "rejected" if isinstance(exc, LLMRejected) else "request_failed"
    return LabelOutcome(item.task_id, None, None, None, "unknown",
                        failure=f"LLM endpoint unusable: {exc.message}", failure_kind=kind)
