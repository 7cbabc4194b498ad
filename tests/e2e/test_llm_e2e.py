"""LLM pre-annotation through a real Label Studio 1.23.2 and the test LLM server.

200 tasks imported, labelloop connected with an LLM endpoint (the loopback OpenAI-compatible test
server, through the real openai client), then Label Studio's own "Retrieve Predictions" action
on every task: each task ends up with a valid LLM prediction whose region carries a score.
"""

from __future__ import annotations

import pytest
from tests.e2e.ls_harness import TEXT_CONFIG
from tests.e2e.test_foundation_e2e import connect
from tests.fakes.llm_server import FakeLLM

from labelloop.labelconfig.results import validate_result
from labelloop.labelconfig.schema import parse_label_config

pytestmark = pytest.mark.e2e
LABELS = ["positive", "negative", "neutral"]


def test_retrieve_predictions_gives_every_task_a_valid_llm_label(
        label_studio, new_project, labelloop_process) -> None:
    texts = [f"tweet {i}: {['so good', 'so bad', 'it is tuesday'][i % 3]}" for i in range(200)]
    gold = {t: LABELS[i % 3] for i, t in enumerate(texts)}
    with FakeLLM(gold, labels=LABELS, noise=0.1, seed=7) as llm:
        p = new_project(texts=texts)
        # labelloop without Label Studio's API: no resync, so no queue is published while
        # Retrieve Predictions runs (once one is, /setup and /predict answer under the
        # project's labelloop-<n>, and tasks already holding it are not asked about)
        connect(label_studio, labelloop_process, p.id, OPENAI_BASE_URL=llm.url,
                OPENAI_API_KEY="sk-e2e-test-key", LABELLOOP_LLM_MODEL="fake-llm",
                LABEL_STUDIO_API_KEY="")
        label_studio.sdk.actions.create(id="retrieve_tasks_predictions", project=p.id,
                                        selected_items={"all": True, "excluded": []})
        tasks = list(label_studio.gateway.iter_tasks(p.id, page_size=500))
    schema = parse_label_config(TEXT_CONFIG)
    assert len(tasks) == 200
    right = 0
    for task in tasks:
        llm_preds = [pr for pr in task["predictions"]
                     if str(pr["model_version"]).startswith("llm-fake-llm")]
        assert llm_preds, f"task {task['id']} has no LLM prediction: {task['predictions']}"
        pred = llm_preds[-1]
        validate_result(schema, pred["result"])
        region = pred["result"][0]
        assert 0.0 < region["score"] <= 1.0 and pred["score"] is not None
        right += region["value"]["choices"] == [gold[task["data"]["text"]]]
    # the test server flips 10 % of its answers: the labels are the LLM's, not a copy of gold
    assert 150 <= right < 200
