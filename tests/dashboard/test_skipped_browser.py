"""The dashboard's "n tasks skipped: why" line, in a real headless Chromium (issue 18)."""

from __future__ import annotations

from labelloop.storage.base import Storage
from tests.dashboard.browser import Page
from tests.dashboard.test_browser import _open, page, seeded  # noqa: F401 - fixtures

REASON = "UnicodeEncodeError: the text is not valid Unicode (surrogates not allowed: '\\udc80')"


def test_the_summary_says_how_many_tasks_were_skipped_and_why(page: tuple[Page, str],  # noqa: F811
                                                              storage: Storage) -> None:
    p, url = page
    _open(p, f"{url}/#project=2")
    assert p.evaluate("document.querySelector('[data-skipped]')") is None  # none: no line
    with storage.write() as tx:
        tx.record_skips(1, "embed", {7: REASON, 9: REASON})
        tx.record_skips(1, "retrain", {7: REASON})
        tx.record_skips(1, "prelabel", {12: "answer outside the label set after a retry: 'x'"})
    _open(p, f"{url}/")  # project 1 (a new document: a changed fragment alone loads nothing)
    line = p.evaluate("document.querySelector('[data-skipped]').textContent")
    assert line.startswith("3 tasks skipped: ") and REASON in line
    assert "(embed: tasks 7, 9)" in line and "(prelabel: task 12)" in line
    assert p.problems() == []
