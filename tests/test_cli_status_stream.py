"""``labelloop status`` shows each project's production stream in a few lines (issue 17 §5)."""

from __future__ import annotations

import argparse
import json

import pytest

from labelloop.cli import status as status_cli
from labelloop.settings import Settings
from labelloop.storage.base import open_storage
from tests.api.test_status_stream import SENTENCE, drift_record, pin_status_clock, seed_stream
from tests.quality.seed import new_project


@pytest.mark.parametrize("as_json", [False, True])
def test_status_prints_the_stream_and_its_drift(settings: Settings,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch,
                                                as_json: bool) -> None:
    storage = open_storage(settings.resolved_database_url)
    new_project(storage, 1)
    new_project(storage, 2)
    seed_stream(storage, 1, drift=drift_record())
    storage.close()
    monkeypatch.setattr(status_cli, "settings_from", lambda _args: settings)
    pin_status_clock(monkeypatch)
    assert status_cli.run(argparse.Namespace(json=as_json)) == 0
    out = capsys.readouterr().out
    if as_json:
        got = {p["id"]: p["stream"] for p in json.loads(out)["projects"]}
        assert got[1]["received"] == 1200 and got[1]["drift"]["sentence"] == SENTENCE
        assert got[2]["received"] == 0 and got[2]["drift"]["state"] == "not measured yet"
        return
    lines = [line.strip() for line in out.splitlines()]
    assert ("stream: 1,200 received, 60 selected (uncertain 40, feedback 15, audit 5); waiting "
            "for Label Studio 40, sending 5, created 15") in lines
    assert "stream budget: 5 % of items; selected 5 % of the last 1,000 items" in lines
    assert f"drift: stable: {SENTENCE}" in lines
    # project 2 has no stream items: no stream lines for it
    assert sum(line.startswith("stream:") for line in lines) == 1
