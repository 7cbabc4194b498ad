"""The dashboard's "Production stream" card, in a real headless Chromium (issue 17 §5)."""

from __future__ import annotations

from labelloop.storage.base import Storage
from tests.api.test_status_stream import SENTENCE, drift_record, seed_stream
from tests.dashboard.browser import Page
from tests.dashboard.test_browser import _figure, _open, page, seeded  # noqa: F401 - fixtures

CARD = """(() => {
  const v = document.querySelector('[data-stream-drift]');
  if (!v) return null;
  return { state: v.dataset.streamDrift, text: v.textContent,
           title: v.closest('section').querySelector('h2').textContent,
           reasons: [...document.querySelectorAll('[data-stream-reason]')].map(
             (e) => [e.dataset.streamReason, e.textContent]) };
})()"""


def test_the_card_shows_the_stream_and_its_drift_in_words(page: tuple[Page, str],  # noqa: F811
                                                          storage: Storage) -> None:
    p, url = page
    seed_stream(storage, 1, drift=drift_record())
    _open(p, f"{url}/#project=2")  # project 2 has no stream: no card
    assert p.evaluate("document.querySelector('.card h2').textContent") == "Sentiment 2"
    assert p.evaluate(CARD) is None
    _open(p, f"{url}/")
    card = p.evaluate(CARD)
    assert card["title"] == "Production stream" and card["state"] == "stable"
    assert card["text"] == f"Drift: stable. {SENTENCE}"
    assert card["reasons"] == [["uncertain", "uncertain 40"], ["feedback", "feedback 15"],
                               ["audit", "audit 5"]]
    assert _figure(p, "stream-received") == "1,200"
    assert _figure(p, "stream-selected") == "60"
    assert _figure(p, "stream-waiting") == "45"
    assert _figure(p, "stream-created") == "15"
    assert _figure(p, "stream-rate") == "5.0 %"
    assert p.problems() == []


def test_a_drifting_stream_says_so(page: tuple[Page, str], storage: Storage) -> None:  # noqa: F811
    p, url = page
    seed_stream(storage, 1, drift=drift_record(drifting=True, statistic=0.021, p_value=0.002))
    _open(p, f"{url}/")
    card = p.evaluate(CARD)
    assert card["state"] == "drifting"
    assert card["text"].startswith("Drift: drifting. Recent traffic (the last 500 items, "
                                   "12:01–12:09 UTC) has drifted from the labelled set")
    assert p.problems() == []


def test_items_waiting_for_the_deferred_decision_show_as_deciding(
        page: tuple[Page, str], storage: Storage) -> None:  # noqa: F811
    from labelloop.storage.records_stream import StreamItemRow

    p, url = page
    seed_stream(storage, 1, drift=drift_record())
    _open(p, f"{url}/")
    assert p.evaluate("document.querySelector('[data-figure=\"stream-deciding\"]')") is None
    with storage.write() as tx:
        tx.add_stream_items(1, [StreamItemRow(key=f"wait-{i}", data={"text": f"w {i}"},
                                              prediction=None, feedback=None, correction=None,
                                              selected=False, reason="deciding")
                                for i in range(30)], at=2e9)
    _open(p, f"{url}/")
    assert _figure(p, "stream-deciding") == "30"
    assert _figure(p, "stream-received") == "1,230" and _figure(p, "stream-selected") == "60"
    assert p.problems() == []
