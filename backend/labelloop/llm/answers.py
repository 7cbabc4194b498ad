"""Constraining the answer to the label set, and reading it back strictly.

The JSON schema's label field is an enum of the label values the LLM is shown (an array of the
enum for multiple choice). The same schema is used for ``response_format`` (structured output)
and as the parameters of a forced tool call. In plain-text mode the answer is matched against the
label set as a whole string (case and surrounding quotes/whitespace/final period ignored); an
answer that is not a label is an :class:`InvalidAnswer`, never a guess.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.chat import ChatRequest
from labelloop.llm.prompts import TOOL_NAME
from labelloop.llm.types import OutputMode


class InvalidAnswer(ValueError):
    """The model's answer is not a label of the set (or not parseable)."""


def field_name(schema: LabelSchema) -> str:
    return "labels" if schema.multiple else "label"


def answer_schema(schema: LabelSchema) -> dict[str, Any]:
    values = [c.value for c in schema.choices]
    enum: dict[str, Any] = {"type": "string", "enum": values}
    prop = {"type": "array", "items": enum} if schema.multiple else enum
    return {"type": "object", "properties": {field_name(schema): prop},
            "required": [field_name(schema)], "additionalProperties": False}


def response_format(schema: LabelSchema) -> dict[str, Any]:
    return {"type": "json_schema",
            "json_schema": {"name": "label", "strict": True, "schema": answer_schema(schema)}}


def tool_spec(schema: LabelSchema) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``tools`` and ``tool_choice`` forcing one call whose arguments follow the schema."""
    tool = {"type": "function", "function": {
        "name": TOOL_NAME, "description": "Record the label(s) chosen for the text.",
        "parameters": answer_schema(schema), "strict": True}}
    return [tool], {"type": "function", "function": {"name": TOOL_NAME}}


@dataclass(frozen=True)
class LabelSet:
    """Maps what the model may say (values, and outputs/aliases) to output labels."""

    values: tuple[str, ...]
    outputs: tuple[str, ...]

    @classmethod
    def of(cls, schema: LabelSchema) -> LabelSet:
        return cls(tuple(c.value for c in schema.choices), tuple(c.output for c in schema.choices))

    def output_of(self, said: str) -> str:
        """The output label for one label the model gave; InvalidAnswer when there is none."""
        for values in (self.values, self.outputs):
            if said in values:
                return self.outputs[values.index(said)]
        key = _normalise(said)
        matches = {self.outputs[i] for i, v in enumerate(self.values) if _normalise(v) == key}
        matches |= {o for o in self.outputs if _normalise(o) == key}
        if len(matches) == 1:
            return matches.pop()
        raise InvalidAnswer(f"{said[:100]!r} is not a label")


def _normalise(s: str) -> str:
    """Case, surrounding whitespace, quotes, emphasis and a final period do not count."""
    previous = None
    while previous != s:
        previous, s = s, s.strip().strip("\"'`*").rstrip(".")
    return s.casefold()


def _dedupe(labels: list[str]) -> list[str]:
    seen: list[str] = []
    for x in labels:
        if x not in seen:
            seen.append(x)
    return seen


def parse_answer(raw: str | None, schema: LabelSchema, mode: OutputMode) -> list[str]:
    """Output labels from a raw answer (content, or tool arguments in tools mode)."""
    if raw is None or not raw.strip():
        raise InvalidAnswer("empty answer")
    labelset = LabelSet.of(schema)
    if mode in ("json_schema", "tools"):
        said = _from_json(raw, schema)
    elif schema.multiple:
        said = [p for p in re.split(r"[,\n;]", raw) if p.strip()]
    else:
        said = [raw]
    labels = _dedupe([labelset.output_of(s) for s in said])
    if not labels:
        raise InvalidAnswer("no label chosen")
    if not schema.multiple and len(labels) != 1:
        raise InvalidAnswer(f"{len(labels)} labels in a single-choice answer")
    return labels


def _from_json(raw: str, schema: LabelSchema) -> list[str]:
    text = raw.strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, flags=re.DOTALL)
    if fence:
        text = fence.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        # Some servers accept response_format and ignore it: a bare label is still strict.
        if text.startswith(("{", "[")):
            raise InvalidAnswer(f"malformed JSON: {raw[:100]!r}") from None
        return [text] if not schema.multiple else [p for p in text.split(",") if p.strip()]
    key = field_name(schema)
    value = data.get(key) if isinstance(data, dict) else None
    if value is None and isinstance(data, dict) and len(data) == 1:
        value = next(iter(data.values()))
    if schema.multiple and isinstance(value, str):
        value = [value]
    if schema.multiple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidAnswer(f"expected a list of labels under {key!r}: {raw[:100]!r}")
        return value
    if not isinstance(value, str):
        raise InvalidAnswer(f"expected a label under {key!r}: {raw[:100]!r}")
    return [value]


def max_answer_tokens(schema: LabelSchema) -> int:
    """A generous cap on the answer's length (JSON overhead plus the label text)."""
    sizes = [len(c.value) // 2 + 2 for c in schema.choices]
    return 24 + (sum(sizes) if schema.multiple else max(sizes))


def build_request(schema: LabelSchema, messages: list[dict[str, Any]], *, mode: OutputMode,
                  temperature: float = 0.0, logprobs: bool = False, top_logprobs: int = 10,
                  n: int = 1, seed: int | None = None) -> ChatRequest:
    """The chat request for ``messages`` in output ``mode``."""
    tools, tool_choice = tool_spec(schema) if mode == "tools" else (None, None)
    return ChatRequest(
        messages=messages, temperature=temperature, max_tokens=max_answer_tokens(schema),
        response_format=response_format(schema) if mode == "json_schema" else None,
        tools=tools, tool_choice=tool_choice, logprobs=logprobs,
        top_logprobs=top_logprobs if logprobs else None, n=n, seed=seed)


def raw_answer(choice: dict[str, Any], mode: OutputMode) -> tuple[str | None, OutputMode]:
    """The text to parse from one response choice, and the mode to parse it in (a model asked
    for a tool call that answered in text is read as text, strictly)."""
    if mode == "tools":
        if choice.get("tool_arguments") is not None:
            return choice["tool_arguments"], "tools"
        return choice.get("content"), "json_schema"
    return choice.get("content"), mode
