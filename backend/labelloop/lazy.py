"""Lazy package exports: a package names what it offers, and a name's module is imported the
first time the name is read.

A package ``__init__`` that imports all its modules makes every ``import labelloop.pkg.small``
pay for the heaviest of them (the LLM client, statsmodels, scipy.stats): seconds a short command
such as ``labelloop export`` would spend on imports it never uses. With :func:`lazy_exports`
the package keeps its public names (``from labelloop.quality import best_labels`` works as
before) and a submodule costs only what it imports itself::

    __getattr__, __dir__ = lazy_exports(__name__, {
        "labelloop.quality.best_label": ("BestLabels", "best_labels")})

The package also imports the names under ``typing.TYPE_CHECKING``, so type checkers see them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]) -> tuple[
        Callable[[str], object], Callable[[], list[str]]]:
    """A module ``__getattr__`` that imports a name's module (``exports``: module -> the names
    it gives) on first use and keeps the value in the package, so the next read is a plain
    attribute; and the matching ``__dir__``."""
    names = {name: module for module, given in exports.items() for name in given}

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
