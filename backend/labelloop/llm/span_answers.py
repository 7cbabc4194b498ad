"""Asking for entities, and reading the answer back strictly.

The answer is ``{"entities": [{"text": <mention>, "label": <label>}, ...]}`` with ``label`` an
enum of the label values the LLM is shown: the JSON schema of ``response_format`` (structured
output) and of a forced tool call; in plain-text mode the prompt asks for the same JSON. The
LLM never gives offsets: labelloop finds each mention in the text
(:func:`labelloop.llm.span_locate.locate_entities`).

Reading: JSON that cannot be read, or is not that shape, is an
:class:`~labelloop.llm.answers.InvalidAnswer` (the item is retried once, then fails). A
well-formed answer is valid even when some of its entities are not usable: an entity whose label
is not one of the config's is *dropped* with the reason ``unknown_label``; one that is not
an object with a text and a label, with ``malformed_entity``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.answers import InvalidAnswer, LabelSet
from labelloop.llm.chat import ChatRequest
from labelloop.llm.prompts import estimate_tokens
from labelloop.llm.types import DroppedEntity, OutputMode

SPAN_TOOL_NAME = "record_entities"
MAX_ANSWER_TOKENS = 4096


@dataclass(frozen=True)
class Entity:
    """One entity of an answer: the mention as the LLM wrote it, the output label it maps to,
    and its position in the answer's list (which ``"label"`` of the JSON it is)."""

    text: str
    label: str
    position: int


@dataclass(frozen=True)
class ParsedEntities:
    entities: tuple[Entity, ...]
    dropped: tuple[DroppedEntity, ...]
    count: int  # entities in the answer, usable or not (one ``"label"`` key each)


def answer_schema(schema: LabelSchema) -> dict[str, Any]:
    values = [c.value for c in schema.choices]
    entity = {"type": "object",
              "properties": {"text": {"type": "string"},
                             "label": {"type": "string", "enum": values}},
              "required": ["text", "label"], "additionalProperties": False}
    return {"type": "object", "properties": {"entities": {"type": "array", "items": entity}},
            "required": ["entities"], "additionalProperties": False}


def response_format(schema: LabelSchema) -> dict[str, Any]:
    return {"type": "json_schema",
            "json_schema": {"name": "entities", "strict": True, "schema": answer_schema(schema)}}


def tool_spec(schema: LabelSchema) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    tool = {"type": "function", "function": {
        "name": SPAN_TOOL_NAME,
        "description": "Record the entities found in the text, each with its label.",
        "parameters": answer_schema(schema), "strict": True}}
    return [tool], {"type": "function", "function": {"name": SPAN_TOOL_NAME}}


def max_answer_tokens(schema: LabelSchema, text: str) -> int:
    """A generous cap: every word of the text an entity, with its JSON and longest label."""
    label = max(estimate_tokens(c.value) for c in schema.choices)
    words = max(1, len(text.split()))
    per_entity = 10 + label
    return min(MAX_ANSWER_TOKENS, 32 + estimate_tokens(text) + min(words, 200) * per_entity)


def build_span_request(schema: LabelSchema, messages: list[dict[str, Any]], *, text: str,
                       mode: OutputMode, temperature: float = 0.0, logprobs: bool = False,
                       top_logprobs: int = 10, n: int = 1,
                       seed: int | None = None) -> ChatRequest:
    tools, tool_choice = tool_spec(schema) if mode == "tools" else (None, None)
    return ChatRequest(
        messages=messages, temperature=temperature, max_tokens=max_answer_tokens(schema, text),
        response_format=response_format(schema) if mode == "json_schema" else None,
        tools=tools, tool_choice=tool_choice, logprobs=logprobs,
        top_logprobs=top_logprobs if logprobs else None, n=n, seed=seed)


def _load(raw: str) -> Any:
    text = raw.strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, flags=re.DOTALL)
    if fence:
        text = fence.group(1)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    first, last = text.find("{"), text.rfind("}")
    if 0 <= first < last:  # JSON with prose around it (plain-text mode)
        try:
            return json.loads(text[first:last + 1])
        except json.JSONDecodeError:
            pass
    raise InvalidAnswer(f"malformed JSON: {raw[:100]!r}")


def parse_entities(raw: str | None, schema: LabelSchema) -> ParsedEntities:
    """The entities of a raw answer (content, or tool arguments), labels mapped to outputs."""
    if raw is None or not raw.strip():
        raise InvalidAnswer("empty answer")
    data = _load(raw)
    items = data.get("entities") if isinstance(data, dict) else data
    if isinstance(data, dict) and items is None and len(data) == 1:
        items = next(iter(data.values()))
    if not isinstance(items, list):
        raise InvalidAnswer(f"expected a list under 'entities': {raw[:100]!r}")
    labelset = LabelSet.of(schema)
    kept: list[Entity] = []
    dropped: list[DroppedEntity] = []
    for position, item in enumerate(items):
        said_text = item.get("text") if isinstance(item, dict) else None
        said_label = item.get("label") if isinstance(item, dict) else None
        if not isinstance(said_text, str) or not isinstance(said_label, str):
            dropped.append(DroppedEntity(str(said_text or "")[:200], str(said_label or "")[:100],
                                         "malformed_entity"))
            continue
        try:
            output = labelset.output_of(said_label)
        except InvalidAnswer:
            dropped.append(DroppedEntity(said_text[:200], said_label[:100], "unknown_label"))
            continue
        kept.append(Entity(said_text, output, position))
    return ParsedEntities(tuple(kept), tuple(dropped), len(items))
