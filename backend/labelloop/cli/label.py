"""``labelloop label``: pre-label a file of tasks with the LLM, offline from Label Studio.

Writes one JSON line per task: the task with a ``predictions`` list (Label Studio's import
format; empty when the LLM gave no valid label) and an ``llm`` object with the distribution,
confidence method, failure reason and usage (for a span config, ``spans`` with their scores and
the entities ``dropped``, with the reason). Responses are cached in labelloop's database, so
an interrupted run is resumed by running it again: finished tasks cost no calls.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from labelloop.cli.llm_args import add_llm_args, file_pool, llm_settings, read_schema, read_tasks
from labelloop.llm.types import LabelOutcome

if TYPE_CHECKING:
    from tqdm import tqdm

    from labelloop.labelconfig.schema import LabelSchema
    from labelloop.llm.types import Usage


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "label", help="pre-label a tasks file with the LLM (offline, resumable)",
        description="Label every task of a JSON/JSONL file with the configured LLM and write "
                    "the tasks with predictions as JSON lines. Re-running resumes from the "
                    "response cache. Exit code 1 when tasks failed for reasons a re-run may "
                    "fix (errors, pause, budget).")
    p.add_argument("--data", type=Path, required=True, help="tasks, JSON array or JSON lines")
    p.add_argument("--config", type=Path, required=True, help="Label Studio labeling config XML")
    p.add_argument("--output", type=Path, required=True, help="where to write the JSON lines")
    p.add_argument("--concurrency", type=int, help="parallel requests (default 8)")
    p.add_argument("--batch-size", type=int, default=1000,
                   help="tasks per labeling run: their lines are written when it ends; answers "
                        "are cached as they come (default 1000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_llm_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from labelloop.labelconfig.results import task_text
    from labelloop.llm import LabelRequest, LLMLabeler, Usage, to_prediction_result
    from labelloop.llm.span_store import spans_json
    from labelloop.storage.base import open_storage

    settings = llm_settings(args, llm_concurrency=args.concurrency)
    if not settings.llm_model:
        print("error: no model: pass --model or set LABELLOOP_LLM_MODEL", file=sys.stderr)
        return 2
    schema = read_schema(args.config, args.instructions)
    tasks = read_tasks(args.data)
    pool = file_pool(args.examples, schema)
    storage = open_storage(settings.resolved_database_url)
    labeler = LLMLabeler(settings, storage)
    version = labeler.version_for(schema)
    usage, cached, retryable = Usage(), 0, 0
    failures: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    bar = tqdm(total=len(tasks), unit="task", disable=args.no_progress, file=sys.stderr)
    try:
        with args.output.open("w", encoding="utf-8") as out:
            for start in range(0, len(tasks), max(1, args.batch_size)):
                batch = tasks[start:start + args.batch_size]
                texts = [task_text(schema, t.get("data")) for t in batch]
                items = [LabelRequest(int(t["id"]), text)
                         for t, text in zip(batch, texts) if text]
                labeled = iter(labeler.label_many_sync(schema, items, examples=pool,
                                                       on_outcome=lambda _o: bar.update(1)))
                for task, text in zip(batch, texts):
                    o = next(labeled) if text else no_text(int(task["id"]), schema, bar)
                    usage, cached = usage + o.usage, cached + o.cached
                    if o.failure_kind:
                        failures[o.failure_kind] += 1
                        retryable += o.failure_kind not in ("invalid_answer", "no_input")
                    result = to_prediction_result(schema, o, text=text)
                    preds = [{"model_version": version, "score": o.confidence,
                              "result": result}] if result else []
                    llm = {"labels": o.labels, "distribution": o.distribution,
                           "confidence": o.confidence, "confidence_method": o.confidence_method,
                           "failure": o.failure, "cached": o.cached, "usage": o.usage.to_json()}
                    if schema.task_type == "text_spans":
                        llm.update(spans_json(o) or {"spans": None, "dropped": []})
                        dropped.update(d.reason for d in o.dropped)
                    out.write(json.dumps({**task, "predictions": preds, "llm": llm},
                                         ensure_ascii=False) + "\n")
    finally:
        bar.close()
        storage.close()
    print_summary(len(tasks), failures, cached, usage, priced=labeler.price is not None,
                  model_version=version, output=args.output)
    if dropped:
        print("  entities dropped: " + ", ".join(f"{k}={v}" for k, v in sorted(dropped.items())))
    return 1 if retryable else 0


def no_text(task_id: int, schema: LabelSchema, bar: tqdm) -> LabelOutcome:
    """The outcome of a task without the text the config labels (no call is made)."""
    bar.update(1)
    return LabelOutcome(task_id, None, None, None, "unknown",
                        failure=f"the task has no text in data.{schema.data_key}",
                        failure_kind="no_input")


def print_summary(n: int, failures: Counter, cached: int, usage: Usage, *, priced: bool,
                  model_version: str, output: Path) -> None:
    failed = sum(failures.values())
    print(f"labeled {n - failed}/{n} tasks with {model_version} -> {output}")
    if failed:
        print("  failed: " + ", ".join(f"{k}={v}" for k, v in sorted(failures.items())))
    cost = f"${usage.cost_usd:.4f}" if priced else "unknown (model not in the price table)"
    print(f"  calls: {usage.calls}  from cache: {cached} tasks  tokens: {usage.prompt_tokens} "
          f"prompt + {usage.completion_tokens} completion  cost: {cost}")
