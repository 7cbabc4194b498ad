"""The body of ``POST /api/projects/{id}/stream``, checked item by item (pure).

``{"items": [{"key", "data", "prediction"?, "feedback"?, "correction"?}, ...]}``: a body that is
not such an object is refused whole (:class:`~labelloop.errors.InvalidInput`, 422), and so is a
batch of more than ``max_batch`` items (:class:`~labelloop.errors.PayloadTooLarge`, 413). Past
that, each item stands alone: a bad one becomes an :class:`ItemError` per failing field (its
position, its key when it has a readable one, the field and what is wrong) and the others go on
(:class:`Batch`). Labels are the project's output labels (:attr:`LabelSchema.labels`); for a
multiple-choice project ``prediction`` and ``correction`` are lists of them (a single label is
taken as a list of one).

A key repeated inside the batch counts once: its later copies are duplicates
(:attr:`Batch.repeats`), whatever their content.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

from labelloop.errors import InvalidInput, PayloadTooLarge
from labelloop.labelconfig.schema import LabelSchema
from labelloop.text import clean_json, is_clean

Feedback = Literal["negative", "positive", "correction"]
FEEDBACK: tuple[Feedback, ...] = ("negative", "positive", "correction")
MAX_KEY_CHARS = 256
FIELDS = frozenset({"key", "data", "prediction", "feedback", "correction"})
Fail = Callable[[str, str], None]  # (field, message)


@dataclass(frozen=True)
class ItemError:
    """One failing field of one item (``index``: its position in ``items``)."""

    index: int
    key: str | None
    field: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "key": self.key, "field": self.field,
                "message": self.message}


@dataclass(frozen=True)
class StreamInput:
    """A valid item, its data cleaned (:func:`labelloop.text.clean_json`)."""

    index: int
    key: str
    data: dict[str, Any]
    text: str  # data[schema.data_key]
    prediction: list[str] | None
    feedback: Feedback | None
    correction: list[str] | None


@dataclass(frozen=True)
class Batch:
    items: list[StreamInput]  # valid, first copy of each key, in arrival order
    errors: list[ItemError]
    repeats: int  # valid items whose key came earlier in the batch
    size: int  # len(items) of the body


def parse_batch(body: object, schema: LabelSchema, *, max_batch: int) -> Batch:
    """Check a parsed body against the project's ``schema`` (a text-classification one)."""
    if not isinstance(body, dict):
        raise InvalidInput(f'the body must be a JSON object {{"items": [...]}}, got '
                           f"{type(body).__name__}",
                           detail=[{"loc": ["body"], "msg": "expected an object"}])
    extra = sorted(set(body) - {"items"})
    if extra:
        raise InvalidInput(f"unknown field {extra[0]!r:.80}: the body is {{\"items\": [...]}}",
                           detail=[{"loc": ["body", k], "msg": "unknown field"} for k in extra])
    raw = body.get("items")
    if not isinstance(raw, list):
        got = "nothing" if raw is None else type(raw).__name__
        raise InvalidInput(f"'items' must be a list of items, got {got}",
                           detail=[{"loc": ["body", "items"], "msg": "expected a list"}])
    if len(raw) > max_batch:
        raise PayloadTooLarge(f"{len(raw)} items in one batch; at most {max_batch} "
                              "(LABELLOOP_STREAM_MAX_BATCH): send them in smaller batches")
    labels = frozenset(schema.labels)
    items: list[StreamInput] = []
    errors: list[ItemError] = []
    seen: set[str] = set()
    repeats = 0
    for index, entry in enumerate(raw):
        item, bad = parse_item(index, entry, schema, labels)
        errors.extend(bad)
        if item is None:
            continue
        if item.key in seen:
            repeats += 1
        else:
            seen.add(item.key)
            items.append(item)
    return Batch(items, errors, repeats, len(raw))


def parse_item(index: int, entry: object, schema: LabelSchema,
               labels: frozenset[str]) -> tuple[StreamInput | None, list[ItemError]]:
    """One item: the valid item, or None and every failing field."""
    if not isinstance(entry, dict):
        return None, [ItemError(index, None, "item", f"an item must be an object, got "
                                                     f"{type(entry).__name__}")]
    errors: list[ItemError] = []
    key_str, key_error = _key(entry.get("key"))

    def fail(field: str, message: str) -> None:
        errors.append(ItemError(index, key_str, field, message))

    if key_error is not None:
        fail("key", key_error)
    for name in sorted(set(entry) - FIELDS):
        fail(name, f"unknown field; an item has {', '.join(sorted(FIELDS))}")
    data, text = _data(entry.get("data"), schema.data_key, fail)
    prediction = _labels(entry.get("prediction"), "prediction", schema, labels, fail)
    feedback = entry.get("feedback")
    if feedback is not None and feedback not in FEEDBACK:
        fail("feedback", f"must be one of {', '.join(FEEDBACK)} (or absent), got {feedback!r:.60}")
        feedback = None
    correction = _labels(entry.get("correction"), "correction", schema, labels, fail)
    if feedback == "correction" and entry.get("correction") is None:
        fail("correction", 'required with feedback "correction": the right label(s)')
    elif entry.get("correction") is not None and feedback != "correction":
        fail("correction", 'only with feedback "correction"')
    if errors or key_str is None or data is None or text is None:
        return None, errors
    return StreamInput(index, key_str, data, text, prediction, cast(Feedback | None, feedback),
                       correction), []


def _key(value: object) -> tuple[str | None, str | None]:
    """``(key, None)``, or ``(None, why it is not one)``."""
    if value is None:
        return None, "required: a non-empty string that identifies the item"
    if not isinstance(value, str):
        return None, f"must be a string, got {type(value).__name__}"
    if not value:
        return None, "must not be empty"
    if len(value) > MAX_KEY_CHARS:
        return None, f"at most {MAX_KEY_CHARS} characters, got {len(value)}"
    if not is_clean(value):
        return None, "must not hold NUL or lone surrogates"
    return value, None


def _data(value: object, data_key: str | None,
          fail: Fail) -> tuple[dict[str, Any] | None, str | None]:
    if not isinstance(value, dict):
        fail("data", "required: an object" if value is None
             else f"must be an object, got {type(value).__name__}")
        return None, None
    text = value.get(data_key) if data_key else None
    if not isinstance(text, str) or not text.strip():
        what = "missing" if text is None else (
            "empty" if isinstance(text, str) else f"a {type(text).__name__}")
        fail(f"data.{data_key}", f"the project's text: a non-empty string, got {what}")
        return None, None
    cleaned, _ = clean_json(value)
    return cleaned, cleaned[data_key]


def _labels(value: object, field: str, schema: LabelSchema, labels: frozenset[str],
            fail: Fail) -> list[str] | None:
    """A label (single choice) or a list of distinct labels (multiple choice), as a list."""
    if value is None:
        return None
    given = [value] if isinstance(value, str) else value
    if not isinstance(given, list) or not all(isinstance(v, str) for v in given):
        want = "a label or a list of labels" if schema.multiple else "a label (a string)"
        fail(field, f"must be {want}, got {type(value).__name__}")
        return None
    if not given or (not schema.multiple and len(given) != 1):
        fail(field, "one label of the project" if not schema.multiple
             else "at least one label of the project")
        return None
    unknown = [v for v in given if v not in labels]
    if unknown:
        shown = ", ".join(schema.labels[:20]) + (", …" if len(labels) > 20 else "")
        fail(field, f"{unknown[0]!r:.80} is not a label of the project ({shown})")
        return None
    if len(set(given)) != len(given):
        fail(field, "a label is repeated")
        return None
    return list(given)
