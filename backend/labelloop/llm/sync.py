"""Synchronous helpers for the CLI and the simulator: texts (or media) in, a probability array
out."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from labelloop.errors import InvalidInput
from labelloop.labelconfig.schema import Choice, LabelSchema
from labelloop.labelconfig.spans import Span
from labelloop.llm.labeler import LLMLabeler, run_async
from labelloop.llm.types import LabelOutcome, LabelRequest
from labelloop.settings import Settings
from labelloop.storage.base import open_storage

if TYPE_CHECKING:
    from pydantic import SecretStr

    from labelloop.llm.media_parts import MediaInput


def schema_for_labels(labels: Sequence[str], *, multiple: bool = False,
                      instructions: str | None = None) -> LabelSchema:
    """A text-classification schema over ``labels`` (shown and stored as given)."""
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise InvalidInput("labels must be at least two distinct strings")
    return LabelSchema(supported=True, task_type="text_classification", from_name="label",
                       to_name="text", data_key="text",
                       choices=tuple(Choice(value=x, output=x) for x in labels),
                       multiple=multiple, instructions=instructions)


def span_schema_for_labels(labels: Sequence[str], *,
                           instructions: str | None = None) -> LabelSchema:
    """A text-spans (NER) schema over entity ``labels`` (one ``<Labels>`` on one ``<Text>``)."""
    if not labels or len(set(labels)) != len(labels):
        raise InvalidInput("span labels must be distinct strings, at least one")
    return LabelSchema(supported=True, task_type="text_spans", from_name="label",
                       to_name="text", data_key="text",
                       choices=tuple(Choice(value=x, output=x, control="label") for x in labels),
                       instructions=instructions)


def outcomes_to_array(outcomes: Sequence[LabelOutcome], labels: Sequence[str]) -> np.ndarray:
    """``(n, n_classes)`` probabilities in ``labels`` order: the distribution when known, a
    one-hot row of the answer when the confidence is unknown, NaN rows for failures."""
    out = np.full((len(outcomes), len(labels)), np.nan)
    pos = {x: j for j, x in enumerate(labels)}
    for i, o in enumerate(outcomes):
        if o.labels is None:
            continue
        if o.distribution is not None:
            out[i] = [o.distribution.get(x, 0.0) for x in labels]
        else:
            out[i] = 0.0
            for x in o.labels:
                out[i, pos[x]] = 1.0
    return out


def label_texts_sync(texts: Sequence[str], labels: Sequence[str], *, base_url: str, model: str,
                     api_key: str | None = None, concurrency: int = 8, samples: int = 5,
                     instructions: str | None = None, database_url: str | None = None,
                     settings: Settings | None = None) -> np.ndarray:
    """Label ``texts`` with one of ``labels`` each; return an ``(n, n_classes)`` array.

    Rows follow ``texts``, columns ``labels``; a failed item is a NaN row (see
    :func:`outcomes_to_array`). Responses are cached in ``database_url`` (default: a temporary
    database, dropped afterwards) so a second run over the same texts costs no calls.
    ``settings`` supplies every other LLM option (retries, prices, ...); the arguments here win.
    """
    schema = schema_for_labels(labels, instructions=instructions)
    outcomes = _label_sync(texts, schema, base_url=base_url, model=model, api_key=api_key,
                           concurrency=concurrency, samples=samples,
                           database_url=database_url, settings=settings)
    return outcomes_to_array(outcomes, labels)


def label_spans_sync(texts: Sequence[str], labels: Sequence[str], *, base_url: str, model: str,
                     api_key: str | None = None, concurrency: int = 8, samples: int = 5,
                     instructions: str | None = None, database_url: str | None = None,
                     settings: Settings | None = None) -> list[tuple[Span, ...] | None]:
    """:func:`label_texts_sync` for entities: each text's spans of ``labels``, located in the
    text by labelloop and valid on it (None: the item failed)."""
    schema = span_schema_for_labels(labels, instructions=instructions)
    outcomes = _label_sync(texts, schema, base_url=base_url, model=model, api_key=api_key,
                           concurrency=concurrency, samples=samples,
                           database_url=database_url, settings=settings)
    return [None if o.spans is None else tuple(sorted(o.span_list)) for o in outcomes]


def label_media_sync(media: Iterable[MediaInput], labels: Sequence[str], *,
                     modality: Literal["image", "audio", "video"], base_url: str, model: str,
                     api_key: str | None = None, concurrency: int = 8, samples: int = 5,
                     chunk: int = 64, database_url: str | None = None,
                     settings: Settings | None = None) -> np.ndarray:
    """:func:`label_texts_sync` for images, audio or video frames: one item per
    :class:`~labelloop.llm.media_parts.MediaInput`, labeled through the media path (content
    parts, the endpoint's capability check) ``chunk`` at a time, so that only a chunk's bytes
    are held while ``media`` is read lazily."""
    schema = replace(schema_for_labels(labels), modality=modality, to_name=modality,
                     data_key=modality)
    stream = (LabelRequest(task_id=i, text="", media=m) for i, m in enumerate(media))
    outcomes = _label_sync(stream, schema, base_url=base_url, model=model, api_key=api_key,
                           concurrency=concurrency, samples=samples, chunk=chunk,
                           database_url=database_url, settings=settings)
    return outcomes_to_array(outcomes, labels)


def _label_sync(texts: Sequence[str] | Iterable[LabelRequest], schema: LabelSchema, *,
                base_url: str, model: str, api_key: str | None, concurrency: int, samples: int,
                database_url: str | None, settings: Settings | None,
                chunk: int | None = None) -> list[LabelOutcome]:
    base = settings or Settings(_env_file=None)  # type: ignore[call-arg]
    run_settings = base.model_copy(update={
        "openai_base_url": base_url.rstrip("/"), "llm_model": model,
        "openai_api_key": api_key if api_key is None else _secret(api_key),
        "llm_azure_endpoint": None, "llm_concurrency": concurrency, "llm_samples": samples})
    items = (t if isinstance(t, LabelRequest) else LabelRequest(task_id=i, text=str(t))
             for i, t in enumerate(texts))
    out: list[LabelOutcome] = []
    with tempfile.TemporaryDirectory(prefix="labelloop-llm-") as tmp:
        storage = open_storage(database_url or f"sqlite:///{Path(tmp) / 'llm.db'}")
        try:
            labeler = LLMLabeler(run_settings, storage)
            while part := list(islice(items, chunk)):
                out += run_async(labeler.label_many(schema, part))
            return out
        finally:
            storage.close()


def _secret(value: str) -> SecretStr:
    from pydantic import SecretStr

    return SecretStr(value)
