"""The stopping signal in ``/api/projects/{id}/status`` and ``labelloop status`` (issue 15 §5)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from tests.quality.seed import new_project

from labelloop.cli import status as status_cli
from labelloop.settings import Settings
from labelloop.storage.base import Storage, open_storage

STOP_IDS = list(range(100_000, 100_300))


def add_retrains(storage: Storage, changed: list[float], *, project_id: int = 1,
                 prefix: str = "model") -> None:
    """Retrain versions whose stop-set labels change by ``changed[i]`` of the tasks each time."""
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, len(STOP_IDS))
    with storage.write() as tx:
        for i, share in enumerate(changed):
            which = rng.choice(labels.size, size=round(share * labels.size), replace=False)
            labels[which] = (labels[which] + 1) % 3
            tx.add_model_version(project_id, f"{prefix}-{i}", kind="retrain", lineage={
                "kind": "retrain", "n_labeled": 50 * (i + 1), "cv_accuracy": 0.8,
                "stop_set": {"task_ids": STOP_IDS,
                             "labels": [["positive", "negative", "neutral"][v] for v in labels]},
                "machine_labelled": {"n": 1200, "expected_wrong": 87.4}})


def test_project_status_says_whether_labels_still_pay(storage: Storage, client_factory) -> None:
    new_project(storage, 1)
    new_project(storage, 2, title="stable")
    add_retrains(storage, [0.0, 0.3, 0.2, 0.25, 0.1])
    add_retrains(storage, [0.0, 0.3, 0.0, 0.0, 0.0], project_id=2)
    client = client_factory()
    st = client.get("/api/projects/1/status").json()
    stop = st["stopping"]
    assert stop["verdict"] == "keep_labelling" and not stop["stable"]
    assert stop["message"].startswith("keep labelling: the model's predictions still change")
    assert [k["version"] for k in stop["kappas"]] == [f"model-{i}" for i in range(1, 5)]
    assert all(k["n_compared"] == 300 and k["kappa"] < 0.9 for k in stop["kappas"][1:])
    assert stop["expected_wrong"] == 87.4 and stop["n_machine_labelled"] == 1200
    # the status lists each version's stop set by its size, not its 500 labels
    lineages = [v["lineage"] for v in st["model_versions"]]
    assert all(lin["stop_set"] == {"size": 300} for lin in lineages)
    stable = client.get("/api/projects/2/status").json()["stopping"]
    assert stable["verdict"] == "stop" and stable["kappa_window"] == 1.0
    assert "about 87 of the 1,200 machine-labelled tasks are expected wrong" in stable["message"]
    new_project(storage, 3)
    assert client.get("/api/projects/3/status").json()["stopping"]["verdict"] == \
        "not_enough_retrains"


@pytest.mark.parametrize("as_json", [False, True])
def test_cli_status_prints_one_stopping_line_per_project(
        settings: Settings, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, as_json: bool) -> None:
    storage = open_storage(settings.resolved_database_url)
    new_project(storage, 1)
    new_project(storage, 2)
    add_retrains(storage, [0.0, 0.3, 0.0, 0.0, 0.0])
    storage.close()
    monkeypatch.setattr(status_cli, "settings_from", lambda _args: settings)
    assert status_cli.run(argparse.Namespace(json=as_json)) == 0
    out = capsys.readouterr().out
    if as_json:
        got = {p["id"]: p["stopping"]["verdict"] for p in json.loads(out)["projects"]}
        assert got == {1: "stop", 2: "not_enough_retrains"}
        return
    lines = [line.strip() for line in out.splitlines() if "stopping signal:" in line]
    assert len(lines) == 2
    assert lines[0].startswith("stopping signal: labels have stopped paying: successive models "
                               "agree (κ 1.000 over the last 3 retrains)")
    assert lines[1] == ("stopping signal: not enough retrains yet: 0 of the 3 comparisons of "
                        "successive models the signal needs (0 retrain(s) with new labels so far)")
