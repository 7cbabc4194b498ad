"""How a model version drift is noticed: webhooks (PROJECT_UPDATED and the project carried by
annotation events) and the periodic resync queue one ``check_version`` job, serialised with the
project's publishing; /status and the dashboard report it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from tests.conftest import CONFIG
from tests.fakes.label_studio import FakeGateway

from labelloop.events.apply import ingest_webhook
from labelloop.jobs.context import JobContext
from labelloop.jobs.triggers import Trigger, check_version_spec, jobs_for
from labelloop.jobs.types import JobKind, JobSpec, JobStatus, project_serial_key
from labelloop.labelstudio.access import GatewayProvider
from labelloop.labelstudio.drift import drift_action, needs_check
from labelloop.labelstudio.sync import handle_resync
from labelloop.loop.resources import Resources
from labelloop.settings import Settings
from labelloop.storage.base import Storage


@pytest.fixture
def s(settings: Settings) -> Settings:
    return settings.model_copy(update={"label_studio_url": "http://ls",
                                       "label_studio_api_key": SecretStr("k")})


def published(storage: Storage, version: str = "labelloop-2", *, shows: str | None = None) -> None:
    with storage.write() as tx:
        tx.save_project(1, label_config=CONFIG, published_version=version,
                        model_version=shows or version)


def check_jobs(storage: Storage) -> list[Any]:
    with storage.read() as tx:
        return [j for j in tx.list_jobs(status=JobStatus.QUEUED)
                if j.kind is JobKind.CHECK_VERSION]


def project_updated(model_version: str | None, **extra: object) -> bytes:
    return json.dumps({"action": "PROJECT_UPDATED", "project": {
        "id": 1, "label_config": CONFIG, "model_version": model_version, **extra}}).encode()


@pytest.mark.parametrize("shown, mode, action", [
    ("labelloop-2", "restore", "none"),
    ("labelloop-1", "restore", "restore"),
    ("llm-gpt-4o-p1234", "restore", "restore"),
    ("labelloop-1", "follow", "follow"),
    (None, "follow", "restore"),
    ("", "restore", "restore"),
    ("gold-v1", "restore", "report"),
    ("labelloop", "restore", "report"),  # the ML backend's title: the user's live-model choice
    ("labelloop-3", "restore", "ahead"),  # a publish that switched Label Studio, not recorded
    ("labelloop-3+x", "follow", "ahead"),
])
def test_drift_action(shown: str | None, mode: str, action: str) -> None:
    assert drift_action(shown, "labelloop-2", prefix="labelloop", mode=mode) == action  # type: ignore[arg-type]


def test_nothing_published_is_no_drift() -> None:
    assert drift_action("labelloop", None, prefix="labelloop", mode="restore") == "none"


def test_version_numbers_compare_as_numbers() -> None:
    assert drift_action("labelloop-10", "labelloop-9", prefix="labelloop",
                        mode="restore") == "ahead"
    assert drift_action("labelloop-9", "labelloop-10", prefix="labelloop",
                        mode="restore") == "restore"


def test_a_check_job_runs_after_the_projects_publishing() -> None:
    spec = check_version_spec(4)
    assert spec.kind is JobKind.CHECK_VERSION and spec.serial_key == project_serial_key(4)
    assert spec.dedupe_key == "check_version:4" and spec.delay_s == 0.0


def test_version_moved_queues_a_check_only_when_label_studio_can_be_reached(
        settings: Settings, s: Settings) -> None:
    assert [j.kind for j in jobs_for({Trigger.VERSION_MOVED}, 1, s)] == [JobKind.CHECK_VERSION]
    assert jobs_for({Trigger.VERSION_MOVED}, 1, settings) == []


def test_project_updated_to_an_older_version_queues_one_check(
        storage: Storage, s: Settings) -> None:
    published(storage)
    ingest_webhook(storage, project_updated("labelloop-1"), s)
    ingest_webhook(storage, project_updated("labelloop-1", title="again"), s)
    assert len(check_jobs(storage)) == 1
    with storage.read() as tx:
        assert tx.get_project(1).model_version == "labelloop-1"  # type: ignore[union-attr]


def test_project_updated_to_the_published_version_queues_nothing(
        storage: Storage, s: Settings) -> None:
    published(storage)
    ingest_webhook(storage, project_updated("labelloop-2"), s)
    ingest_webhook(storage, json.dumps({"action": "PROJECT_UPDATED", "project": {
        "id": 1, "label_config": CONFIG}}).encode(), s)  # no model_version: nothing known
    assert check_jobs(storage) == []


def test_before_the_first_publish_the_backend_title_is_no_drift(
        storage: Storage, s: Settings) -> None:
    with storage.write() as tx:
        tx.save_project(1, label_config=CONFIG)
    ingest_webhook(storage, project_updated("labelloop"), s)
    assert check_jobs(storage) == []


def test_an_annotation_event_carrying_another_version_queues_a_check(
        storage: Storage, s: Settings) -> None:
    published(storage)
    ingest_webhook(storage, json.dumps({
        "action": "ANNOTATION_CREATED",
        "annotation": {"id": 10, "task": 5, "result": [], "completed_by": 1},
        "task": {"id": 5, "data": {"text": "t"}},
        "project": {"id": 1, "label_config": CONFIG, "model_version": None}}).encode(), s)
    assert len(check_jobs(storage)) == 1


def test_a_drift_left_as_it_is_is_not_checked_again(storage: Storage, s: Settings) -> None:
    published(storage)
    with storage.write() as tx:
        tx.save_project(1, version_drift={"shows": "labelloop-1", "published": "labelloop-2",
                                          "seen_at": 1.0, "action": "follow",
                                          "resolved_at": None})
        project = tx.get_project(1)
    assert not needs_check(project, "labelloop-1")
    assert needs_check(project, "labelloop-3")  # another move: checked
    ingest_webhook(storage, project_updated("labelloop-1"), s)
    assert check_jobs(storage) == []


def test_the_periodic_resync_notices_a_drift(storage: Storage, fake_ls: FakeGateway,
                                             s: Settings) -> None:
    fake_ls.add_project(1, CONFIG, model_version="labelloop-1")
    published(storage)
    with storage.write() as tx:
        tx.enqueue(JobSpec(JobKind.RESYNC, 1))
        job = tx.claim("w", lease_s=60, kinds=[JobKind.RESYNC])
    assert job is not None
    handle_resync(JobContext(job, storage, s, GatewayProvider(s, factory=lambda *_: fake_ls),
                             lambda: None, Resources(s)))
    assert len(check_jobs(storage)) == 1
    with storage.read() as tx:
        assert tx.get_project(1).model_version == "labelloop-1"  # type: ignore[union-attr]


def test_status_and_dashboard_report_the_drift(client: TestClient) -> None:
    storage = client.app.state.services.storage  # type: ignore[attr-defined]
    with storage.write() as tx:
        tx.save_project(1, label_config=CONFIG, published_version="labelloop-2",
                        model_version="labelloop-1",
                        version_drift={"shows": "labelloop-1", "published": "labelloop-2",
                                       "seen_at": 100.0, "last_seen_at": 120.0,
                                       "action": "follow", "resolved_at": None})
    drift = client.get("/api/projects/1/status").json()["version_drift"]
    assert drift["active"] is True and drift["shows"] == "labelloop-1"
    assert drift["published"] == "labelloop-2" and drift["seen_at"] == 100.0
    listed = client.get("/status").json()["projects"][0]
    assert listed["version_drift"]["action"] == "follow"
    assert client.get("/api/projects/1/dashboard").json()["project"]["version_drift"]["active"]


def test_a_drift_the_user_undid_is_resolved(storage: Storage, s: Settings) -> None:
    """The user sets the project back to the published version by hand (e.g. under "follow"):
    the open drift is checked once more, and the check marks it resolved."""
    published(storage, shows="labelloop-1")
    with storage.write() as tx:
        tx.save_project(1, version_drift={"shows": "labelloop-1", "published": "labelloop-2",
                                          "seen_at": 1.0, "action": "follow",
                                          "resolved_at": None})
    ingest_webhook(storage, project_updated("labelloop-2"), s)
    assert len(check_jobs(storage)) == 1
    with storage.write() as tx:
        tx.save_project(1, version_drift={"shows": "labelloop-1", "published": "labelloop-2",
                                          "seen_at": 1.0, "action": "follow",
                                          "resolved_at": 2.0})
        project = tx.get_project(1)
    assert not needs_check(project, "labelloop-2")  # nothing open: nothing to check
