"""A probability distribution over the labels, from token logprobs or from votes.

Logprobs: the answer's label value starts at some token; at each token the server lists the most
likely alternatives (``top_logprobs``). Walking the chosen path, an alternative that can only
begin one label gives that label its probability (times the probability of the path so far); an
alternative shared by several labels is split evenly among them; one that begins no label is
mass outside the set and is dropped. The walk ends when the chosen path singles out one label.
The result is renormalised over the labels. Labels the server never listed get 0.

Votes: the share of samples that chose each label (for multiple choice, the share of samples
that included it).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

Tokens = list[dict[str, Any]]


def _value_start(content: str, json_key: str | None) -> tuple[int, str] | None:
    """Offset where the label value starts in ``content``, and the text that ends a value."""
    if json_key is None:
        m = re.match(r"\s*[\"'`*]*", content)
        return (m.end() if m else 0), ""
    m = re.search(r'"' + re.escape(json_key) + r'"\s*:\s*"', content)
    return (m.end(), '"') if m else None


def _consistent(cand: str, forms: dict[str, str], end: str, fold: bool) -> list[str]:
    """Labels whose written form is compatible with the prefix ``cand``."""
    c = cand.casefold() if fold else cand
    out = []
    for label, form in forms.items():
        f = form.casefold() if fold else form
        if f.startswith(c):
            out.append(label)
        elif c.startswith(f):
            rest = c[len(f):]
            if (end and rest.startswith(end)) or (not end and (not rest or not rest[0].isalnum())):
                out.append(label)
    return out


def _piece(token: str, lead: str, strip: bool) -> str:
    piece = token[len(lead):]
    return piece.lstrip() if strip else piece


def _spelled(tokens: Tokens, content: str) -> str | None:
    """The answer as the tokens spell it, when they cover ``content``: exactly, or with the
    whitespace around it that the server left out of ``content`` (llama.cpp strips the newlines
    a model writes after its JSON from the content, not from the logprobs). None otherwise."""
    if not tokens:
        return None
    joined = "".join(t["token"] for t in tokens)
    return joined if joined == content or joined.strip() == content else None


def distribution_from_logprobs(tokens: Tokens, content: str, values: Sequence[str], *,
                               json_key: str | None) -> dict[str, float] | None:
    """Probabilities of the label ``values`` (keyed by value), or None when the logprobs do not
    cover the answer. ``json_key``: the answer is JSON with the label under this key (None: the
    answer is the bare label)."""
    spelled = _spelled(tokens, content)
    if spelled is None:
        return None
    content = spelled
    start = _value_start(content, json_key)
    if start is None:
        return None
    return _distribution_at(tokens, content, start[0], start[1], values, json_mode=bool(json_key))


def span_label_distributions(tokens: Tokens, content: str, values: Sequence[str], *,
                             count: int) -> list[dict[str, float] | None] | None:
    """For an entities answer (JSON with ``count`` objects, each with a ``"label"``), the
    probabilities of the label ``values`` at each entity's label, in the answer's order; None
    when the logprobs do not cover the answer or its labels cannot be told apart."""
    spelled = _spelled(tokens, content)
    if spelled is None:
        return None
    content = spelled
    starts = [m.end() for m in re.finditer(r'"label"\s*:\s*"', content)]
    if len(starts) != count:
        return None
    return [_distribution_at(tokens, content, offset, '"', values, json_mode=True)
            for offset in starts]


def _distribution_at(tokens: Tokens, content: str, offset: int, end: str,
                     values: Sequence[str], *, json_mode: bool) -> dict[str, float] | None:
    """The walk of :func:`distribution_from_logprobs` from a value starting at ``offset``."""
    forms = {v: (json.dumps(v, ensure_ascii=False)[1:-1] if json_mode else v) for v in values}
    fold = not json_mode
    pos, idx = 0, 0
    while idx < len(tokens) and pos + len(tokens[idx]["token"]) <= offset:
        pos += len(tokens[idx]["token"])
        idx += 1
    lead = content[pos:offset]  # part of the first token before the value
    dist = dict.fromkeys(values, 0.0)
    prefix, mass, candidates = "", 1.0, dict(forms)
    while idx < len(tokens):
        tok = tokens[idx]
        alts = {str(a[0]): float(a[1]) for a in tok.get("top") or []}
        alts.setdefault(tok["token"], float(tok["logprob"]))
        chosen: list[str] = []
        for text, lp in alts.items():
            if not text.startswith(lead):
                continue
            labels = _consistent(prefix + _piece(text, lead, fold and not prefix),
                                 candidates, end, fold)
            if text == tok["token"]:
                chosen = labels
                continue
            for label in labels:
                dist[label] += mass * math.exp(lp) / len(labels)
        p = math.exp(float(tok["logprob"]))
        if len(chosen) <= 1:
            if chosen:
                dist[chosen[0]] += mass * p
            break
        mass *= p
        prefix += _piece(tok["token"], lead, fold and not prefix)
        candidates = {label: candidates[label] for label in chosen}
        lead = ""
        idx += 1
    total = sum(dist.values())
    if total <= 0 or not math.isfinite(total):
        return None
    return {k: v / total for k, v in dist.items()}


def distribution_from_votes(samples: Sequence[Sequence[str]], labels: Sequence[str], *,
                            multiple: bool) -> dict[str, float] | None:
    """Vote shares of ``labels`` over valid ``samples`` (each a list of chosen labels)."""
    if not samples:
        return None
    counts = dict.fromkeys(labels, 0.0)
    for chosen in samples:
        for label in set(chosen):
            if label in counts:
                counts[label] += 1.0
    n = float(len(samples))
    if multiple:
        return {k: v / n for k, v in counts.items()}
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else None


def choose(distribution: dict[str, float], *, multiple: bool,
           order: Sequence[str]) -> list[str]:
    """The labels a distribution stands for: the most likely one (ties: config order), or for
    multiple choice every label at 0.5 or more (at least the most likely one)."""
    best = max(order, key=lambda k: (distribution.get(k, 0.0), -order.index(k)))
    if not multiple:
        return [best]
    chosen = [k for k in order if distribution.get(k, 0.0) >= 0.5]
    return chosen or [best]


def confidence_of(distribution: dict[str, float], chosen: Sequence[str]) -> float:
    return float(sum(distribution.get(k, 0.0) for k in chosen) / max(1, len(chosen)))
