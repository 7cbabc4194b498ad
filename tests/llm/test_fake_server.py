"""The fake LLM server itself: the other tests (and the simulator's) rely on these."""

from __future__ import annotations

import json

import httpx

from tests.fakes.llm_server import FakeLLM

LABELS = ["positive", "negative", "neutral"]


def chat(server: FakeLLM, text: str, client: httpx.Client | None = None,
         **extra) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": f"<text>\n{text}\n</text>"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
                "type": "object", "properties": {"label": {"type": "string",
                                                           "enum": LABELS}}}}}, **extra}
    post = client.post if client is not None else httpx.post
    return post(f"{server.url}/chat/completions", json=body, timeout=10)


def test_gold_answers_count_calls_and_logprobs() -> None:
    with FakeLLM({"good": "positive"}, labels=LABELS, confidence=0.7) as server:
        r = chat(server, "good", logprobs=True, top_logprobs=5).json()
        assert json.loads(r["choices"][0]["message"]["content"]) == {"label": "positive"}
        tokens = r["choices"][0]["logprobs"]["content"]
        assert "".join(t["token"] for t in tokens) == r["choices"][0]["message"]["content"]
        assert r["usage"]["completion_tokens"] == len(tokens)
        assert server.calls == 1


def test_noise_is_per_text_and_reproducible() -> None:
    gold = {f"t{i}": LABELS[i % 3] for i in range(400)}
    answers = []
    for _ in range(2):
        with FakeLLM(gold, noise=0.25, seed=3) as server, httpx.Client() as client:
            answers.append([json.loads(chat(server, t, client).json()["choices"][0]["message"]
                                       ["content"])["label"] for t in list(gold)[:200]])
    assert answers[0] == answers[1]
    wrong = sum(a != g for a, g in zip(answers[0], gold.values())) / 200
    assert 0.17 < wrong < 0.33


def test_faults_in_order_and_refusals() -> None:
    with FakeLLM({"x": "positive"}, json_schema=False) as server:
        server.inject("429", retry_after=2)
        server.inject("500")
        r1, r2 = chat(server, "x"), chat(server, "x")
        assert r1.status_code == 429 and r1.headers["retry-after"] == "2"
        assert r2.status_code == 500
        assert chat(server, "x").status_code == 400  # response_format refused
        assert server.calls == 3


def test_child_process_mode() -> None:
    with FakeLLM({"x": "negative"}, in_process=False) as server:
        server.inject("500")
        assert chat(server, "x").status_code == 500
        assert json.loads(chat(server, "x").json()["choices"][0]["message"]["content"]) == \
            {"label": "negative"}
        assert server.calls == 2
