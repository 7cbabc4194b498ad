"""``labelloop export``: a project's labelled dataset to a file (JSON lines or CSV), and its card.

The rows are written page by page as :meth:`labelloop.quality.dataset.Export.rows` yields them
(the file is written to ``FILE.part`` and renamed when complete). Parquet is refused with exit
status 2: it needs pyarrow, which labelloop does not install.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from labelloop.cli.common import add_data_dir, settings_from

T = TypeVar("T")
PARQUET = ("error: --format parquet needs pyarrow, which labelloop does not install; "
           "use jsonl or csv")


class Counted(Iterator[T]):
    """An iterator that counts what passed through it (``n``)."""

    def __init__(self, items: Iterable[T]) -> None:
        self._it, self.n = iter(items), 0

    def __next__(self) -> T:
        item = next(self._it)
        self.n += 1
        return item


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="write a project's labelled dataset (and its card)",
        description="Write one row per live task: its best label (the human consensus where "
                    "there is one, else the machines'), where it came from, p_correct and the "
                    "LLM's and the model's labels. --card also writes the dataset card (size, "
                    "label distribution, cost, estimated accuracy with a 95 % interval).")
    add_data_dir(p)
    p.add_argument("--project", type=int, required=True, help="a project stored in labelloop")
    p.add_argument("--format", choices=["jsonl", "csv", "parquet"], default="jsonl",
                   help="jsonl (default) or csv; parquet needs pyarrow (not installed)")
    p.add_argument("--output", type=Path, required=True, help="the dataset file to write")
    p.add_argument("--card", type=Path, default=None, help="also write the card (JSON) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from labelloop.errors import LabelloopError
    from labelloop.quality.dataset import prepare_export
    from labelloop.quality.dataset_card import dataset_card
    from labelloop.quality.dataset_rows import encode
    from labelloop.storage.base import open_storage

    if args.format == "parquet":
        print(PARQUET, file=sys.stderr)
        return 2
    settings = settings_from(args)
    storage = open_storage(settings.resolved_database_url)
    part = args.output.with_name(args.output.name + ".part")
    try:
        export = prepare_export(storage, args.project,
                                accept_precision=settings.accept_precision)
        counted = Counted(export.rows())
        with part.open("w", encoding="utf-8", newline="") as out:
            for piece in encode(counted, args.format):
                out.write(piece)
        os.replace(part, args.output)
        if args.card is not None:
            card = dataset_card(storage, args.project, export=export)
            args.card.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
    except LabelloopError as exc:
        part.unlink(missing_ok=True)
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    finally:
        storage.close()
    print(f"wrote {counted.n} rows to {args.output}" +
          (f" and the card to {args.card}" if args.card is not None else ""))
    return 0
