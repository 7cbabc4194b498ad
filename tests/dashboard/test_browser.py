"""The dashboard in a real headless Chromium against a real uvicorn server on loopback.

The page must load without console errors, warnings or failed requests, and show the figures of
a seeded database (compared with the service's own numbers). The screenshot is kept at
``test-artifacts/dashboard.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelloop.api.app import Overrides, create_app
from labelloop.dashboard.data import queue_head
from labelloop.quality import project_quality
from labelloop.settings import Settings
from labelloop.storage.base import Storage
from tests.dashboard.browser import Chromium, LiveServer, Page
from tests.quality.seed import Seeded, seed_project

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
READY = "document.body && document.body.dataset.state !== 'loading' && document.body.dataset.state"


@pytest.fixture
def seeded(storage: Storage) -> Seeded:
    s = seed_project(storage, n_tasks=400, n_annotators=4, seed=0)
    seed_project(storage, project_id=2, n_tasks=60, n_annotators=2, seed=5, with_ops=False)
    return s


@pytest.fixture
def page(storage: Storage, settings: Settings, seeded: Seeded) -> Iterator[tuple[Page, str]]:
    app = create_app(settings, Overrides(storage=storage, start_worker=False))
    with LiveServer(app) as server, Chromium() as browser:
        yield browser.page(), server.url


def _open(page: Page, url: str) -> None:
    page.navigate(url)
    state = page.wait_for(READY)
    assert state == "ready", page.evaluate("document.getElementById('error').textContent")


def _figure(page: Page, name: str) -> str:
    return page.evaluate(f"document.querySelector('[data-figure=\"{name}\"]').textContent")


def _pct(text: str) -> float:
    m = re.fullmatch(r"(-?\d+\.\d) %", text)
    assert m, text
    return float(m.group(1)) / 100


def test_dashboard_shows_the_seeded_figures_without_console_errors(
    page: tuple[Page, str], storage: Storage, seeded: Seeded
) -> None:
    p, url = page
    _open(p, f"{url}/")
    q = project_quality(storage, 1)
    a = q["agreement"]
    assert _figure(p, "tasks") == "400"
    assert _figure(p, "human-labelled") == str(q["n_human_labelled"])
    assert _pct(_figure(p, "llm-accuracy")) == pytest.approx(q["llm"]["accuracy"], abs=5e-4)
    assert _pct(_figure(p, "model-accuracy")) == pytest.approx(q["model"]["accuracy"], abs=5e-4)
    assert _pct(_figure(p, "percent-agreement")) == pytest.approx(a["percent_agreement"],
                                                                  abs=5e-4)
    assert float(_figure(p, "fleiss-kappa")) == pytest.approx(a["fleiss_kappa"], abs=5e-3)
    assert float(_figure(p, "krippendorff-alpha")) == pytest.approx(a["krippendorff_alpha"],
                                                                    abs=5e-3)
    assert float(_figure(p, "llm-ece")) == pytest.approx(q["llm"]["calibration"]["ece"],
                                                         abs=5e-4)
    audit = q["audit"]["overall"]
    for key in ("accuracy", "low", "high"):
        assert _pct(_figure(p, f"audit-{key}")) == pytest.approx(audit[key], abs=5e-4)

    rows = p.evaluate("[...document.querySelectorAll('[data-table=annotators] tbody tr')]"
                      ".map(r => [+r.dataset.annotator, r.cells[2].textContent])")
    assert [r[0] for r in rows] == [r["annotator"] for r in a["per_annotator"]]
    assert [_pct(r[1]) for r in rows] == pytest.approx(
        [r["agreement"] for r in a["per_annotator"]], abs=5e-4)
    assert p.evaluate("document.querySelectorAll('[data-pair]').length") == 4 * 4
    with storage.read() as tx:
        head = queue_head(tx, 1, "queue-3", "text")["head"]
    shown = p.evaluate("[...document.querySelectorAll('[data-table=queue] tbody tr')]"
                       ".map(r => [+r.dataset.task, r.cells[2].textContent])")
    assert shown == [[e["task_id"], e["reason"]] for e in head] and len(shown) == 15
    # three series over the three retrain versions that have numbers (the cold start has none)
    assert p.evaluate("document.querySelectorAll('circle[data-version]').length") == 9
    assert _figure(p, "job-progress-1") == "120 / 400"
    assert _figure(p, "llm-tokens") == "172,800" and _figure(p, "llm-cost") == "$0.2040"
    review = p.evaluate("[...document.querySelectorAll('[data-review]')].map(r => "
                        "+r.dataset.review)")
    assert review == [i["task_id"] for i in q["review"]["items"]][:15]
    assert p.problems() == []
    shot = p.screenshot(ARTIFACTS / "dashboard.png")
    assert shot.stat().st_size > 50_000


def test_dashboard_switches_project_from_the_url_and_loads_fast(
    page: tuple[Page, str], storage: Storage
) -> None:
    p, url = page
    _open(p, f"{url}/#project=2")
    assert p.evaluate("document.querySelector('#project').value") == "2"
    assert p.evaluate("document.querySelector('.card h2').textContent") == "Sentiment 2"
    assert _figure(p, "tasks") == "60"
    assert "No queue" not in p.evaluate("document.body.textContent")
    _open(p, f"{url}/")  # warm: what a user sees on reload
    rendered_ms = p.evaluate("window.labelloopRenderedAt")
    assert 0 < rendered_ms < 1000, rendered_ms
    assert p.problems() == []
