"""Text normalised at the edge: what labelloop stores can be encoded, hashed and sent anywhere.

JSON lets a string hold what Unicode text cannot: a lone surrogate (``"\\udc80"``, which Label
Studio stores and sends back as given) cannot be encoded as UTF-8, so hashing it, embedding it,
sending it to an LLM or writing it to SQLite fails; NUL (``"\\u0000"``) cannot be stored by
PostgreSQL in text or JSON. :func:`clean_text` replaces each lone surrogate with U+FFFD (a
surrogate *pair* written as two code points becomes the character it encodes) and removes NUL;
:func:`clean_json` does that to every string of a JSON value, keys included.
:func:`escaped_original` is the value as it came, in a form any database stores (ASCII JSON).

Pure functions: every place tasks enter (webhooks, ``/predict``, the resync: all through
:func:`labelloop.events.parse.parse_task`) calls them.
"""

from __future__ import annotations

import json
from typing import Any

REPLACEMENT = "\ufffd"


def is_clean(text: str) -> bool:
    """True when ``text`` holds no NUL and no surrogate code point."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD and NUL removed (unchanged when clean)."""
    if is_clean(text):
        return text
    text = text.replace("\x00", "")
    if not text.isascii():
        # UTF-16 round trip: a pair of surrogate code points becomes one character, a lone
        # surrogate the replacement character
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def clean_json(value: Any) -> tuple[Any, bool]:
    """``(value with every string cleaned, whether anything changed)``; the input is not
    modified, and an unchanged value is returned as it is."""
    if isinstance(value, str):
        out = clean_text(value)
        return out, out is not value
    if isinstance(value, list):
        items = [clean_json(v) for v in value]
        if any(changed for _, changed in items):
            return [v for v, _ in items], True
        return value, False
    if isinstance(value, dict):
        pairs = [(clean_json(k), clean_json(v)) for k, v in value.items()]
        if any(kc or vc for (_, kc), (_, vc) in pairs):
            return {k: v for (k, _), (v, _) in pairs}, True
        return value, False
    return value, False


def escaped_original(value: Any) -> str:
    """``value`` as ASCII JSON: lone surrogates and NUL kept as ``\\u`` escapes."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def clean_task(task: dict[str, Any]) -> dict[str, Any]:
    """A parsed task (``{"id", "data", "meta", …}``) with ``data`` and ``meta`` cleaned; when
    that changed anything, ``"original"`` holds both as they came (:func:`escaped_original`),
    which storage keeps beside the task (``tasks.original``)."""
    data, data_changed = clean_json(task.get("data"))
    meta, meta_changed = clean_json(task.get("meta"))
    if not (data_changed or meta_changed):
        return task
    return {**task, "data": data, "meta": meta,
            "original": escaped_original({"data": task.get("data"), "meta": task.get("meta")})}
