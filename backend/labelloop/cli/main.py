"""The ``labelloop`` command.

Each sub-command lives in its own module under :mod:`labelloop.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed args,
returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from labelloop import __version__

# Sub-command modules, in the order --help lists them.
COMMANDS = ["serve", "worker", "status", "label", "estimate", "simulate", "agreement",
            "export", "stream", "triplets", "model", "healthcheck"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelloop",
        description=(
            "LLM-assisted active learning for Label Studio: an ML backend that pre-labels tasks "
            "with an LLM, ranks what humans should label next, and orders Label Studio's queue."
        ),
        epilog="Run 'labelloop COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"labelloop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"labelloop.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
