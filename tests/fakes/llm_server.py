"""A loopback OpenAI-compatible chat server for tests and benchmarks.

It is a real HTTP server (uvicorn, on 127.0.0.1, in a background thread) that answers
``POST /v1/chat/completions`` the way OpenAI does, so tests go through the real ``openai``
client::

    gold = {"great film": "positive", "dull": "negative"}
    with FakeLLM(gold) as llm:                       # llm.url -> "http://127.0.0.1:PORT/v1"
        probas = label_texts_sync(list(gold), ["positive", "negative"],
                                  base_url=llm.url, model="fake")
        llm.calls                                     # chat calls received so far

Constructor (all keyword-only after ``gold``):

* ``gold``: text -> label (or list of labels for multiple choice); the text is read from the
  last ``<text>…</text>`` block of the prompt. Unknown texts get the first label.
* ``noise``: probability that a text's answer is a wrong label (decided per text from ``seed``,
  so the same text is always answered the same way; the flip rate over many texts is ``noise``).
* ``confidence``: the probability the fake model puts on its answer (logprobs), and the chance
  that a sample at temperature > 0 keeps it (self-consistency).
* ``latency_s``: fixed delay before every answer.
* ``entities``: text -> its entities as ``(mention, label)`` pairs, for entity (span) requests
  (a schema with ``entities``, or a prompt asking for that JSON): answered as given, so
  mentions absent from the text and labels outside the set can be scripted; samples at
  temperature > 0 leave each entity out with probability ``1 - confidence``; the label tokens
  carry logprobs with ``confidence`` on the label given. Unknown texts: no entities.
* ``json_schema`` / ``tools`` / ``logprobs`` / ``n``: whether the server accepts
  ``response_format`` (else 400), tools (else 400; ``"ignore"``: accepted, answered in text),
  returns logprobs, honours ``n > 1``.

Faults for the next calls, in arrival order: ``inject(kind, times=1, retry_after=None,
delay_s=None)`` with kind ``"429"`` (with ``Retry-After`` when given), ``"500"``, ``"timeout"``
(answers after ``delay_s``), ``"outside"`` (a label outside the set), ``"malformed"``
(truncated JSON content), ``"bad_body"`` (a 200 whose body is not JSON), ``"reject"`` (a 400
about that one request, like a prompt over the context length). ``times=None`` means
every call from now on. ``requests`` keeps every request body received.

``in_process=False`` runs the server in a child process instead (benchmarks: the server then
does not compete with the client for the GIL); ``calls`` and ``inject`` work the same, over HTTP
(``GET /_stats``, ``POST /_inject``); ``requests`` stays empty.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import uvicorn

from tests.fakes import llm_behaviour as b


class FakeLLM:
    def __init__(self, gold: Mapping[str, Any] | None = None, *, labels: list[str] | None = None,
                 noise: float = 0.0, seed: int = 0, confidence: float = 0.9,
                 latency_s: float = 0.0, json_schema: bool = True,
                 tools: bool | Literal["ignore"] = True,
                 logprobs: bool = True, n: bool = True, model: str = "fake-llm",
                 in_process: bool = True,
                 entities: Mapping[str, Any] | None = None) -> None:
        self._kwargs = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.in_process = in_process
        self.gold = dict(gold or {})
        flat = [x for v in self.gold.values() for x in (v if isinstance(v, list) else [v])]
        self.labels = labels or sorted(set(flat)) or ["yes", "no"]  # span-only: probes
        self.noise, self.seed, self.confidence = noise, seed, confidence
        self.latency_s = latency_s
        self.json_schema, self.tools, self.logprobs, self.n = json_schema, tools, logprobs, n
        self.model = model
        self.entities = dict(entities or {})
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []  # request paths with query strings (Azure routing)
        self.in_flight = 0
        self.max_in_flight = 0  # the most chat requests being answered at once
        self._faults: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._served = 0
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def calls(self) -> int:
        if self._process is not None:
            return int(self._control("GET", "/_stats")["calls"])
        return self._served

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def start(self) -> FakeLLM:
        if not self.in_process:
            root = Path(__file__).resolve().parents[2]
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(
                [str(root), str(root / "backend"), os.environ.get("PYTHONPATH", "")]))
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tests.fakes.llm_server"], cwd=root, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            stdin, stdout = self._process.stdin, self._process.stdout
            if stdin is None or stdout is None:
                raise RuntimeError("no pipes to the fake LLM server process")
            stdin.write(json.dumps(dict(self._kwargs, in_process=True)).encode())
            stdin.close()
            line = stdout.readline()
            if not line.strip():
                raise RuntimeError("the fake LLM server process did not start")
            self.port = int(line)
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, log_level="warning", lifespan="off", interface="asgi3",
                                access_log=False, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        daemon=True, name="fake-llm")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake LLM server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeLLM:  # noqa: PYI034
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- scripting -------------------------------------------------------------------------
    def inject(self, kind: str, *, times: int | None = 1, retry_after: float | None = None,
               delay_s: float | None = None) -> None:
        if kind not in {"429", "500", "timeout", "outside", "malformed", "bad_body", "reject"}:
            raise ValueError(f"unknown fault {kind!r}")
        if self._process is not None:
            self._control("POST", "/_inject", {"kind": kind, "times": times,
                                               "retry_after": retry_after, "delay_s": delay_s})
            return
        with self._lock:
            self._faults.append({"kind": kind, "times": times, "retry_after": retry_after,
                                 "delay_s": delay_s})

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _next_fault(self) -> dict[str, Any] | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            if fault["times"] is not None:
                fault["times"] -= 1
                if fault["times"] <= 0:
                    self._faults.popleft()
            return fault

    # --- ASGI ------------------------------------------------------------------------------
    async def _app(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        if scope["method"] == "POST" and scope["path"].endswith("/chat/completions"):
            self.paths.append(scope["path"] + "?" + scope.get("query_string", b"").decode())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                status, headers, payload = await self._chat(json.loads(body or b"{}"))
            finally:
                self.in_flight -= 1
        elif scope["path"] == "/_stats":
            status, headers, payload = 200, {}, {"calls": self.calls}
        elif scope["path"] == "/_inject":
            self.inject(**json.loads(body))
            status, headers, payload = 200, {}, {}
        else:
            status, headers, payload = 404, {}, {"error": {"message": "not found"}}
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        hdrs = [(b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode())]
        hdrs += [(k.encode(), str(v).encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": hdrs})
        await send({"type": "http.response.body", "body": raw})

    async def _chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], Any]:
        self._served += 1
        self.requests.append(body)
        fault = self._next_fault()
        kind = fault["kind"] if fault else None
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if kind == "429":
            headers = {} if fault["retry_after"] is None else {"retry-after": fault["retry_after"]}
            return 429, headers, _error("Rate limit reached", "rate_limit_exceeded")
        if kind == "500":
            return 500, {}, _error("The server had an error", "server_error")
        if kind == "timeout":
            await asyncio.sleep(fault["delay_s"] or 5.0)
        if kind == "bad_body":
            return 200, {}, b"<html>upstream error</html>"
        if kind == "reject":
            return 400, {}, _error("This model's maximum context length is 8 tokens",
                                   "context_length_exceeded")
        if body.get("response_format") and not self.json_schema:
            return 400, {}, _error("response_format is not supported", "invalid_request_error")
        if body.get("tools") and self.tools is False:
            return 400, {}, _error("tools are not supported", "invalid_request_error")
        return 200, {}, self._completion(body, kind)

    def _completion(self, body: dict[str, Any], kind: str | None) -> dict[str, Any]:
        if b.is_span_request(body):
            return self._span_completion(body, kind)
        messages = body.get("messages") or []
        text = b.task_text(messages, self.gold)
        labels, multiple = b.request_labels(body)
        labels = labels or self.labels
        mode = "tools" if body.get("tools") and self.tools is True else (
            "json_schema" if body.get("response_format") else "text")
        n = int(body.get("n") or 1) if self.n else 1
        sampled = n > 1 or body.get("seed") is not None
        choices = []
        for i in range(n):
            ans = b.answer(text, labels, self.gold.get(text), noise=self.noise, seed=self.seed,
                           confidence=self.confidence,
                           sample=(body.get("seed") or 0) * 1000 + i if sampled else None,
                           temperature=float(body.get("temperature") or 0.0))
            if kind == "outside":
                ans = b.Answer(["not-a-label"], {"not-a-label": 1.0})
            choices.append(self._choice(i, ans, mode, multiple, body, kind))
        prompt_tokens = sum(len(str(m.get("content") or "")) for m in messages) // 4 + 1
        completion = sum(len(c["_tokens"]) for c in choices)
        for c in choices:
            del c["_tokens"]
        return {"id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model", self.model),
                "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                          "total_tokens": prompt_tokens + completion}}

    def _choice(self, i: int, ans: b.Answer, mode: str, multiple: bool, body: dict[str, Any],
                kind: str | None) -> dict[str, Any]:
        if mode == "tools":
            args = json.dumps({"labels": ans.labels} if multiple else {"label": ans.labels[0]})
            return {"index": i, "finish_reason": "tool_calls", "logprobs": None,
                    "_tokens": [args],
                    "message": {"role": "assistant", "content": None, "tool_calls": [{
                        "id": f"call_{i}", "type": "function",
                        "function": {"name": body["tools"][0]["function"]["name"],
                                     "arguments": args}}]}}
        content, tokens = b.render(ans, mode, multiple)
        if kind == "malformed":
            content, tokens = content[: max(1, len(content) // 2)], [b.plain("x")]
        logprobs = None
        if body.get("logprobs") and self.logprobs and kind != "malformed":
            top = int(body.get("top_logprobs") or 0)
            logprobs = {"content": [dict(t, top_logprobs=t["top_logprobs"][:top])
                                    for t in tokens]}
        return {"index": i, "finish_reason": "stop", "logprobs": logprobs, "_tokens": tokens,
                "message": {"role": "assistant", "content": content}}


    def _span_completion(self, body: dict[str, Any], kind: str | None) -> dict[str, Any]:
        messages = body.get("messages") or []
        text = b.task_text(messages, self.entities)
        labels = b.span_labels(body) or sorted({str(x[1]) for v in self.entities.values()
                                                for x in v})
        tools = bool(body.get("tools")) and self.tools is True
        n = int(body.get("n") or 1) if self.n else 1
        sampled = n > 1 or body.get("seed") is not None
        choices = []
        for i in range(n):
            entities = b.span_answer(
                text, self.entities.get(text), seed=self.seed, confidence=self.confidence,
                sample=(body.get("seed") or 0) * 1000 + i if sampled else None,
                temperature=float(body.get("temperature") or 0.0))
            if kind == "outside":
                entities = [(t, "not-a-label") for t, _ in entities] or [("x", "not-a-label")]
            content, tokens = b.render_spans(entities, labels, self.confidence)
            if kind == "malformed":
                content, tokens = content[: max(1, len(content) // 2)], [b.plain("x")]
            if tools:
                choices.append({"index": i, "finish_reason": "tool_calls", "logprobs": None,
                                "message": {"role": "assistant", "content": None, "tool_calls": [{
                                    "id": f"call_{i}", "type": "function", "function": {
                                        "name": body["tools"][0]["function"]["name"],
                                        "arguments": content}}]}})
                continue
            logprobs = None
            if body.get("logprobs") and self.logprobs and kind != "malformed":
                top = int(body.get("top_logprobs") or 0)
                logprobs = {"content": [dict(t, top_logprobs=t["top_logprobs"][:top])
                                        for t in tokens]}
            choices.append({"index": i, "finish_reason": "stop", "logprobs": logprobs,
                            "message": {"role": "assistant", "content": content}})
        prompt_tokens = sum(len(str(m.get("content") or "")) for m in messages) // 4 + 1
        completion = sum(len(str(c["message"].get("content") or "")) // 4 + 1 for c in choices)
        return {"id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model", self.model),
                "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                          "total_tokens": prompt_tokens + completion}}


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "code": code, "param": None}}


if __name__ == "__main__":  # the child process of FakeLLM(in_process=False)
    child = FakeLLM(**json.loads(sys.stdin.read())).start()
    print(child.port, flush=True)
    while True:
        time.sleep(3600)
