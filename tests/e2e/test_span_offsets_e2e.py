"""Label Studio 1.23.2's editor counts span offsets in Python code points, even after an emoji.

In a real headless Chromium (``tests/dashboard/browser.py``) against the real Label Studio: a
person's selection of "Paris" after "😀" (one code point, two UTF-16 units) is stored at the
Python offsets, and a prediction built by :func:`labelloop.labelconfig.spans.span_region`
highlights exactly the entity. These pin :func:`to_ls_offsets` / :func:`from_ls_offsets`: were
the unit UTF-16, the stored offsets would be one more and the highlight would be "aris ".
docs/label-studio-findings.md, fact 15.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from tests.dashboard.browser import FLAGS, Chromium, Page
from tests.e2e.ls_harness import LabelStudioServer

from labelloop.labelconfig.spans import (
    Region,
    Span,
    from_ls_offsets,
    read_region_spans,
    span_regions,
    to_ls_offsets,
)

pytestmark = pytest.mark.e2e

CONFIG = ('<View><Labels name="label" toName="text"><Label value="LOC"/><Label value="PER"/>'
          '</Labels><Text name="text" value="$text"/></View>')
TEXT = "Hi 😀 Paris and Ünïcode café Paris"
WANT = [Span(5, 10, "LOC"), Span(28, 33, "PER")]  # code points; UTF-16 units: 6-11 and 29-34


def api(ls: LabelStudioServer, method: str, path: str, **kw: object) -> httpx.Response:
    r = httpx.request(method, f"{ls.url}{path}", headers={"Authorization": f"Token {ls.token}"},
                      timeout=60, **kw)  # type: ignore[arg-type]
    assert r.status_code < 300, (path, r.status_code, r.text[:300])
    return r


@pytest.fixture(scope="module")
def page(label_studio: LabelStudioServer) -> Iterator[Page]:
    with Chromium(flags=[*FLAGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]) \
            as chromium:
        page = chromium.page()
        page.call("Emulation.setDeviceMetricsOverride", width=1280, height=600,
                  deviceScaleFactor=1, mobile=False)
        page.navigate(f"{label_studio.url}/user/login/")
        page.evaluate(f"""(() => {{
            document.querySelector('input[name=email]').value = {json.dumps(label_studio.username)};
            document.querySelector('input[name=password]').value = {json.dumps(label_studio.password)};
            document.querySelector('form').submit(); return true }})()""")
        page.wait_event("Page.loadEventFired")
        assert "/user/login" not in page.evaluate("location.pathname"), "login failed"
        yield page


def open_task(page: Page, ls: LabelStudioServer, project: int, task: int) -> None:
    page.navigate(f"{ls.url}/projects/{project}/data?task={task}")
    page.wait_for("!!document.querySelector('.lsf-richtext__line')", timeout=60)
    time.sleep(1.0)


def mouse(page: Page, kind: str, x: float, y: float) -> None:
    page.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1,
              buttons=1 if kind == "mouseMoved" else 0)


def click_text(page: Page, text: str) -> None:
    x, y = page.evaluate(f"""(() => {{ const e = [...document.querySelectorAll('*')].filter(e =>
        e.children.length === 0 && (e.innerText || '').trim() === {json.dumps(text)}).pop();
        const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2] }})()""")
    mouse(page, "mousePressed", x, y)
    mouse(page, "mouseReleased", x, y)
    time.sleep(0.3)


def drag_select(page: Page, word: str, occurrence: int) -> None:
    """Select the ``occurrence``-th ``word`` of the text with a real mouse drag."""
    x0, x1, y = page.evaluate(f"""(() => {{
      const line = document.querySelector('.lsf-richtext__line');
      let i = -1; for (let k = 0; k <= {occurrence}; k++) i = line.textContent.indexOf(
          {json.dumps(word)}, i + 1);
      const at = (pos) => {{ const w = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
        let n, seen = 0; while ((n = w.nextNode())) {{
          if (pos < seen + n.length) return [n, pos - seen]; seen += n.length; }} }};
      const r = document.createRange(); r.setStart(...at(i));
      const [last, off] = at(i + {len(word)} - 1); r.setEnd(last, off + 1);
      const b = r.getBoundingClientRect(); return [b.left + 1, b.right - 1, b.top + b.height / 2]
    }})()""")
    mouse(page, "mousePressed", x0, y)
    for k in range(1, 6):
        mouse(page, "mouseMoved", x0 + (x1 - x0) * k / 5, y)
    mouse(page, "mouseReleased", x1, y)
    time.sleep(0.5)


def new_project(ls: LabelStudioServer, n_tasks: int) -> tuple[int, list[int]]:
    project = api(ls, "POST", "/api/projects/", json={"title": "spans e2e", "label_config": CONFIG})
    pid = project.json()["id"]
    answer = api(ls, "POST", f"/api/projects/{pid}/import?return_task_ids=true",
                 json=[{"data": {"text": TEXT}}] * n_tasks).json()
    return pid, sorted(answer["task_ids"])


def test_a_selection_after_an_emoji_is_stored_in_code_points(
        label_studio: LabelStudioServer, page: Page) -> None:
    pid, (task,) = new_project(label_studio, 1)
    open_task(page, label_studio, pid, task)
    click_text(page, "LOC")
    drag_select(page, "Paris", 0)
    click_text(page, "PER")
    drag_select(page, "Paris", 1)
    click_text(page, "Submit")
    deadline = time.monotonic() + 20
    while not (annotations := api(label_studio, "GET", f"/api/tasks/{task}/annotations/").json()):
        assert time.monotonic() < deadline, "the annotation never arrived"
        time.sleep(0.3)
    result = annotations[0]["result"]
    values = sorted((r["value"]["start"], r["value"]["end"], r["value"]["text"],
                     r["value"]["labels"]) for r in result)
    assert values == [(5, 10, "Paris", ["LOC"]), (28, 33, "Paris", ["PER"])]
    spans = sorted(s for r in result for s in read_region_spans(TEXT, r, from_name="label") or [])
    assert spans == WANT
    assert [to_ls_offsets(TEXT, s.start, s.end) for s in spans] == [(5, 10), (28, 33)]
    assert [from_ls_offsets(TEXT, v[0], v[1]) for v in values] == [(5, 10), (28, 33)]


def shifted(region: Region, by: int) -> Region:
    """``region`` with its offsets moved by ``by`` (its text unchanged)."""
    value = region["value"]
    assert isinstance(value, dict)
    return {**region, "value": {**value, "start": value["start"] + by, "end": value["end"] + by}}


def test_a_prediction_built_by_labelloop_highlights_exactly_the_entity(
        label_studio: LabelStudioServer, page: Page) -> None:
    pid, tasks = new_project(label_studio, 2)
    ours = span_regions(TEXT, WANT, from_name="label", to_name="text")
    # the control: the same regions shifted to UTF-16 units (one more after the emoji)
    utf16 = [shifted(r, 1) for r in ours]
    highlighted: dict[str, list[str]] = {}
    for task, version, result in ((tasks[0], "code-points", ours), (tasks[1], "utf-16", utf16)):
        api(label_studio, "POST", "/api/predictions/",
            json={"task": task, "model_version": version, "score": 0.5, "result": result})
        api(label_studio, "PATCH", f"/api/projects/{pid}", json={"model_version": version})
        open_task(page, label_studio, pid, task)
        page.wait_for("document.querySelectorAll('.htx-highlight').length >= 2", timeout=30)
        highlighted[version] = page.evaluate(
            "[...document.querySelectorAll('.htx-highlight')].map(e => e.textContent)")
    assert highlighted["code-points"] == ["Paris", "Paris"]
    assert highlighted["utf-16"] == ["aris ", "aris"]  # what a UTF-16 backend would show
