"""Clean-up never deletes the version the project shows, and cleans stray ``llm-*`` versions;
a project moved off the published version (a settings save) is noticed and put back."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr
from tests.conftest import CONFIG
from tests.fakes.label_studio import FakeGateway

from labelloop.errors import LabelStudioUnavailable
from labelloop.jobs.context import Handler, JobContext
from labelloop.jobs.types import JobKind, JobSpec, JobStatus
from labelloop.labelstudio.access import GatewayProvider
from labelloop.labelstudio.cleanup import deletable_versions, handle_cleanup
from labelloop.labelstudio.drift import drift_action, handle_check_version
from labelloop.labelstudio.publish import cleanup_spec, publish_queue
from labelloop.labelstudio.sync import resync_project
from labelloop.loop.resources import Resources
from labelloop.settings import Settings
from labelloop.storage.base import Storage
from labelloop.storage.records_llm import LlmLabel

SCORES = {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.4}
TITLE = "labelloop"  # the ML backend's title: Label Studio's model_version right after connecting


class StrictLabelStudio(FakeGateway):
    """The fake, plus Label Studio 1.23.2's rules about ``project.model_version``
    (docs/label-studio-findings.md, facts 8-10)."""

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        v = fields.get("model_version")
        if v and v != TITLE and v not in self.list_model_versions(project_id):
            raise LabelStudioUnavailable("update_project: Label Studio answered 400: Model "
                                         "version doesn't exist either as live model or as "
                                         "static predictions.")
        return super().update_project(project_id, **fields)

    def delete_model_version(self, project_id: int, version: str) -> None:
        shown = self.projects[project_id]["model_version"]
        super().delete_model_version(project_id, version)
        if shown in (version, TITLE):
            self.projects[project_id]["model_version"] = None

    def stray(self, project_id: int, version: str, task_id: int) -> None:
        """A prediction Label Studio stored from a /predict answer (or a user imported)."""
        self.predictions.append({"task": task_id, "project": project_id, "result": [],
                                 "score": 0.9, "model_version": version})


@pytest.fixture
def ls() -> StrictLabelStudio:
    ls = StrictLabelStudio()
    ls.add_project(1, CONFIG, model_version=TITLE)
    for i in range(1, 5):
        ls.add_task(1, i, {"text": f"text {i}"})
    return ls


@pytest.fixture
def s(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "label_studio_url": "http://ls", "label_studio_api_key": SecretStr("k"),
        "cleanup_delay_s": 0.0})


HANDLERS: dict[JobKind, Handler] = {JobKind.CLEANUP_VERSIONS: handle_cleanup,
                                    JobKind.CHECK_VERSION: handle_check_version}


def run(storage: Storage, ls: FakeGateway, s: Settings, spec: JobSpec) -> None:
    with storage.write() as tx:
        tx.enqueue(spec)
        job = tx.claim("w", lease_s=60, kinds=[spec.kind])
    assert job is not None
    HANDLERS[spec.kind](JobContext(job, storage, s, GatewayProvider(s, factory=lambda *_: ls),
                                   lambda: None, Resources(s)))
    with storage.write() as tx:
        tx.finish_job(job.id)


def queued(storage: Storage, kind: JobKind) -> int:
    with storage.read() as tx:
        return sum(j.kind is kind for j in tx.list_jobs(status=JobStatus.QUEUED))


def two_versions(storage: Storage, ls: StrictLabelStudio, s: Settings) -> None:
    resync_project(storage, ls, 1)
    publish_queue(storage, ls, 1, SCORES, settings=s, version="labelloop-1")
    publish_queue(storage, ls, 1, SCORES, settings=s, version="labelloop-2")


def test_deletable_versions_are_labelloops_own_but_the_published_and_the_shown_one() -> None:
    listed = {"labelloop-3": 4, "labelloop-2": 4, "llm-gpt-p1a2b": 1, "labelloop-1": 4,
              "mine": 2, "labelloopish": 1, "": 0}
    assert deletable_versions(listed, published="labelloop-3", shown="labelloop-2",
                              prefix="labelloop") == ["llm-gpt-p1a2b", "labelloop-1"]
    assert deletable_versions(listed, published="labelloop-3", shown="labelloop-3",
                              prefix="labelloop") == ["labelloop-2", "llm-gpt-p1a2b",
                                                      "labelloop-1"]


def test_clean_up_keeps_the_version_a_settings_save_set_the_project_back_to(
        storage: Storage, ls: StrictLabelStudio, s: Settings) -> None:
    two_versions(storage, ls, s)
    ls.stray(1, "llm-fake-p00", 3)  # the quick view's /predict answer, before this fix
    ls.stray(1, "mine", 4)  # the user's own predictions
    ls.update_project(1, model_version="labelloop-1")  # the Annotation settings page's save
    run(storage, ls, s, cleanup_spec(1, s))
    assert ls.list_model_versions(1) == {"labelloop-1": 4, "labelloop-2": 4, "mine": 1}
    # the project still has a version, and Label Studio serves its pre-labels
    assert ls.projects[1]["model_version"] == "labelloop-1"
    assert ls.next_task(1)["id"] == 1
    assert queued(storage, JobKind.CHECK_VERSION) == 1  # and the drift gets looked at


def test_clean_up_deletes_nothing_while_the_project_shows_a_version_without_predictions(
        storage: Storage, ls: StrictLabelStudio, s: Settings) -> None:
    two_versions(storage, ls, s)
    ls.update_project(1, model_version=TITLE)  # the user picked the ML backend itself
    run(storage, ls, s, cleanup_spec(1, s))
    assert ls.list_model_versions(1) == {"labelloop-1": 4, "labelloop-2": 4}
    assert ls.projects[1]["model_version"] == TITLE  # a delete would have reset it to null


def test_a_drift_to_an_older_labelloop_version_is_restored_and_reported(
        storage: Storage, ls: StrictLabelStudio, s: Settings) -> None:
    two_versions(storage, ls, s)
    ls.update_project(1, model_version="labelloop-1", sampling="Sequential sampling")
    run(storage, ls, s, JobSpec(JobKind.CHECK_VERSION, 1))
    assert ls.projects[1]["model_version"] == "labelloop-2"
    assert ls.projects[1]["sampling"] == "Uncertainty sampling"
    with storage.read() as tx:
        p = tx.get_project(1)
    assert p is not None and p.model_version == "labelloop-2"
    drift = p.version_drift or {}
    assert (drift["shows"], drift["published"], drift["action"]) == \
        ("labelloop-1", "labelloop-2", "restored")
    assert drift["seen_at"] <= drift["resolved_at"]


def test_under_follow_the_users_choice_stays_and_is_reported(
        storage: Storage, ls: StrictLabelStudio, s: Settings) -> None:
    follow = s.model_copy(update={"model_version_drift": "follow"})
    two_versions(storage, ls, follow)
    ls.update_project(1, model_version="labelloop-1")
    run(storage, ls, follow, JobSpec(JobKind.CHECK_VERSION, 1))
    run(storage, ls, follow, cleanup_spec(1, follow))
    assert ls.projects[1]["model_version"] == "labelloop-1"
    assert set(ls.list_model_versions(1)) == {"labelloop-1", "labelloop-2"}
    with storage.read() as tx:
        drift = tx.get_project(1).version_drift  # type: ignore[union-attr]
    assert drift is not None and drift["action"] == "follow" and drift["resolved_at"] is None


def test_a_lost_version_is_restored_even_under_follow(
        storage: Storage, ls: StrictLabelStudio, s: Settings) -> None:
    follow = s.model_copy(update={"model_version_drift": "follow"})
    two_versions(storage, ls, follow)
    ls.projects[1]["model_version"] = None  # what the old clean-up left behind
    run(storage, ls, follow, JobSpec(JobKind.CHECK_VERSION, 1))
    assert ls.projects[1]["model_version"] == "labelloop-2"


def test_a_version_labelloop_did_not_create_is_reported_not_changed(
        storage: Storage, ls: StrictLabelStudio, s: Settings) -> None:
    two_versions(storage, ls, s)
    ls.stray(1, "gold-v1", 2)
    ls.update_project(1, model_version="gold-v1")
    run(storage, ls, s, JobSpec(JobKind.CHECK_VERSION, 1))
    assert ls.projects[1]["model_version"] == "gold-v1"
    with storage.read() as tx:
        drift = tx.get_project(1).version_drift  # type: ignore[union-attr]
    assert drift is not None and drift["action"] == "report"


def test_when_the_published_version_is_gone_a_retrain_republishes(
        storage: Storage, ls: StrictLabelStudio, s: Settings) -> None:
    two_versions(storage, ls, s)
    ls.update_project(1, model_version="labelloop-1")
    FakeGateway.delete_model_version(ls, 1, "labelloop-2")  # deleted by hand in Label Studio
    run(storage, ls, s, JobSpec(JobKind.CHECK_VERSION, 1))
    assert ls.projects[1]["model_version"] == "labelloop-1"  # left on a version that exists
    assert queued(storage, JobKind.RETRAIN) == 1
    with storage.read() as tx:
        drift = tx.get_project(1).version_drift  # type: ignore[union-attr]
    assert drift is not None and drift["action"] == "republish"


def test_a_newer_unrecorded_publish_is_not_switched_back(
        storage: Storage, ls: StrictLabelStudio, s: Settings) -> None:
    two_versions(storage, ls, s)
    ls.stray(1, "labelloop-3", 1)  # imported and switched to; the record was never written
    ls.update_project(1, model_version="labelloop-3")
    run(storage, ls, s, JobSpec(JobKind.CHECK_VERSION, 1))
    assert ls.projects[1]["model_version"] == "labelloop-3"
    with storage.read() as tx:
        drift = tx.get_project(1).version_drift  # type: ignore[union-attr]
    assert drift is not None and drift["action"] == "ahead"


def test_no_drift_when_label_studio_shows_the_published_version(
        storage: Storage, ls: StrictLabelStudio, s: Settings) -> None:
    two_versions(storage, ls, s)
    run(storage, ls, s, JobSpec(JobKind.CHECK_VERSION, 1))
    with storage.read() as tx:
        p = tx.get_project(1)
    assert p is not None and p.version_drift is None and p.model_version == "labelloop-2"
    assert ls.calls.count("update_project") == 2  # the two publishes, nothing more


def test_a_stored_llm_label_pre_label_is_published_under_a_queue_version(
        storage: Storage, ls: StrictLabelStudio, s: Settings) -> None:
    """The stray-version fix does not change what a queue version holds: the LLM's label."""
    resync_project(storage, ls, 1)
    with storage.write() as tx:
        tx.save_llm_labels([LlmLabel(1, 1, "llm-fake-p00", ["negative"], {"negative": 0.8},
                                     0.8, "logprobs")])
    publish_queue(storage, ls, 1, SCORES, settings=s, version="labelloop-1")
    first = next(p for p in ls.predictions if p["task"] == 1)
    assert first["model_version"] == "labelloop-1"
    assert first["result"][0]["value"]["choices"] == ["negative"]
    assert first["result"][0]["score"] == 0.8


def test_a_users_own_llm_named_versions_are_not_labelloops() -> None:
    """Only the LLM versions labelloop names (``llm-<model>-p<prompt hash>``) are its own: a
    user's predictions imported as ``llm-v2`` or ``llm-gpt-4o-run`` are never deleted, and a
    project showing them is reported, not switched back."""
    listed = {"llm-gpt-4o-p1a2b3c4d5e6f": 3, "llm-v2": 5, "llm-gpt-4o-run": 2, "llm-": 1,
              "labelloop-1": 4}
    assert deletable_versions(listed, published="labelloop-2", shown=None,
                              prefix="labelloop") == ["llm-gpt-4o-p1a2b3c4d5e6f", "labelloop-1"]
    assert drift_action("llm-gpt-4o-run", "labelloop-2", prefix="labelloop",
                        mode="restore") == "report"
