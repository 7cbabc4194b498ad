"""What the fake LLM server answers (see ``llm_server.FakeLLM``): pure functions of the request
and the server's configuration, deterministic for a given seed."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CHUNK = 4  # characters per fake token of a label


def unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from ``parts``."""
    h = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") / 2**64


def task_text(messages: Sequence[Mapping[str, Any]], gold: Mapping[str, Any]) -> str:
    """The text being labeled: the last ``<text>…</text>`` block of the last user message, or
    else the longest gold text the message contains."""
    users = [m for m in messages if m.get("role") == "user"]
    content = str(users[-1].get("content") or "") if users else ""
    for m in reversed(messages):  # a retry conversation: the text is in the first user turn
        if m.get("role") == "user" and "<text>" in str(m.get("content")):
            content = str(m["content"])
            break
    blocks = re.findall(r"<text>\n?(.*?)\n?</text>", content, flags=re.DOTALL)
    if blocks:
        return blocks[-1]
    inside = [t for t in gold if t and t in content]
    return max(inside, key=len) if inside else content


def request_labels(body: Mapping[str, Any]) -> tuple[list[str] | None, bool]:
    """The label enum from the response_format or tool schema, and whether it is an array."""
    schema = None
    rf = body.get("response_format") or {}
    if rf.get("type") == "json_schema":
        schema = rf.get("json_schema", {}).get("schema")
    elif body.get("tools"):
        schema = body["tools"][0].get("function", {}).get("parameters")
    if not schema:
        return None, False
    prop = next(iter(schema.get("properties", {}).values()), {})
    if prop.get("type") == "array":
        return list(prop.get("items", {}).get("enum") or []), True
    return list(prop.get("enum") or []), False


@dataclass(frozen=True)
class Answer:
    labels: list[str]
    probs: dict[str, float]  # the "model's" distribution over single-choice labels


def answer(text: str, labels: list[str], gold: Any, *, noise: float, seed: int,
           confidence: float, sample: int | None, temperature: float) -> Answer:
    """The answer for ``text``: gold (flipped with probability ``noise``, decided per text);
    samples at temperature > 0 leave it with probability ``1 - confidence``."""
    if isinstance(gold, (list, tuple)):
        return Answer([g for g in gold if g in labels] or labels[:1], {})
    base = gold if gold in labels else labels[0]
    if noise and unit(seed, "flip", text) < noise:
        others = [x for x in labels if x != base]
        base = others[int(unit(seed, "to", text) * len(others))]
    if sample is not None and temperature > 0 and unit(seed, "s", text, sample) >= confidence:
        others = [x for x in labels if x != base]
        base = others[int(unit(seed, "o", text, sample) * len(others))]
    rest = (1.0 - confidence) / max(1, len(labels) - 1)
    return Answer([base], {x: (confidence if x == base else rest) for x in labels})


def chunks(s: str) -> list[str]:
    return [s[i:i + CHUNK] for i in range(0, len(s), CHUNK)] or [""]


def value_tokens(chosen: str, probs: dict[str, float]) -> list[dict[str, Any]]:
    """Tokens of ``chosen`` with top logprobs: at each position the alternatives are the next
    chunks of the labels sharing the chosen prefix, with conditional probabilities."""
    out = []
    pieces = chunks(chosen)
    for i, piece in enumerate(pieces):
        prefix = "".join(pieces[:i])
        alive = {x: p for x, p in probs.items() if "".join(chunks(x)[:i]) == prefix
                 and len(chunks(x)) > i}
        mass = sum(alive.values()) or 1.0
        alts: dict[str, float] = {}
        for x, p in alive.items():
            alts[chunks(x)[i]] = alts.get(chunks(x)[i], 0.0) + p / mass
        lp = {t: math.log(max(p, 1e-12)) for t, p in alts.items()}
        top = [{"token": t, "logprob": v, "bytes": None}
               for t, v in sorted(lp.items(), key=lambda kv: -kv[1])]
        out.append({"token": piece, "logprob": lp.get(piece, 0.0), "bytes": None,
                    "top_logprobs": top})
    return out


def plain(token: str) -> dict[str, Any]:
    return {"token": token, "logprob": 0.0, "bytes": None,
            "top_logprobs": [{"token": token, "logprob": 0.0, "bytes": None}]}


def render(ans: Answer, mode: str, multiple: bool) -> tuple[str, list[dict[str, Any]]]:
    """Content and its logprob tokens for ``mode`` (json_schema or text)."""
    if multiple:
        content = json.dumps({"labels": ans.labels}) if mode == "json_schema" \
            else ", ".join(ans.labels)
        return content, [plain(content)]
    value_toks = value_tokens(ans.labels[0], ans.probs) if ans.probs else [plain(ans.labels[0])]
    if mode == "text":
        return ans.labels[0], value_toks
    toks = [plain('{"'), plain("label"), plain('":'), plain(' "'), *value_toks, plain('"}')]
    return "".join(t["token"] for t in toks), toks


# --- text spans --------------------------------------------------------------------------
def is_span_request(body: Mapping[str, Any]) -> bool:
    """An entities request: its schema has ``entities``, or (plain-text mode) its prompt asks
    for the entities JSON."""
    rf = body.get("response_format") or {}
    schema = rf.get("json_schema", {}).get("schema") if rf.get("type") == "json_schema" else None
    if schema is None and body.get("tools"):
        schema = body["tools"][0].get("function", {}).get("parameters")
    if schema:
        return "entities" in (schema.get("properties") or {})
    return any('{"entities": [' in str(m.get("content") or "") for m in body.get("messages") or [])


def span_labels(body: Mapping[str, Any]) -> list[str] | None:
    """The label enum of an entities request's schema (None in plain-text mode)."""
    rf = body.get("response_format") or {}
    schema = rf.get("json_schema", {}).get("schema") if rf.get("type") == "json_schema" else None
    if schema is None and body.get("tools"):
        schema = body["tools"][0].get("function", {}).get("parameters")
    if not schema:
        return None
    item = schema["properties"]["entities"].get("items", {})
    return list(item.get("properties", {}).get("label", {}).get("enum") or [])


def span_answer(text: str, gold: Sequence[Sequence[str]] | None, *, seed: int,
                confidence: float, sample: int | None,
                temperature: float) -> list[tuple[str, str]]:
    """The gold entities of ``text`` (mention, label), as given (absent mentions and labels
    outside the set included); a sample at temperature > 0 leaves each out with probability
    ``1 - confidence``."""
    out = [(str(t), str(label)) for t, label in (gold or [])]
    if sample is not None and temperature > 0:
        out = [e for i, e in enumerate(out) if unit(seed, "span", text, sample, i) < confidence]
    return out


def render_spans(entities: Sequence[tuple[str, str]], labels: Sequence[str],
                 confidence: float) -> tuple[str, list[dict[str, Any]]]:
    """The entities JSON and its tokens; each label's value tokens carry top logprobs with
    ``confidence`` on the label given and the rest spread over the other labels."""
    toks = [plain('{"entities": [')]
    for i, (mention, label) in enumerate(entities):
        others = [x for x in labels if x != label]
        probs = {label: confidence, **{x: (1 - confidence) / max(1, len(others))
                                       for x in others}}
        if i:
            toks.append(plain(", "))
        toks += [plain('{"text": '), plain(json.dumps(mention)), plain(', "label": "'),
                 *value_tokens(label, probs), plain('"}')]
    toks.append(plain("]}"))
    return "".join(t["token"] for t in toks), toks
