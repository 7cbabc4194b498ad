"""``labelloop triplets corpus|mine|finetune|status --project ID``: a similarity-judgement
project from the command line (docs/triplets.md). The commands write to labelloop's database
and queue jobs, as the API does; a running server or ``labelloop worker`` runs them."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from labelloop.cli.common import add_data_dir, settings_from


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("triplets", help="similarity judgements: corpus, mining, status",
                       description="Hard-triplet active learning for an embedding model: the "
                                   "corpus triplets are drawn from, mining rounds, fine-tune "
                                   "rounds and retrieval measures (docs/triplets.md).")
    tsub = p.add_subparsers(dest="triplets_command", metavar="COMMAND", required=True)
    c = tsub.add_parser("corpus", help="add texts (and optional groups) to the corpus",
                        description="Read texts from a .jsonl ({\"text\", \"group\"} per line), "
                                    ".csv (columns text, group) or text file (one per line); "
                                    "the first corpus queues the first mining round.")
    c.add_argument("file", type=Path, help="the texts (.jsonl, .csv or one text per line)")
    m = tsub.add_parser("mine", help="queue the next mining round")
    f = tsub.add_parser("finetune", help="queue a fine-tune round now (not waiting for N "
                                         "new judgements)")
    s = tsub.add_parser("status", help="corpus, tasks, judgements, rounds, recall@10 / MRR")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    for q in (c, m, f, s):
        add_data_dir(q)
        q.add_argument("--project", type=int, required=True, help="the Label Studio project id")
        q.set_defaults(func=run)


def read_corpus(path: Path) -> list[tuple[str, str | None]]:
    """(text, group) rows of a corpus file; ValueError saying which line is wrong."""
    rows: list[tuple[str, str | None]] = []
    if path.suffix == ".jsonl":
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            value = json.loads(line)
            if not isinstance(value, dict) or not isinstance(value.get("text"), str):
                raise ValueError(f"{path}:{n}: expected {{\"text\": ..., \"group\": ...}}")  # noqa: TRY004 - a bad line
            group = value.get("group")
            rows.append((value["text"], None if group is None else str(group)))
    elif path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            for n, rec in enumerate(csv.DictReader(fh), 2):
                if not rec.get("text"):
                    raise ValueError(f"{path}:{n}: no text column value")
                rows.append((rec["text"], rec.get("group") or None))
    else:
        rows = [(line, None) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    return rows


def run(args: argparse.Namespace) -> int:
    from labelloop.errors import LabelloopError
    from labelloop.storage.base import open_storage
    from labelloop.storage.records_triplets import CorpusItemRow
    from labelloop.triplets.finetune_job import finetune_spec
    from labelloop.triplets.service import (
        add_corpus,
        queue_mining,
        triplet_schema,
        triplet_status,
    )

    settings = settings_from(args)
    storage = open_storage(settings.resolved_database_url)
    pid, command = args.project, args.triplets_command
    try:
        if command == "corpus":
            try:
                rows = [CorpusItemRow(t, g) for t, g in read_corpus(args.file)]
            except (OSError, ValueError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            got = add_corpus(storage, pid, rows)
            print(f"project {pid}: {got.added} texts added ({got.duplicates} already there), "
                  f"{got.corpus} in the corpus" + ("; first mining round queued"
                                                   if got.mining else ""))
        elif command == "mine":
            print(f"project {pid}: mining round {queue_mining(storage, pid)} queued")
        elif command == "finetune":
            with storage.write() as tx:
                triplet_schema(tx, pid)
                tx.enqueue(finetune_spec(pid, force=True))
            print(f"project {pid}: a fine-tune round queued")
        else:
            status = triplet_status(storage, settings, pid)
            print(json.dumps(status, indent=2) if args.json else describe(status))
    except LabelloopError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    finally:
        storage.close()
    return 0


def describe(st: dict[str, Any]) -> str:
    c, t, j, llm = st["corpus"], st["tasks"], st["judgements"], st["llm"]
    agreement = (f"{llm['agreement']:.0%} of {llm['compared']}" if llm["compared"]
                 else "n/a")
    lines = [
        f"project {st['project']} (similarity judgements)",
        (f"  corpus: {c['items']} texts, {c['grouped']} with a group, {c['held_out']} held "
         "out to measure retrieval"),
        (f"  tasks: {t['created']} in Label Studio, {t['pending'] + t['sending']} waiting, "
         f"{t['failed']} refused; {st['mining_rounds']} mining round(s)"),
        (f"  judgements: {j['total']} (first {j['first']}, second {j['second']}, "
         f"tie {j['tie']})"),
        f"  LLM: {llm['pre_judged']} pre-judged, agreement with humans {agreement}",
        f"  encoder: {st['encoder'] or 'the base model'}"]
    for r in st["rounds"]:
        before, after = r.get("before") or {}, r.get("after") or {}
        key = r.get("primary") or "recall_at_10"
        lines.append(f"  round {r['round']}: {r['judgements']} judgements, {key} "
                     f"{_num(before.get(key))} -> {_num(after.get(key))}, "
                     + ("adopted" if r["adopted"] else "not adopted"))
    if st["recall_at_10"] is not None:
        lines.append(f"  recall@10 {st['recall_at_10']:.3f}, MRR {_num(st['mrr'])}")
    return "\n".join(lines)


def _num(x: object) -> str:
    return f"{x:.3f}" if isinstance(x, (int, float)) else "n/a"
