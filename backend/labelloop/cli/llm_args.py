"""Shared bits of the LLM commands (``label``, ``estimate``): flags, task files, the schema."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelloop.cli.common import add_data_dir, settings_from
from labelloop.errors import InvalidInput
from labelloop.labelconfig.schema import LabelSchema, parse_label_config
from labelloop.settings import Settings

if TYPE_CHECKING:
    from labelloop.llm.fewshot import ExamplePool


def add_llm_args(p: argparse.ArgumentParser) -> None:
    add_data_dir(p)
    p.add_argument("--model", help="LLM model (default LABELLOOP_LLM_MODEL)")
    p.add_argument("--base-url", help="OpenAI-compatible base URL (default OPENAI_BASE_URL)")
    p.add_argument("--samples", type=int, help="self-consistency samples when the endpoint "
                                               "gives no logprobs (default 5)")
    p.add_argument("--few-shot-k", type=int, help="few-shot examples per text (default 8)")
    p.add_argument("--examples", type=Path,
                   help="human-labeled tasks (Label Studio export, JSON or JSONL) to draw "
                        "few-shot examples from")
    p.add_argument("--instructions", help="labeling instructions for the prompt "
                                          "(text, or @file)")


def llm_settings(args: argparse.Namespace, **extra: Any) -> Settings:
    """The environment's settings with the LLM flags that were given on top (the API key only
    ever comes from the environment)."""
    return settings_from(args, llm_model=args.model, openai_base_url=args.base_url,
                         llm_samples=args.samples, llm_few_shot_k=args.few_shot_k, **extra)


def read_tasks(path: Path) -> list[dict[str, Any]]:
    """Tasks from a JSON array (Label Studio export) or JSON lines. A line may be a task
    (``{"id": …, "data": {…}}``) or just its data; tasks without an id get their 1-based
    position."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
    try:
        stripped = raw.lstrip()
        rows = json.loads(raw) if stripped.startswith("[") else [
            json.loads(line) for line in raw.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path} is not JSON or JSON lines: {exc}") from exc
    tasks = []
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise InvalidInput(f"{path}: item {i} is not an object")
        task = dict(row) if isinstance(row.get("data"), dict) else {"data": row}
        task.setdefault("id", i)
        tasks.append(task)
    return tasks


def read_schema(config: Path, instructions: str | None) -> LabelSchema:
    try:
        xml = config.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {config}: {exc}") from exc
    schema = parse_label_config(xml, instructions=read_instructions(instructions))
    if not schema.supported:
        raise InvalidInput(f"{config}: {schema.reason}")
    return schema


def read_instructions(value: str | None) -> str | None:
    if value and value.startswith("@"):
        try:
            return Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot read instructions {value[1:]}: {exc}") from exc
    return value


def file_pool(path: Path | None, schema: LabelSchema) -> ExamplePool | None:
    """An ExamplePool from a file of annotated tasks (None without a file)."""
    from labelloop.labelconfig.kinds import Unusable, read_label, task_text
    from labelloop.llm.fewshot import ExamplePool

    if path is None:
        return None
    if schema.task_type == "text_spans":
        from labelloop.llm.span_pool import span_file_pool

        return span_file_pool(read_tasks(path), schema)
    texts, labels = [], []
    for task in read_tasks(path):
        anns = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        label = read_label(schema, anns[-1].get("result"), text=None) if anns else None
        text = task_text(schema, task.get("data"))
        if label and not isinstance(label, Unusable) and text:
            texts.append(text)
            labels.append([str(c) for c in label])
    return ExamplePool(texts, labels, schema.labels)
