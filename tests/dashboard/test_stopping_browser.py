"""The dashboard's "When to stop" card, in a real headless Chromium (issue 15 §5)."""

from __future__ import annotations

from labelloop.storage.base import Storage
from tests.api.test_status_stopping import add_retrains
from tests.dashboard.browser import Page
from tests.dashboard.test_browser import _figure, _open, page, seeded  # noqa: F401 - fixtures


def _card(p: Page) -> dict[str, str]:
    return p.evaluate("""(() => {
      const v = document.querySelector('[data-stopping]');
      return { verdict: v.dataset.stopping, text: v.textContent,
               title: v.closest('section').querySelector('h2').textContent,
               rows: document.querySelectorAll('[data-table="stop-kappas"] tr[data-kappa]').length };
    })()""")


def test_the_card_says_in_words_whether_labels_still_pay(page: tuple[Page, str],  # noqa: F811
                                                         storage: Storage) -> None:
    p, url = page
    _open(p, f"{url}/")  # the seeded retrains carry no stop set: not enough yet
    card = _card(p)
    assert card["title"] == "When to stop" and card["verdict"] == "not_enough_retrains"
    assert card["text"].startswith("not enough retrains yet") and card["rows"] == 0
    assert _figure(p, "stop-kappa") == "–"
    # five more retrains whose stop-set labels stop changing: the verdict flips
    add_retrains(storage, [0.0, 0.3, 0.0, 0.0, 0.0], prefix="stop")
    _open(p, f"{url}/")
    card = _card(p)
    assert card["verdict"] == "stop" and card["rows"] == 4
    assert card["text"].startswith("labels have stopped paying: successive models agree")
    assert _figure(p, "stop-kappa") == "1.000"
    assert _figure(p, "stop-wrong") == "87"
    assert _figure(p, "stop-slope") == "0.00 pts"
    assert p.problems() == []
