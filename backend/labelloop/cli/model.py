"""``labelloop model export``: a project's served model as a self-contained directory
(:mod:`labelloop.predict.export`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labelloop.cli.common import add_data_dir, settings_from


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="the served model: export it",
                       description="Commands about the model /classify serves.")
    msub = p.add_subparsers(dest="model_command", metavar="COMMAND", required=True)
    e = msub.add_parser(
        "export", help="write the served model as a directory that loads without labelloop",
        description="Write classifier.npz, labels.json, embedding.json, card.json, README.md "
                    "and labelloop_model.py (load(directory) → predict_proba / predict; needs "
                    "numpy and sentence-transformers only). For a triplet project: the adopted "
                    "fine-tuned encoder's sentence-transformers folder, card.json and "
                    "README.md.")
    add_data_dir(e)
    e.add_argument("--project", type=int, required=True, help="a project stored in labelloop")
    e.add_argument("--output", type=Path, required=True, help="the directory to write")
    e.add_argument("--version", default=None,
                   help="the model version (default: the one /classify serves)")
    e.add_argument("--force", action="store_true",
                   help="write into a non-empty directory, overwriting the export's files")
    e.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from labelloop.errors import LabelloopError
    from labelloop.predict.export import export_model
    from labelloop.storage.base import open_storage
    from labelloop.triplets.export import export_encoder, is_triplet_project

    settings = settings_from(args)
    storage = open_storage(settings.resolved_database_url)
    try:
        if is_triplet_project(storage, args.project):  # its fine-tuned encoder's folder
            done = export_encoder(storage, args.project, args.output, version=args.version,
                                  force=args.force)
        else:
            done = export_model(storage, args.project, args.output, settings=settings,
                                version=args.version, force=args.force)
    except LabelloopError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    finally:
        storage.close()
    for warning in done.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote model {done.version} of project {args.project} to {done.directory} "
          f"({', '.join(done.files)})")
    return 0
