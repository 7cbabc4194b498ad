"""The screenshots of README's "Connect Label Studio" walk-through, taken in a real browser.

Run from the repository root, after `make install`:

    apt-get install -y chromium          # Debian's headless Chromium, once (or LABELLOOP_CHROMIUM=…)
    HF_HUB_OFFLINE=1 .venv/bin/python docs/screenshots/take_screenshots.py [--out docs/images]

Everything runs on 127.0.0.1 with the end-to-end test harness: a real Label Studio 1.23.2
(`tests/e2e/ls_harness.py`; its virtualenv is installed on first use, ~70 s), `labelloop serve`,
and the loopback OpenAI-compatible test server (`tests/fakes/llm_server.py`) as the LLM. It makes a
30-task sentiment project, connects labelloop as its ML backend, annotates 10 tasks through the
API (the ones Label Studio serves) so that a retrain publishes a new queue, then logs in to Label
Studio in headless Chromium (`tests/dashboard/browser.py`) and writes:

- `ls-model-settings.png`: Settings → Model with labelloop connected;
- `ls-model-edit.png`: the model card's Edit dialog (Interactive preannotations);
- `ls-annotation-settings.png`: Settings → Annotation, the pre-label dropdown open;
- `ls-labeling-stream.png`: "Label All Tasks", the head of labelloop's queue with its pre-label
  ticked.

It checks what it shows (the stream serves the head of the published queue, the ticked choice is
the published pre-label) and prints what it saw. Nothing leaves the machine: Label Studio's
front-end error reporting and analytics are switched off (`FRONTEND_SENTRY_DSN=`,
`COLLECT_ANALYTICS=false`; without them its pages ask for sentry.io, googletagmanager.com and
labelstud.io) and the browser resolves no host name but 127.0.0.1 (`--host-resolver-rules`); a
page asking for any other address fails the run.
Takes ~2-3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.dashboard import browser
from tests.e2e.ls_harness import (
    LabelloopProcess,
    LabelStudioServer,
    choice_result,
    create_text_project,
)
from tests.fakes.llm_server import FakeLLM

LABELS = ["positive", "negative", "neutral"]
REVIEWS = [
    ("The battery lasts two full days, I love it.", "positive"),
    ("Stopped working after a week. Waste of money.", "negative"),
    ("It arrived on Tuesday in a cardboard box.", "neutral"),
    ("Best headphones I have owned, the sound is crisp.", "positive"),
    ("The screen cracked the first time I dropped it.", "negative"),
    ("The manual is available in four languages.", "neutral"),
    ("Setup took two minutes and it just works.", "positive"),
    ("Customer support never answered my emails.", "negative"),
    ("The charger uses a USB-C cable.", "neutral"),
    ("Great value for the price, would buy again.", "positive"),
    ("The strap broke on the second day.", "negative"),
    ("It comes in black and in silver.", "neutral"),
    ("My kids use it every day and love it.", "positive"),
    ("Loud fan, and it gets hot after an hour.", "negative"),
    ("The box contains the device and a cable.", "neutral"),
    ("Light, fast and the keyboard feels great.", "positive"),
    ("The app crashes every time I open the settings.", "negative"),
    ("I ordered the medium size.", "neutral"),
    ("Sharp photos even at night, very impressed.", "positive"),
    ("It smelled of burnt plastic out of the box.", "negative"),
    ("The warranty covers two years.", "neutral"),
    ("Comfortable to wear all day long.", "positive"),
    ("The colours faded after the first wash.", "negative"),
    ("It was delivered by the usual courier.", "neutral"),
    ("Exactly as described, and it arrived early.", "positive"),
    ("Half the buttons stopped responding within a month.", "negative"),
    ("The lid can be removed for cleaning.", "neutral"),
    ("Quiet, powerful and easy to clean.", "positive"),
    ("Returned it: the sound keeps cutting out.", "negative"),
    ("It weighs about 300 grams.", "neutral"),
]
N_ANNOTATE = 10  # = LABELLOOP_RETRAIN_EVERY_N's default: the 10th annotation retrains at once
WIDTH = 1280


def wait_for(what: str, check: Callable[[], Any], timeout: float = 180.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"timed out waiting for {what}")


def published_version(labelloop_url: str, project_id: int) -> str | None:
    r = httpx.get(f"{labelloop_url}/api/projects/{project_id}/status", timeout=10)
    return r.json().get("published_version") if r.status_code == 200 else None


def settled(labelloop_url: str, project_id: int) -> bool:
    """No job of the project running or queued, but the clean-up of superseded versions (due
    ``LABELLOOP_CLEANUP_DELAY_S`` later)."""
    jobs = httpx.get(f"{labelloop_url}/api/projects/{project_id}/status", timeout=10).json()["jobs"]
    return not any(counts.get("queued") or counts.get("running")
                   for kind, counts in jobs.items() if kind != "cleanup_versions")


def queue(ls: LabelStudioServer, project_id: int, version: str) -> list[dict[str, Any]]:
    """The unlabeled tasks' predictions of ``version``, lowest score (served first by Label
    Studio's uncertainty sampling) first, each with its task's ``text``."""
    headers = {"Authorization": f"Token {ls.token}"}
    preds = httpx.get(f"{ls.url}/api/predictions/", params={"project": project_id},
                      headers=headers, timeout=30).json()
    tasks = {t["id"]: t for t in ls.gateway.iter_tasks(project_id)}
    mine = [{**p, "text": tasks[p["task"]]["data"]["text"]} for p in preds
            if p["model_version"] == version and not tasks[p["task"]].get("annotations")]
    return sorted(mine, key=lambda p: (p["score"], p["task"]))


def start_servers(tmp: Path, llm: FakeLLM) -> tuple[LabelStudioServer, LabelloopProcess]:
    ls = LabelStudioServer(tmp / "label-studio", extra_env={
        "FRONTEND_SENTRY_DSN": "", "COLLECT_ANALYTICS": "false"}).start()
    proc = LabelloopProcess(tmp / "labelloop", env={
        "LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": ls.token,
        "OPENAI_BASE_URL": llm.url, "OPENAI_API_KEY": "sk-screenshots",
        "LABELLOOP_LLM_MODEL": "fake-llm",
        # retrain only when the 10th annotation makes it due (LABELLOOP_RETRAIN_EVERY_N), not
        # after a debounce in the middle of the 10: one new version, no race with the browser
        "LABELLOOP_RETRAIN_DEBOUNCE_S": "3600", "LABELLOOP_RESYNC_INTERVAL_S": "0",
        "LABELLOOP_JOB_POLL_INTERVAL_S": "0.2"}).start()
    return ls, proc


def prepare_project(ls: LabelStudioServer, proc: LabelloopProcess,
                    texts: list[str], gold: dict[str, str]) -> int:
    """Project, backend connected, first queue published, 10 annotations, second queue
    published and set as the project's model version. Returns the project's id."""
    p = create_text_project(ls.sdk, len(texts), title="Product reviews", texts=texts)
    ls.sdk.ml.create(project=p.id, url=proc.url, title="labelloop", auth_method="NONE")
    first = wait_for("the first published queue", lambda: published_version(proc.url, p.id))
    print(f"project {p.id}: {len(texts)} tasks, labelloop published {first}")
    text_of = {t["id"]: t["data"]["text"] for t in ls.gateway.iter_tasks(p.id)}
    for _ in range(N_ANNOTATE):
        task = ls.gateway.next_task(p.id)
        ls.sdk.annotations.create(id=task["id"], result=choice_result(gold[text_of[task["id"]]]))
    version = wait_for("a retrain's new queue", lambda: (v := published_version(proc.url, p.id))
                       not in (None, first) and v)
    wait_for(f"project.model_version = {version}",
             lambda: ls.gateway.get_project(p.id)["model_version"] == version)
    wait_for("labelloop's jobs to settle", lambda: settled(proc.url, p.id))
    if (now := published_version(proc.url, p.id)) != version:
        raise RuntimeError(f"labelloop published {now} after {version}: expected one retrain")
    print(f"{N_ANNOTATE} annotations → labelloop published {version}")
    return p.id


# --- the browser --------------------------------------------------------------------------


def login(page: browser.Page, ls: LabelStudioServer) -> None:
    page.navigate(f"{ls.url}/user/login/")
    page.evaluate(f"""(() => {{
        document.querySelector('input[name=email]').value = {json.dumps(ls.username)};
        document.querySelector('input[name=password]').value = {json.dumps(ls.password)};
        document.querySelector('form').submit(); return true }})()""")
    page.wait_event("Page.loadEventFired")
    if "/user/login" in page.evaluate("location.pathname"):
        raise RuntimeError("Label Studio login failed")


def open_page(page: browser.Page, url: str, ready_js: str) -> None:
    page.navigate(url)
    page.wait_for(ready_js, timeout=30)
    time.sleep(1.0)  # let transitions and fonts settle


def has_text(text: str) -> str:
    return f"document.body.innerText.includes({json.dumps(text)})"


def click(page: browser.Page, selector: str = "", *, text: str = "") -> None:
    """A real mouse click in the middle of the first element matching ``selector``, or of the
    last innermost element whose text is ``text``."""
    find = (f"document.querySelector({json.dumps(selector)})" if selector else
            f"""[...document.querySelectorAll('*')].filter(e => e.children.length === 0
                && (e.innerText || '').trim() === {json.dumps(text)}).pop()""")
    x, y = page.evaluate(f"""(() => {{ const r = {find}.getBoundingClientRect();
        return [r.x + r.width / 2, r.y + r.height / 2] }})()""")
    for kind in ("mousePressed", "mouseReleased"):
        page.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


def shot(page: browser.Page, path: Path, height: int) -> Path:
    data = page.call("Page.captureScreenshot", format="png",
                     clip={"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1})["data"]
    path.write_bytes(base64.b64decode(data))
    size = path.stat().st_size
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path} ({size // 1024} KiB)")
    if size > 300_000:
        raise RuntimeError(f"{path} is {size} bytes, over the 300 KB budget")
    return path


def viewport(page: browser.Page, height: int) -> None:
    page.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=height,
              deviceScaleFactor=1, mobile=False)


def foreign_requests(page: browser.Page) -> list[str]:
    urls = [e["params"]["request"]["url"] for e in page.events
            if e.get("method") == "Network.requestWillBeSent"]
    return [u for u in urls if not u.startswith(("http://127.0.0.1", "data:", "blob:",
                                                 "about:", "chrome"))]


def take(ls: LabelStudioServer, project_id: int, out: Path) -> None:
    base = f"{ls.url}/projects/{project_id}"
    browser.FLAGS = [*browser.FLAGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    with browser.Chromium() as chromium:
        page = chromium.page()
        viewport(page, 760)
        login(page, ls)

        open_page(page, f"{base}/settings/ml", has_text("Start model training on annotation"))
        shot(page, out / "ls-model-settings.png", 760)

        click(page, 'button[aria-label="Machine learning model options"]')
        page.wait_for(has_text("Send Test Request"))
        click(page, text="Edit")
        page.wait_for(has_text("Interactive preannotations"))
        time.sleep(0.5)
        click(page, text="Edit Model")  # a click outside the card's menu closes it
        time.sleep(1.0)
        if page.evaluate(has_text("Send Test Request")):
            raise RuntimeError("the model card's menu is still open over the Edit dialog")
        shot(page, out / "ls-model-edit.png", 760)

        viewport(page, 1000)
        open_page(page, f"{base}/settings/annotation", "!!document.querySelector("
                  "'button[class*=selectTrigger]')")
        click(page, "button[class*=selectTrigger]")
        page.wait_for(has_text("Models"))
        time.sleep(0.5)
        options = page.evaluate("document.body.innerText.split('model you want to use:')[1]")
        print("Annotation settings dropdown:", " | ".join(options.split("\n")[:8]))
        shot(page, out / "ls-annotation-settings.png", 1000)

        ranked = queue(ls, project_id, ls.gateway.get_project(project_id)["model_version"])
        viewport(page, 560)
        # the button, not the stream's URL: loaded as a URL (or reloaded), the stream asks
        # for the next task with the tab's ordering and selection, and Label Studio then serves
        # the tab's order (task ids) instead of the project's sampling
        open_page(page, f"{base}/data", has_text("Label All Tasks"))
        click(page, text="Label All Tasks")
        page.wait_for("[...document.querySelectorAll('input[type=checkbox]')]"
                      ".some(i => i.checked)", timeout=30)
        time.sleep(1.0)
        ticked = page.evaluate("[...document.querySelectorAll('input[type=checkbox]')]"
                               ".filter(i => i.checked).map(i => i.closest('label')"
                               "?.innerText.replace(/\\[\\d+\\]/, '').trim())")
        body = page.evaluate("document.body.innerText")
        served = next(p for p in ranked if p["text"] in body)
        first = [p for p in ranked if p["score"] == ranked[0]["score"]]
        print(f"stream: task {served['task']} {served['text']!r} with {ticked} ticked; "
              f"its prediction: {served['result'][0]['value']['choices']}, score "
              f"{served['score']:.4f}; lowest score {ranked[0]['score']:.4f} "
              f"({len(first)} of {len(ranked)} queued tasks have it)")
        if served not in first or ticked != served["result"][0]["value"]["choices"]:
            raise RuntimeError("the labeling stream does not show the head of labelloop's queue")
        shot(page, out / "ls-labeling-stream.png", 560)

        foreign = foreign_requests(page)
        if foreign:
            raise RuntimeError(f"the page asked for non-loopback addresses: {foreign}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    texts = [text for text, _ in REVIEWS]
    gold = dict(REVIEWS)
    with tempfile.TemporaryDirectory(prefix="labelloop-screenshots-") as tmp, \
            FakeLLM(gold, labels=LABELS, noise=0.1, seed=3, confidence=0.86) as llm:
        ls, proc = start_servers(Path(tmp), llm)
        try:
            project_id = prepare_project(ls, proc, texts, gold)
            take(ls, project_id, args.out.resolve())
        finally:
            proc.stop()
            ls.stop()


if __name__ == "__main__":
    main()
