"""Prompt files: loading, checking, rendering, hashing.

Each task type has three files: ``<task_type>.system.md`` (the label set and the rules),
``<task_type>.task.md`` (few-shot examples and the text), ``<task_type>.retry.md`` (sent once
after an answer outside the label set). The defaults ship as package data in
``labelloop/prompts/``; ``Settings.llm_prompts_dir`` names a folder whose files replace them one
by one (the repository's top-level ``prompts/`` is a copy to start from).

Files are :class:`string.Template` texts. Placeholders (``$name`` or ``${name}``):

* ``$labels``: one line per label, ``- value`` or ``- value: hint``
* ``$label_names``: the labels, comma-separated
* ``$choice_rule``: "Choose exactly one label." or the multiple-choice rule
* ``$instructions``: the project's instructions (Label Studio's ``expert_instruction``), or ""
* ``$answer_format``: how to answer, which depends on the endpoint's output mode
* ``$examples``: the few-shot examples block, or ""
* ``$text``: the text to label (required in the task file)
* ``$answer``: the rejected answer (retry file only)
* ``$media``: what an image, audio or video task shows ("image", "audio recording", "video,
  shown as 4 frames in order"); the media follow the task file's text in the user message

The hash of the three templates is part of the model version: editing a prompt makes a new
version, so Label Studio re-predicts.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.errors import PromptError
from labelloop.llm.media_parts import part_tokens
from labelloop.llm.types import OutputMode

PARTS = ("system", "task", "retry")
PLACEHOLDERS = frozenset({"labels", "label_names", "choice_rule", "instructions",
                          "answer_format", "examples", "text", "answer", "media"})
TOOL_NAME = "record_label"


@dataclass(frozen=True)
class PromptTemplates:
    task_type: str
    system: str
    task: str
    retry: str
    sources: tuple[str, ...]  # where each part came from, for messages

    @property
    def hash(self) -> str:
        raw = f"{self.task_type}\0{self.system}\0{self.task}\0{self.retry}"
        return hashlib.sha256(raw.encode()).hexdigest()[:12]


def _identifiers(template: str) -> set[str]:
    found: set[str] = set()
    for m in Template.pattern.finditer(template):
        name = m.group("named") or m.group("braced")
        if name:
            found.add(name)
        elif m.group("invalid") is not None:
            raise PromptError(f"a '$' not followed by a name at offset {m.start()} (write $$)")
    return found


def _default_text(name: str) -> str:
    return (resources.files("labelloop") / "prompts" / name).read_text(encoding="utf-8")


def load_prompts(task_type: str = "text_classification", *,
                 override_dir: Path | None = None,
                 required: str | None = "text") -> PromptTemplates:
    """The prompt templates of ``task_type``: files in ``override_dir`` win over the defaults.
    ``required``: the placeholder the task file must use (None: none; media prompts show the
    media as parts after the text)."""
    texts: dict[str, str] = {}
    sources: list[str] = []
    if override_dir is not None and not Path(override_dir).is_dir():
        raise PromptError(f"the prompt folder {override_dir} does not exist")
    for part in PARTS:
        name = f"{task_type}.{part}.md"
        path = Path(override_dir) / name if override_dir is not None else None
        try:
            if path is not None and path.is_file():
                texts[part], source = path.read_text(encoding="utf-8"), str(path)
            else:
                texts[part], source = _default_text(name), f"package:{name}"
        except (OSError, UnicodeDecodeError) as exc:
            raise PromptError(f"cannot read prompt {name}: {exc}") from exc
        unknown = _identifiers(texts[part]) - PLACEHOLDERS
        if unknown:
            raise PromptError(f"{source} uses unknown placeholders {sorted(unknown)}; "
                              f"known: {sorted(PLACEHOLDERS)}")
        sources.append(source)
    if required is not None and required not in _identifiers(texts["task"]):
        raise PromptError(f"{sources[1]} must contain ${required}")
    return PromptTemplates(task_type, texts["system"], texts["task"], texts["retry"],
                           tuple(sources))


def clean_instructions(instructions: str | None) -> str:
    """Label Studio's instructions are HTML: keep the text."""
    if not instructions:
        return ""
    text = re.sub(r"(?i)<(br|/p|/div|/li|/h[1-6]|/tr)\b[^>]*>", "\n", instructions)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r"\n\s*\n+", "\n", text).strip()


def answer_format(schema: LabelSchema, mode: OutputMode) -> str:
    if mode == "json_schema":
        shape = '{"labels": ["<label>", ...]}' if schema.multiple else '{"label": "<label>"}'
        return f"Answer with JSON only: {shape}"
    if mode == "tools":
        return f"Answer by calling the function {TOOL_NAME}."
    if schema.multiple:
        return ("Answer with the labels only, exactly as written above, separated by commas, "
                "and nothing else.")
    return "Answer with the label only, exactly as written above, and nothing else."


def _variables(schema: LabelSchema, mode: OutputMode) -> dict[str, str]:
    lines = [f"- {c.value}: {c.hint}" if c.hint else f"- {c.value}" for c in schema.choices]
    instructions = clean_instructions(schema.instructions)
    return {
        "labels": "\n".join(lines),
        "label_names": ", ".join(c.value for c in schema.choices),
        "choice_rule": ("Choose every label that applies (at least one)." if schema.multiple
                        else "Choose exactly one label."),
        "instructions": f"\nInstructions from the project:\n{instructions}\n" if instructions
        else "",
        "answer_format": answer_format(schema, mode),
        "examples": "", "text": "", "answer": "", "media": "",
    }


def render_examples(examples: list[tuple[str, list[str]]]) -> str:
    """Few-shot examples as (text, label values) pairs, as a block for ``$examples``."""
    if not examples:
        return ""
    blocks = [f"<example>\n<text>\n{text}\n</text>\nLabel: {', '.join(labels)}\n</example>"
              for text, labels in examples]
    return "Examples labeled by people:\n\n" + "\n\n".join(blocks) + "\n"


def render_messages(templates: PromptTemplates, schema: LabelSchema, text: str, *,
                    mode: OutputMode, examples: list[tuple[str, list[str]]] | None = None,
                    media: str = "") -> list[dict[str, str]]:
    """The chat messages for labeling ``text`` (``media``: what ``$media`` says)."""
    v = _variables(schema, mode)
    v["examples"] = render_examples(examples or [])
    v["text"] = text
    v["media"] = media
    system = Template(templates.system).safe_substitute(v).strip()
    user = Template(templates.task).safe_substitute(v).strip()
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def render_retry(templates: PromptTemplates, schema: LabelSchema, answer: str, *,
                 mode: OutputMode) -> str:
    """The user message sent after an answer outside the label set."""
    v = _variables(schema, mode)
    shown = answer.strip().replace("\n", " ")
    v["answer"] = shown if len(shown) <= 200 else shown[:200] + "…"
    return Template(templates.retry).safe_substitute(v).strip()


def estimate_tokens(messages: list[dict[str, Any]] | str) -> int:
    """A rough token count (4 characters a token, 4 tokens of overhead a message; media
    parts: :func:`~labelloop.llm.media_parts.part_tokens`, not their base64's length)."""
    if isinstance(messages, str):
        return max(1, (len(messages) + 3) // 4)
    media = 0
    if any(isinstance(m.get("content"), list) for m in messages):
        kept = []
        for m in messages:
            content = m.get("content")
            if isinstance(content, list):
                counts = [part_tokens(p) for p in content]
                media += sum(c for c in counts if c is not None)
                m = {**m, "content": [p for p, c in zip(content, counts) if c is None]}
            kept.append(m)
        messages = kept
    raw = json.dumps(messages, ensure_ascii=False)
    return max(1, (len(raw) + 3) // 4) + 4 * len(messages) + media
