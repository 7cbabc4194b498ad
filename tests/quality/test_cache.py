"""The report cache: computed once while the data stands still, again when it moves."""

from __future__ import annotations

import pytest

from labelloop.errors import UnknownProject
from labelloop.quality.cache import ReportCache
from labelloop.storage.base import Storage
from tests.quality.seed import annotation, seed_project


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def seeded(storage: Storage) -> Storage:
    seed_project(storage, n_tasks=80, seed=4, with_ops=False)
    return storage


def test_same_data_is_computed_once_and_sliced_per_request(seeded: Storage) -> None:
    cache = ReportCache(clock=Clock(), wall_clock=lambda: 123.0)
    full = cache.report(seeded, 1, review_limit=None)
    two = cache.report(seeded, 1, review_limit=2)
    assert cache.computed == 1 and full["computed_at"] == two["computed_at"] == 123.0
    assert two["review"]["items"] == full["review"]["items"][:2] and two["review"]["limit"] == 2
    assert full["review"]["total"] == len(full["review"]["items"]) > 2


def test_a_new_annotation_or_the_age_limit_recomputes(seeded: Storage) -> None:
    clock = Clock()
    cache = ReportCache(clock=clock, max_age_s=60)
    before = cache.report(seeded, 1, review_limit=0)
    with seeded.write() as tx:
        tx.upsert_annotations([annotation(10_000, 100_070, 9, "neutral")], source="webhook")
    after = cache.report(seeded, 1, review_limit=0)
    assert cache.computed == 2
    assert after["agreement"]["n_annotations"] == before["agreement"]["n_annotations"] + 1
    # an in-place edit written without any event, job or sync leaves the fingerprint alone...
    with seeded.write() as tx:
        tx.upsert_annotations([annotation(10_000, 100_070, 9, "positive",)], source="webhook")
    clock.now = 59.0
    assert cache.report(seeded, 1, review_limit=0) == after and cache.computed == 2
    clock.now = 61.0  # ... until the report is older than max_age_s
    assert cache.report(seeded, 1, review_limit=0)["agreement"]["label_counts"] != after[
        "agreement"]["label_counts"]
    assert cache.computed == 3


def test_unknown_project_raises(storage: Storage) -> None:
    with pytest.raises(UnknownProject):
        ReportCache().report(storage, 5, review_limit=1)


def test_background_mode_answers_the_last_report_and_refreshes_it(seeded: Storage) -> None:
    import time

    cache = ReportCache(clock=Clock())
    first = cache.report(seeded, 1, review_limit=0, background=True)  # nothing yet: computed
    assert cache.computed == 1 and "refreshing" not in first
    with seeded.write() as tx:
        tx.upsert_annotations([annotation(10_001, 100_071, 9, "neutral")], source="webhook")
    stale = cache.report(seeded, 1, review_limit=0, background=True)
    assert stale["refreshing"] is True
    assert stale["agreement"]["n_annotations"] == first["agreement"]["n_annotations"]
    deadline = time.time() + 20
    while cache.computed < 2 and time.time() < deadline:
        time.sleep(0.05)
    fresh = cache.report(seeded, 1, review_limit=0, background=True)
    assert cache.computed == 2 and "refreshing" not in fresh
    assert fresh["agreement"]["n_annotations"] == first["agreement"]["n_annotations"] + 1
