"""The dashboard says when Label Studio's project shows another model version than labelloop
published ("model version drift"), in a real headless Chromium."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from labelloop.api.app import Overrides, create_app
from labelloop.settings import Settings
from labelloop.storage.base import Storage
from tests.dashboard.browser import Chromium, LiveServer, Page
from tests.quality.seed import seed_project

READY = "document.body && document.body.dataset.state !== 'loading' && document.body.dataset.state"


@pytest.fixture
def page(storage: Storage, settings: Settings) -> Iterator[tuple[Page, str]]:
    seed_project(storage, n_tasks=60, n_annotators=2, seed=5, with_ops=False)
    app = create_app(settings, Overrides(storage=storage, start_worker=False))
    with LiveServer(app) as server, Chromium() as browser:
        yield browser.page(), server.url


def drift(storage: Storage, **fields: object) -> None:
    now = time.time()
    with storage.write() as tx:
        tx.save_project(1, version_drift={"shows": "labelloop-1", "published": "labelloop-2",
                                          "seen_at": now - 120, "last_seen_at": now - 60,
                                          "action": "follow", "resolved_at": None, **fields})


def note(p: Page, url: str) -> tuple[str | None, str]:
    p.navigate(f"{url}/?at={time.monotonic_ns()}#project=1")  # a new load each time
    assert p.wait_for(READY) == "ready"
    return (p.evaluate("document.querySelector('[data-drift]')?.dataset.drift ?? null"),
            p.evaluate("document.querySelector('[data-drift]')?.textContent ?? ''"))


def test_an_active_drift_is_shown_and_a_resolved_one_is_noted(
        page: tuple[Page, str], storage: Storage) -> None:
    p, url = page
    assert note(p, url) == (None, "")  # no drift: nothing shown
    drift(storage)
    state, text = note(p, url)
    assert state == "active"
    assert "Label Studio shows labelloop-1, labelloop published labelloop-2" in text
    assert "2 min ago" in text and "LABELLOOP_MODEL_VERSION_DRIFT=follow" in text
    drift(storage, action="restored", resolved_at=time.time() - 30)
    state, text = note(p, url)
    assert state == "resolved" and "switched back 30 s ago" in text
    assert p.problems() == []
