"""``labelloop estimate``: projected tokens and cost of LLM pre-labeling, before any call."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from labelloop.cli.llm_args import add_llm_args, file_pool, llm_settings, read_schema, read_tasks

if TYPE_CHECKING:
    from labelloop.labelconfig.schema import LabelSchema
    from labelloop.llm.fewshot import ExamplePool
    from labelloop.settings import Settings
    from labelloop.storage.base import Storage


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "estimate", help="projected LLM tokens and cost (no call is made)",
        description="Render the prompts for a tasks file (or a stored project's unlabeled "
                    "tasks) and print projected calls, tokens and cost for each confidence "
                    "method. Tasks whose answer is already cached are counted as free.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="tasks, JSON array or JSON lines (with --config)")
    src.add_argument("--project", type=int, help="a project stored in labelloop's database")
    p.add_argument("--config", type=Path, help="Label Studio labeling config XML (with --data)")
    add_llm_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from labelloop.labelconfig.results import task_text
    from labelloop.llm import LabelRequest, LLMLabeler
    from labelloop.llm.capabilities import Capabilities
    from labelloop.llm.estimate import estimate
    from labelloop.storage.base import open_storage

    settings = llm_settings(args)
    if not settings.llm_model:
        print("error: no model: pass --model or set LABELLOOP_LLM_MODEL", file=sys.stderr)
        return 2
    if args.data is not None and args.config is None:
        print("error: --data needs --config", file=sys.stderr)
        return 2
    storage = open_storage(settings.resolved_database_url)
    try:
        if args.project is not None:
            schema, texts, pool = _project(storage, args.project, settings)
        else:
            schema = read_schema(args.config, args.instructions)
            texts = [x for x in (task_text(schema, t.get("data")) for t in read_tasks(args.data))
                     if x]
            pool = file_pool(args.examples, schema)
        labeler = LLMLabeler(settings, storage)
        with storage.read() as tx:
            record = tx.get_llm_endpoint(labeler.config.endpoint, labeler.config.model)
        caps = Capabilities.from_json(record.capabilities) if record and record.capabilities \
            else None
        cached = labeler.cached_items(schema, [LabelRequest(i, t) for i, t in enumerate(texts)],
                                      examples=pool)
        todo = [t for i, t in enumerate(texts) if i not in cached]
    finally:
        storage.close()
    scenarios = estimate(schema, todo, templates=labeler.templates_for(schema),
                         price=labeler.price,
                         samples=settings.llm_samples, k=settings.llm_few_shot_k,
                         seed=settings.llm_seed, examples=pool, capabilities=caps,
                         mode=caps.output_mode if caps else "json_schema")
    print(f"model {settings.llm_model} at {labeler.config.endpoint} "
          f"({labeler.version_for(schema)})")
    print(f"tasks with text: {len(texts)}  already cached: {len(texts) - len(todo)}  to label: {len(todo)}")
    if caps is None:
        print("endpoint capabilities not detected yet: which scenario applies is unknown")
    if labeler.price is None:
        print(f"no price for {settings.llm_model}: set LABELLOOP_LLM_PRICES to get a cost")
    print(f"{'scenario':44s} {'calls':>8s} {'prompt tok':>12s} {'output tok':>11s} {'cost':>10s}")
    for s in scenarios:
        cost = f"${s.cost_usd:.4f}" if s.cost_usd is not None else "-"
        mark = " <- this endpoint" if s.applies else ""
        print(f"{s.name:44s} {s.calls:8d} {s.prompt_tokens:12d} {s.completion_tokens:11d} "
              f"{cost:>10s}{mark}")
    return 0


def _project(storage: Storage, project_id: int,
             settings: Settings) -> tuple[LabelSchema, list[str], ExamplePool | None]:
    from labelloop.errors import UnknownProject, UnsupportedConfig
    from labelloop.labelconfig.results import task_text
    from labelloop.labelconfig.schema import LabelSchema, parse_label_config
    from labelloop.llm.pool import example_pool

    with storage.read() as tx:
        project = tx.get_project(project_id)
        if project is None:
            raise UnknownProject(f"project {project_id} is not in labelloop's database")
        schema = LabelSchema.from_json(project.schema) if project.schema else \
            parse_label_config(project.label_config or "")
        labeled = {a.task_id for a in tx.get_annotations(project_id)}
        texts = [x for x in (task_text(schema, t.data) for t in tx.get_tasks(project_id)
                             if t.id not in labeled) if x]
        pool = example_pool(tx, project_id, schema) if schema.supported else None
    if not schema.supported:
        raise UnsupportedConfig(f"project {project_id}: {schema.reason}")
    return schema, texts, pool
