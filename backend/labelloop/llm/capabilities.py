"""What an endpoint supports, detected once per (endpoint, model) and stored.

Servers differ: OpenAI and vLLM take ``response_format`` with a JSON schema, logprobs and ``n``;
llama.cpp's server takes the schema and logprobs but answers ``n`` with one choice; Ollama
ignores ``n``; some servers refuse ``response_format`` or tools with a 400. Detection sends a tiny
yes/no question: structured output with logprobs, then without; then a forced tool call; then
plain text. The first mode the server accepts wins (for tools: and answers with a tool call,
which llama.cpp does not do for models without a tool-call chat template); logprobs count as supported when the answer
carries them; ``n`` when asking for two choices gives two. A later 400 in the stored mode makes
the labeler probe again (a 400 about one long prompt must not downgrade the endpoint).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from labelloop.labelconfig.schema import Choice, LabelSchema
from labelloop.llm.answers import build_request
from labelloop.llm.calls import CallRunner
from labelloop.llm.errors import LLMRejected
from labelloop.llm.media_parts import Capability
from labelloop.llm.prompts import answer_format
from labelloop.llm.types import OutputMode

MODES: tuple[OutputMode, ...] = ("json_schema", "tools", "text")
MEDIA_KINDS: tuple[Capability, ...] = ("image", "audio")
PROBE_SCHEMA = LabelSchema(supported=True, task_type="text_classification", from_name="probe",
                           to_name="text", data_key="text",
                           choices=(Choice("yes", "yes"), Choice("no", "no")))


@dataclass(frozen=True)
class MediaSupport:
    """Whether the endpoint takes one kind of media (``image``: images and video frames;
    ``audio``: ``input_audio``), as its check found (:mod:`labelloop.llm.media_caps`), and
    why not."""

    kind: Capability
    ok: bool
    reason: str | None = None
    checked_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason, "checked_at": self.checked_at}


@dataclass(frozen=True)
class Capabilities:
    output_mode: OutputMode
    logprobs: bool
    n: bool
    notes: tuple[str, ...] = ()
    media: tuple[MediaSupport, ...] = ()  # checked on the first media item of each kind

    def media_support(self, kind: Capability) -> MediaSupport | None:
        """What the check of ``kind`` found; None: not checked yet."""
        return next((m for m in self.media if m.kind == kind), None)

    def with_media(self, support: MediaSupport) -> Capabilities:
        rest = tuple(m for m in self.media if m.kind != support.kind)
        return replace(self, media=(*rest, support))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"output_mode": self.output_mode, "logprobs": self.logprobs,
                               "n": self.n, "notes": list(self.notes)}
        if self.media:
            out["media"] = {m.kind: m.to_json() for m in self.media}
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Capabilities | None:
        if d.get("output_mode") not in MODES:
            return None
        stored = d.get("media")
        media: dict[str, Any] = stored if isinstance(stored, dict) else {}
        return cls(d["output_mode"], bool(d.get("logprobs")), bool(d.get("n")),
                   tuple(d.get("notes") or ()),
                   tuple(MediaSupport(k, bool(v.get("ok")), v.get("reason"), v.get("checked_at"))
                         for k in MEDIA_KINDS if isinstance(v := media.get(k), dict)))


def probe_messages(mode: OutputMode) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "Answer the question with yes or no. "
             + answer_format(PROBE_SCHEMA, mode)},
            {"role": "user", "content": "Is water wet?"}]


async def probe(runner: CallRunner, mode: OutputMode, *, logprobs: bool, top_logprobs: int,
                n: int = 1, temperature: float = 0.0) -> dict[str, Any]:
    """One uncached probe call; returns the response as JSON. Raises LLMRejected on a 400."""
    request = build_request(PROBE_SCHEMA, probe_messages(mode), mode=mode, logprobs=logprobs,
                            top_logprobs=top_logprobs, n=n, temperature=temperature)
    response, _ = await runner.call(request, purpose="probe", use_cache=False)
    return response.to_json()


async def detect(runner: CallRunner, *, top_logprobs: int, sample_temperature: float,
                 modes: tuple[OutputMode, ...] = MODES,
                 keep_media: tuple[MediaSupport, ...] = ()) -> Capabilities:
    """Probe the endpoint. Raises LLMRejected when it refuses even plain text. ``keep_media``:
    media checks made before, carried over (they do not depend on the output mode)."""
    notes: list[str] = []
    found: tuple[OutputMode, bool] | None = None
    for mode in modes:
        for want_logprobs in (True, False):
            try:
                resp = await probe(runner, mode, logprobs=want_logprobs,
                                   top_logprobs=top_logprobs)
            except LLMRejected as exc:
                what = f"{mode}{' with logprobs' if want_logprobs else ''}"
                notes.append(f"{what} rejected: {exc.message[:160]}")
                continue
            choices = resp["choices"]
            if mode == "tools" and not (choices and choices[0].get("tool_arguments")):
                notes.append("tools accepted but answered without a tool call")
                if mode != modes[-1]:
                    break  # try the next mode; when forced, keep it (answers read strictly)
            has = bool(want_logprobs and choices and choices[0].get("logprobs"))
            if want_logprobs and not has:
                notes.append(f"{mode}: accepted logprobs but returned none")
            found = (mode, has)
            break
        if found:
            break
    if found is None:
        raise LLMRejected("the LLM server rejected every request form: " + "; ".join(notes))
    mode, has_logprobs = found
    try:
        resp = await probe(runner, mode, logprobs=False, top_logprobs=top_logprobs, n=2,
                           temperature=sample_temperature)
        n_ok = len(resp["choices"]) >= 2
    except LLMRejected as exc:
        notes.append(f"n=2 rejected: {exc.message[:160]}")
        n_ok = False
    if not n_ok:
        notes.append("n>1 not honoured: self-consistency samples are separate calls")
    return Capabilities(mode, has_logprobs, n_ok, tuple(notes), media=keep_media)
