"""Rendering the span prompts (``span_extraction.{system,task,retry}.md``).

The placeholders are those of :mod:`labelloop.llm.prompts`, with span meanings:

* ``$labels`` / ``$label_names``: the label values of every ``<Labels>`` served (with hints);
* ``$choice_rule``: how to list entities (every mention, copied as written, in reading order,
  once per occurrence; for ``choice="multiple"`` once per label);
* ``$answer_format``: the entities JSON (structured output and plain-text mode), or the tool;
* ``$examples``: texts annotated by people, each with its entities as the answer JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from string import Template

from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.prompts import PromptTemplates, _variables
from labelloop.llm.span_answers import SPAN_TOOL_NAME
from labelloop.llm.types import OutputMode

TASK_TYPE = "span_extraction"
SpanExample = tuple[str, list[tuple[str, str]]]  # text, its (mention, label value) pairs


def span_answer_format(mode: OutputMode) -> str:
    if mode == "tools":
        return f"Answer by calling the function {SPAN_TOOL_NAME}."
    return ('Answer with JSON only: {"entities": [{"text": "<the mention, copied exactly from '
            'the text>", "label": "<label>"}, ...]}')


def span_rule(schema: LabelSchema) -> str:
    rule = ("List every mention in the text that one of the labels applies to, in reading "
            "order, each with its label. Copy each mention exactly as it is written in the text "
            "(same case, spelling and punctuation, no words around it), and list it again each "
            "time it occurs. If no label applies anywhere, answer with an empty list.")
    if schema.multiple:
        rule += " A mention may take several labels: list it once per label."
    return rule


def answer_json(entities: Sequence[tuple[str, str]]) -> str:
    """An entities answer as the LLM is asked to write it (few-shot examples)."""
    return json.dumps({"entities": [{"text": t, "label": label} for t, label in entities]},
                      ensure_ascii=False)


def render_span_examples(examples: Sequence[SpanExample]) -> str:
    if not examples:
        return ""
    blocks = [f"<example>\n<text>\n{text}\n</text>\nAnswer: {answer_json(entities)}\n</example>"
              for text, entities in examples]
    return "Examples annotated by people:\n\n" + "\n\n".join(blocks) + "\n"


def _span_variables(schema: LabelSchema, mode: OutputMode) -> dict[str, str]:
    v = _variables(schema, mode)
    v["choice_rule"] = span_rule(schema)
    v["answer_format"] = span_answer_format(mode)
    return v


def render_span_messages(templates: PromptTemplates, schema: LabelSchema, text: str, *,
                         mode: OutputMode,
                         examples: Sequence[SpanExample] = ()) -> list[dict[str, str]]:
    v = _span_variables(schema, mode)
    v["examples"] = render_span_examples(examples)
    v["text"] = text
    system = Template(templates.system).safe_substitute(v).strip()
    user = Template(templates.task).safe_substitute(v).strip()
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def render_span_retry(templates: PromptTemplates, schema: LabelSchema, answer: str, *,
                      mode: OutputMode) -> str:
    v = _span_variables(schema, mode)
    shown = answer.strip().replace("\n", " ")
    v["answer"] = shown if len(shown) <= 200 else shown[:200] + "…"
    return Template(templates.retry).safe_substitute(v).strip()
