"""``labelloop status`` says how many tasks jobs skipped and why (issue 18)."""

from __future__ import annotations

import argparse
import json

import pytest

from labelloop.cli import status as status_cli
from labelloop.settings import Settings
from labelloop.storage.base import open_storage


@pytest.mark.parametrize("as_json", [False, True])
def test_status_shows_skipped_tasks(settings: Settings, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch, as_json: bool) -> None:
    storage = open_storage(settings.resolved_database_url)
    with storage.write() as tx:
        tx.save_project(1, title="p")
        tx.record_skips(1, "embed", {7: "UnicodeEncodeError: not valid Unicode"})
    storage.close()
    monkeypatch.setattr(status_cli, "settings_from", lambda _args: settings)
    assert status_cli.run(argparse.Namespace(json=as_json)) == 0
    out = capsys.readouterr().out
    if as_json:
        assert json.loads(out)["projects"][0]["skipped"]["count"] == 1
    else:
        assert "1 task(s) skipped: UnicodeEncodeError: not valid Unicode (embed: 1)" in out
