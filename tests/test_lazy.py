"""Lazy package exports (labelloop/lazy.py): the public names still work, and ``labelloop
export`` no longer imports the LLM client, statsmodels or the quality report (issue 15 §2)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from labelloop.lazy import lazy_exports

PACKAGES = ["labelloop.agreement", "labelloop.llm", "labelloop.quality"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves_to_its_modules_object(package: str) -> None:
    pkg = importlib.import_module(package)
    assert pkg.__all__ and set(pkg.__all__) <= set(dir(pkg))
    for name in pkg.__all__:
        value = getattr(pkg, name)
        module = sys.modules[getattr(value, "__module__", "")] if hasattr(value, "__module__") \
            else None
        assert module is None or not module.__name__.startswith("labelloop") or \
            getattr(module, name, value) is value, name
    with pytest.raises(AttributeError, match="no_such_name"):
        pkg.no_such_name  # noqa: B018


def test_a_name_is_imported_on_first_use_and_kept() -> None:
    getattr_, dir_ = lazy_exports(__name__, {"json": ("dumps",)})
    assert "dumps" in dir_()
    import json

    assert getattr_("dumps") is json.dumps
    assert sys.modules[__name__].dumps is json.dumps  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        getattr_("loads")  # not exported


def test_the_export_command_imports_only_what_it_uses() -> None:
    code = ("import sys; import labelloop.cli.main as m; m.build_parser(); "
            "import labelloop.cli.export, labelloop.quality.dataset, labelloop.quality.dataset_card; "
            "print(' '.join(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    loaded = set(done.stdout.split())
    assert "labelloop.quality.dataset" in loaded  # the check itself ran
    heavy = {"openai", "aiohttp", "httpx", "statsmodels.stats.proportion",
             "labelloop.llm.labeler", "labelloop.quality.service", "labelloop.agreement.report"}
    assert not heavy & loaded, heavy & loaded
