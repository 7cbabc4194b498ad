"""Shared CLI bits: building Settings from flags on top of the environment."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from labelloop.settings import Settings


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where labelloop keeps its database and files "
                             "(default ./.labelloop, or LABELLOOP_DATA_DIR)")
    parser.add_argument("--database-url", default=None,
                        help="SQLAlchemy database URL (default sqlite:///<data-dir>/labelloop.db)")


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    """Environment first, then the flags that were given."""
    overrides = {k: v for k, v in {
        "data_dir": getattr(args, "data_dir", None),
        "database_url": getattr(args, "database_url", None),
        **extra,
    }.items() if v is not None}
    return Settings(**overrides)
