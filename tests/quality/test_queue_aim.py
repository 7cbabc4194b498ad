"""The queue's objective and auto-accept in plain words (quality/queue_aim.py), as
``/api/projects/{id}/status`` and ``labelloop status`` show them, from real plans' lineage."""

from __future__ import annotations

import argparse
import json

import pytest

from labelloop.cli import status as status_cli
from labelloop.loop.plan import plan_retrain
from labelloop.quality.queue_aim import queue_aim
from labelloop.settings import Settings
from labelloop.storage.base import open_storage
from labelloop.storage.records import ModelVersion
from tests.loop.test_plan_dataset import accept_inputs, errors_inputs


def version(name: str, lineage: dict[str, object], kind: str = "retrain") -> ModelVersion:
    return ModelVersion(1, name, kind, lineage, 0.0, None, None)


def test_words_from_the_newest_retrain() -> None:
    assert queue_aim([])["objective"] is None
    model = plan_retrain(errors_inputs()).lineage
    dataset = plan_retrain(errors_inputs(queue_objective="dataset")).lineage
    aim = queue_aim([version("v1", model), version("v2", dataset),
                     version("q", {"source": "api"}, kind="queue")])
    assert aim["version"] == "v2" and aim["objective"]["objective"] == "dataset"  # type: ignore[index]
    message = str(aim["message"])
    assert message.startswith("the queue aims at removing machine errors (the queue objective "
                              "is set to dataset)")
    assert "auto-accept is off" in message
    assert "improving the model" in str(queue_aim([version("v1", model)])["message"])


def test_auto_accept_per_class_in_words() -> None:
    lineage = plan_retrain(accept_inputs(accept_precision=0.9)).lineage
    aim = queue_aim([version("v1", lineage)])
    accept = aim["accept"]
    assert isinstance(accept, dict) and accept["enabled"] is True and accept["target"] == 0.9
    by = {c["label"]: c for c in accept["classes"]}
    assert set(by) == {"positive", "negative", "neutral"}
    assert by["neutral"]["state"] == "insufficient evidence" and by["neutral"]["threshold"] is None
    assert by["positive"]["state"] == "accepting"
    assert str(by["neutral"]["words"]).startswith("neutral: ")
    message = str(aim["message"])
    assert f"auto-accept at precision 0.9: {accept['accepted']} task(s) moved to the end" in message
    assert "neutral not accepted (insufficient evidence)" in message
    assert f"positive accepted where p_correct >= {by['positive']['threshold']}" in message


@pytest.mark.parametrize("as_json", [False, True])
def test_status_api_and_cli_show_the_queue_aim(settings: Settings, client_factory,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch,
                                               as_json: bool) -> None:
    lineage = plan_retrain(accept_inputs(accept_precision=0.9)).lineage
    storage = open_storage(settings.resolved_database_url)
    with storage.write() as tx:
        tx.save_project(1, title="p")
        tx.add_model_version(1, "labelloop-1", kind="retrain", lineage=lineage)
    storage.close()
    want = queue_aim([version("labelloop-1", lineage)])
    got = client_factory().get("/api/projects/1/status").json()["queue_aim"]
    assert got == json.loads(json.dumps(want))
    monkeypatch.setattr(status_cli, "settings_from", lambda _args: settings)
    assert status_cli.run(argparse.Namespace(json=as_json)) == 0
    out = capsys.readouterr().out
    if as_json:
        assert json.loads(out)["projects"][0]["queue_aim"]["message"] == want["message"]
    else:
        assert f"      queue: {want['message']}\n" in out
