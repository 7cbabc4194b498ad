"""``labelloop agreement`` on JSON exports of a real Label Studio 1.23.2 with three annotators.

The admin (A) and two users who signed up through the invite link (B, C) annotate the same tasks
of one project with labels chosen so that every statistic is known by hand; two model versions
have predictions. The project is exported through the API, the real ``labelloop agreement``
command runs on the file as a subprocess, and its JSON report must hold those numbers.

Two exports, because Label Studio 1.23.2 has two and they differ:

- the snapshot export (``POST /api/projects/{id}/exports/`` with ``serialization_options``
  ``predictions.only_id = false``, then ``.../download?exportType=JSON``): every task, prediction
  bodies, ``completed_by`` expanded to ``{"id", "email", …}`` when asked;
- the quick export (``GET /api/projects/{id}/export?exportType=JSON``, what the UI's Export button
  calls): only tasks with annotations (cancelled ones count), ``completed_by`` a bare user id, and
  ``predictions`` a list of prediction *ids* — so no model can be scored from it.

The labels (P positive, N negative, U neutral; task 12 was skipped by C, task 13 has no
annotation)::

    task  0 1 2 3 4 5 6 7 8 9 10 11 12 13
    A     P P P P N N N N U U U  U  P  -
    B     P P P P N N N N U U U  U  P  -
    C     P P N P N N U N U U P  U  x  -      x = cancelled (skipped) annotation
    m1    P N P P N U N N U P U  -  P  P      score 0.9 when right, 0.3 when wrong
    m0    P P P P P P P P P P P  P  P  P      score 0.5
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sklearn.metrics import cohen_kappa_score
from tests.e2e.ls_harness import (
    REPO,
    LabelStudioServer,
    LsProject,
    choice_result,
    create_text_project,
)

pytestmark = pytest.mark.e2e

P, N, U = "positive", "negative", "neutral"
LABELS = {
    "A": [P, P, P, P, N, N, N, N, U, U, U, U, P],
    "B": [P, P, P, P, N, N, N, N, U, U, U, U, P],
    "C": [P, P, N, P, N, N, U, N, U, U, P, U],  # task 12: cancelled
}
N_TASKS = 14  # tasks 0-12 annotated, 13 not
CONSENSUS = LABELS["A"]  # A and B always agree, so they are every task's majority
M1 = {i: lab for i, lab in enumerate([P, N, P, P, N, U, N, N, U, P, U, None, P, P]) if lab}
M1_WRONG = {1, 5, 9}

# --- the expected numbers, by hand --------------------------------------------------------------
# Percent agreement (chance that two annotators of a task agree, over tasks with 2+ labels):
# tasks 0-11 have 3 labels, 9 of them unanimous (1) and 3 with C alone (1 agreeing pair of 3);
# task 12 has A = B.
PERCENT_AGREEMENT = (9 * 1 + 3 * (1 / 3) + 1) / 13
# Fleiss' kappa on the 12 tasks with 3 annotators: P-bar = 10/12; each class is 12 of the 36
# labels, so P-e = 1/3; (10/12 - 1/3) / (1 - 1/3) = 0.75.
FLEISS = 0.75
# Krippendorff's alpha (nominal): 38 pairable values (P 14, N 12, U 12). Each of the 3 tasks where
# C differs adds 4 disagreeing ordered pairs of weight 1/(3-1): 6 in all. Sum over c != k of
# n_c * n_k = 38^2 - (14^2 + 12^2 + 12^2) = 960. alpha = 1 - (38 - 1) * 6 / 960.
ALPHA = 1 - 37 * 6 / 960
# Cohen's kappa A-C (and B-C) on their 12 shared tasks: p_o = 9/12; both use each class 4 times,
# so p_e = 1/3; (3/4 - 1/3) / (2/3) = 0.625. A-B: identical, varied labels on 13 tasks: 1.
KAPPA_AC = 0.625
# m1 against the consensus on the 12 tasks it predicted that have annotations (not 11, 13):
# 9 right. Consensus P 5, N 4, U 3; m1 P 5, N 4, U 3: p_e = 50/144; (108 - 50) / (144 - 50).
M1_ACCURACY = 9 / 12
M1_KAPPA = 58 / 94
M1_ECE = (9 * (1 - 0.9) + 3 * (0.3 - 0)) / 12  # 0.9 and 0.3 fall in different bins
# m0 says P everywhere: right on the 5 P tasks of 13; a constant prediction has kappa 0.
M0_ACCURACY = 5 / 13
M0_ECE = 0.5 - 5 / 13


def test_the_hand_computed_kappas_match_scikit_learn():
    """The arithmetic above, checked once more (a typo there would make the e2e tests wrong)."""
    a, b, c = LABELS["A"], LABELS["B"], LABELS["C"]
    assert cohen_kappa_score(a[:12], c) == pytest.approx(KAPPA_AC)
    assert cohen_kappa_score(a, b) == pytest.approx(1.0)
    m1_tasks = [i for i in sorted(M1) if i < 13]
    ref, got = [CONSENSUS[i] for i in m1_tasks], [M1[i] for i in m1_tasks]
    assert cohen_kappa_score(ref, got) == pytest.approx(M1_KAPPA)
    assert sum(r == g for r, g in zip(ref, got)) / len(ref) == pytest.approx(M1_ACCURACY)
    assert {i for i in m1_tasks if M1[i] != CONSENSUS[i]} == M1_WRONG


# --- Label Studio -----------------------------------------------------------------------------


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def _sign_up(ls: LabelStudioServer) -> tuple[int, str]:
    """A new annotator signed up through the organization's invite link (as in
    test_double_annotation.py); returns their user id and legacy API token."""
    invite = httpx.get(f"{ls.url}/api/invite", headers=_headers(ls.token), timeout=60)
    invite.raise_for_status()
    token = invite.json()["token"]
    with httpx.Client(base_url=ls.url, timeout=60) as web:
        web.get(f"/user/signup/?token={token}").raise_for_status()
        email = f"agreement-{secrets.token_hex(4)}@example.com"
        r = web.post(
            f"/user/signup/?token={token}",
            data={
                "email": email,
                "password": secrets.token_urlsafe(12),
                "csrfmiddlewaretoken": web.cookies["csrftoken"],
                "how_find_us": "Other",
            },
            headers={"Referer": f"{ls.url}/user/signup/"},
        )
        assert r.status_code == 302, r.text[:500]
        who = web.get("/api/current-user/whoami").json()
        assert who["email"] == email
        return who["id"], web.get("/api/current-user/token").json()["token"]


@dataclass(frozen=True)
class Labelled:
    project: LsProject
    users: dict[str, int]  # "A" / "B" / "C" -> Label Studio user id


def _annotate(ls: LabelStudioServer, token: str, task_id: int, body: dict[str, Any]) -> int:
    r = httpx.post(
        f"{ls.url}/api/tasks/{task_id}/annotations/", headers=_headers(token), json=body, timeout=60
    )
    assert r.status_code == 201, r.text[:500]
    return r.json()["completed_by"]


@pytest.fixture(scope="module")
def labelled(label_studio: LabelStudioServer) -> Labelled:
    ls = label_studio
    whoami = httpx.get(f"{ls.url}/api/current-user/whoami", headers=_headers(ls.token), timeout=60)
    whoami.raise_for_status()
    ids = {"A": whoami.json()["id"]}
    tokens = {"A": ls.token}
    for name in ("B", "C"):
        ids[name], tokens[name] = _sign_up(ls)
    assert len(set(ids.values())) == 3

    p = create_text_project(ls.sdk, N_TASKS, title="e2e agreement export")
    for name, labels in LABELS.items():
        for task_id, label in zip(p.task_ids, labels):
            assert (
                _annotate(ls, tokens[name], task_id, {"result": choice_result(label)}) == ids[name]
            )
    _annotate(ls, tokens["C"], p.task_ids[12], {"result": [], "was_cancelled": True})

    predictions = [
        {
            "task": p.task_ids[i],
            "result": choice_result(label),
            "model_version": "m1",
            "score": 0.3 if i in M1_WRONG else 0.9,
        }
        for i, label in M1.items()
    ] + [
        {"task": t, "result": choice_result(P), "model_version": "m0", "score": 0.5}
        for t in p.task_ids
    ]
    assert ls.gateway.import_predictions(p.id, predictions) == len(predictions)
    return Labelled(p, ids)


def _snapshot_export(ls: LabelStudioServer, project_id: int) -> list[dict[str, Any]]:
    """The export API with prediction bodies and annotators expanded."""
    options = {"predictions": {"only_id": False}, "annotations__completed_by": {"only_id": False}}
    r = httpx.post(
        f"{ls.url}/api/projects/{project_id}/exports/",
        headers=_headers(ls.token),
        json={"title": "agreement e2e", "serialization_options": options},
        timeout=60,
    )
    assert r.status_code == 201, r.text[:500]
    export_id = r.json()["id"]
    deadline = time.monotonic() + 60
    while (status := r.json()["status"]) not in ("completed", "failed"):
        assert time.monotonic() < deadline, f"export {export_id} still {status}"
        time.sleep(0.5)
        r = httpx.get(
            f"{ls.url}/api/projects/{project_id}/exports/{export_id}",
            headers=_headers(ls.token),
            timeout=60,
        )
        r.raise_for_status()
    assert status == "completed", r.text[:500]
    r = httpx.get(
        f"{ls.url}/api/projects/{project_id}/exports/{export_id}/download",
        params={"exportType": "JSON"},
        headers=_headers(ls.token),
        timeout=60,
    )
    r.raise_for_status()
    return r.json()


def _quick_export(ls: LabelStudioServer, project_id: int) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{ls.url}/api/projects/{project_id}/export",
        params={"exportType": "JSON"},
        headers=_headers(ls.token),
        timeout=60,
    )
    r.raise_for_status()
    return r.json()


def _run_agreement(export: Path, output: Path) -> tuple[subprocess.CompletedProcess, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABELLOOP_", "LABEL_STUDIO_"))}
    done = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "labelloop"),
            "agreement",
            str(export),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=export.parent,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done, json.loads(output.read_text(encoding="utf-8"))


def _pairs(control: dict[str, Any]) -> dict[frozenset, tuple[int, float]]:
    return {
        frozenset((p["a"], p["b"])): (p["n"], p["kappa"]) for p in control["pairwise_cohen_kappa"]
    }


def _check_human_agreement(control: dict[str, Any], users: dict[str, int]) -> None:
    a, b, c = users["A"], users["B"], users["C"]
    assert control["control"] == "sentiment" and control["multiple"] is False
    assert control["n_tasks"] == 13
    assert control["n_annotations"] == 38
    assert control["annotators"] == sorted([a, b, c])
    assert control["labels"] == [N, U, P]
    assert control["label_counts"] == {N: 12, U: 12, P: 14}
    assert control["annotations_per_task"] == {"2": 1, "3": 12}
    assert control["percent_agreement"] == pytest.approx(PERCENT_AGREEMENT)
    assert control["fleiss_kappa"] == pytest.approx(FLEISS)
    assert control["fleiss_subset"] == {"n_tasks": 12, "n_raters": 3}
    assert control["krippendorff_alpha"] == pytest.approx(ALPHA)
    pairs = _pairs(control)
    assert set(pairs) == {frozenset((a, b)), frozenset((a, c)), frozenset((b, c))}
    assert pairs[frozenset((a, b))] == (13, pytest.approx(1.0))
    assert pairs[frozenset((a, c))] == (12, pytest.approx(KAPPA_AC))
    assert pairs[frozenset((b, c))] == (12, pytest.approx(KAPPA_AC))
    per = {r["annotator"]: r for r in control["per_annotator"]}
    assert set(per) == {a, b, c}
    for who in (a, b):  # the others (B/A and C) tie where C differs; task 12: the other alone
        assert (per[who]["n_items"], per[who]["n"], per[who]["ties"]) == (13, 10, 3)
        assert per[who]["agreement"] == pytest.approx(1.0)
        assert per[who]["kappa"] == pytest.approx(1.0)
    assert (per[c]["n_items"], per[c]["n"], per[c]["ties"]) == (12, 12, 0)
    assert per[c]["agreement"] == pytest.approx(0.75)
    assert per[c]["kappa"] == pytest.approx(KAPPA_AC)
    assert control["consensus"] == {"n_tasks": 13, "ties": 0}


def test_snapshot_export_gives_human_agreement_and_each_model_version_vs_the_consensus(
    label_studio, labelled, tmp_path
):
    tasks = _snapshot_export(label_studio, labelled.project.id)
    assert len(tasks) == N_TASKS  # every task, the unannotated one too
    first = next(t for t in tasks if t["id"] == labelled.project.task_ids[0])
    assert {pred["model_version"] for pred in first["predictions"]} == {"m0", "m1"}
    assert all(isinstance(ann["completed_by"], dict) for ann in first["annotations"])
    export = tmp_path / "project.json"
    export.write_text(json.dumps(tasks), encoding="utf-8")

    done, report = _run_agreement(export, tmp_path / "report.json")

    assert report["export"] == str(export)
    assert report["n_tasks"] == N_TASKS
    assert report["skipped"] == {"cancelled_annotation": 1}
    assert set(report["controls"]) == {"sentiment"}
    control = report["controls"]["sentiment"]
    _check_human_agreement(control, labelled.users)
    # task 13: no annotation; the two predictions on it have no consensus to be scored against
    assert control["skipped"] == {
        "prediction_on_task_without_annotations": 2,
        "tasks_without_choices": 1,
    }

    models = control["models"]
    assert set(models) == {"m0", "m1"}
    m1, m0 = models["m1"], models["m0"]
    assert m1["n"] == 12 and m1["coverage"] == pytest.approx(12 / 13)
    assert m1["accuracy"] == pytest.approx(M1_ACCURACY)
    assert m1["kappa"] == pytest.approx(M1_KAPPA)
    confusion = m1["confusion"]
    assert sum(map(sum, confusion)) == 12
    assert sum(confusion[i][i] for i in range(len(confusion))) == 9
    assert m1["calibration"]["n"] == 12
    assert m1["calibration"]["ece"] == pytest.approx(M1_ECE)
    assert m0["n"] == 13 and m0["coverage"] == pytest.approx(1.0)
    assert m0["accuracy"] == pytest.approx(M0_ACCURACY)
    assert m0["kappa"] == pytest.approx(0.0)
    assert m0["calibration"]["ece"] == pytest.approx(M0_ECE)

    # the printed summary agrees with the JSON
    assert "report written to" in done.stdout
    assert f"{PERCENT_AGREEMENT:.3f}" in done.stdout and f"{ALPHA:.3f}" in done.stdout
    assert f"{M1_KAPPA:.3f}" in done.stdout


def test_quick_export_gives_the_same_human_agreement_but_no_model_can_be_scored(
    label_studio, labelled, tmp_path
):
    tasks = _quick_export(label_studio, labelled.project.id)
    assert len(tasks) == 13  # only tasks with annotations (C's cancelled one counts)
    # Label Studio 1.23.2 puts prediction ids, not predictions, into this export
    prediction_ids = [pred for t in tasks for pred in t["predictions"]]
    assert len(prediction_ids) == 11 * 2 + 1 + 2  # tasks 0-10: m0 and m1; 11: m0; 12: both
    assert all(isinstance(pred, int) for pred in prediction_ids)
    assert all(isinstance(ann["completed_by"], int) for t in tasks for ann in t["annotations"])
    export = tmp_path / "quick.json"
    export.write_text(json.dumps(tasks), encoding="utf-8")

    printed, report = _run_agreement(export, tmp_path / "quick-report.json")

    assert "prediction ids only" in printed.stdout  # the user is told why no model is compared
    assert report["skipped"]["prediction_id_only"] == len(prediction_ids)
    assert report["n_tasks"] == 13
    control = report["controls"]["sentiment"]
    _check_human_agreement(control, labelled.users)
    assert control["models"] == {}
    # the report says the predictions were left out rather than dropping them silently
    left_out = sum(n for reason, n in report["skipped"].items() if "prediction" in reason)
    assert left_out == len(prediction_ids)
    assert report["skipped"].get("cancelled_annotation") == 1
