"""The input layer's rules: what every value a client sends must be before labelloop uses it.

One set of rules for paths, query strings and bodies (the HTTP API, the Label Studio protocol
and webhooks alike), so that no input reaches storage or arithmetic in a shape that fails there:

* **JSON** (:func:`read_json`): JSON in UTF-8, at most :data:`MAX_DEPTH` levels deep, every number
  finite as a float (no ``NaN``/``Infinity``, nothing like ``1e400`` or ``10**400`` that
  overflows), keys of at most :data:`MAX_KEY_CHARS` and strings of at most
  :data:`MAX_STRING_CHARS` characters. Anything else is :class:`MalformedBody` (HTTP 400).
* **Ids** (:func:`id_of`, :data:`Id`): positive 63-bit integers, given as a JSON integer or as a
  string of ASCII digits without sign, blank or leading zero (``"١٢"``, ``"-5"``, ``"²"`` and
  ``"9223372036854775808"`` are refused). Label Studio's project key ``"<id>.<timestamp>"``
  (:data:`ProjectKey`) reads as its id.
* **Numbers** (:data:`Number`): finite floats (JSON integers included, booleans not).

Pure functions, plus pydantic types (``Annotated``) that apply the same functions in FastAPI's
path and query parameters and in the request-body models of :mod:`labelloop.api.bodies`; their
JSON schema (the OpenAPI spec's) says the same thing as their validator.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

from labelloop.errors import InvalidInput, MalformedBody

MAX_ID = 2**63 - 1
MAX_DEPTH = 64
MAX_KEY_CHARS = 1024
MAX_STRING_CHARS = 16 * 1024 * 1024
MAX_FLOAT = 1.7976931348623157e308


def _up_to(bound: str) -> str:
    """A regex for the decimal numbers 1..``bound`` written without leading zero."""
    n = len(bound)
    alts = [f"[1-9][0-9]{{0,{n - 2}}}"]  # fewer digits than the bound
    for i, ch in enumerate(bound):  # same length: equal up to i, smaller at i, anything after
        low = 1 if i == 0 else 0
        if int(ch) > low:
            rest = f"[0-9]{{{n - i - 1}}}" if n - i - 1 else ""
            alts.append(f"{bound[:i]}[{low}-{int(ch) - 1}]{rest}")
    alts.append(bound)
    return "(?:" + "|".join(alts) + ")"


ID_RE = _up_to(str(MAX_ID))
ID_PATTERN = f"^{ID_RE}$"
"""An id as a string: exactly the numbers 1..2^63-1 in ASCII digits (the OpenAPI pattern too)."""
PROJECT_KEY_PATTERN = rf"^{ID_RE}(?:\.[0-9.]{{0,40}})?$"
"""Label Studio's ``"<id>.<created_at timestamp>"`` project key (the id alone is one too)."""
_ID = re.compile(ID_PATTERN)
_PROJECT_KEY = re.compile(PROJECT_KEY_PATTERN)


# --- JSON ------------------------------------------------------------------------------------
def read_json(raw: bytes) -> Any:
    """The JSON value of a request body, or :class:`MalformedBody` saying what is wrong."""
    if not raw.strip():
        raise MalformedBody("the request body is empty; a JSON object is expected")
    try:
        value = json.loads(raw.decode("utf-8"))  # UTF-8 only: what is stored is what came
    except RecursionError:
        raise MalformedBody(f"the JSON is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise MalformedBody(f"the request body is not valid JSON: {str(exc)[:200]}") from None
    check_json(value)
    return value


def check_json(value: Any) -> None:
    """Depth, finiteness and sizes of a parsed JSON value (without recursion)."""
    if not isinstance(value, (dict, list)):
        _check_scalars([value])
        return
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise MalformedBody(f"the JSON is nested more than {MAX_DEPTH} levels deep")
        if type(item) is dict:
            if item and max(map(len, item)) > MAX_KEY_CHARS:
                raise MalformedBody(f"a key is longer than {MAX_KEY_CHARS} characters")
            values: Any = item.values()
        else:
            values = item
        scalars = []
        for v in values:
            if type(v) is dict or type(v) is list:
                stack.append((v, depth + 1))
            else:
                scalars.append(v)
        _check_scalars(scalars)


_BIG_INT = 2**1000  # beyond it, check whether float() overflows


def _finite(number: float) -> bool:
    try:
        return math.isfinite(float(number))
    except OverflowError:  # an integer beyond the float range
        return False


def _check_scalars(values: list[Any]) -> None:
    for v in values:
        t = type(v)
        if t is str:
            if len(v) > MAX_STRING_CHARS:
                raise MalformedBody(f"a string is longer than {MAX_STRING_CHARS} characters")
        elif (t is float and not math.isfinite(v)) or (
                t is int and not -_BIG_INT < v < _BIG_INT and not _finite(v)):
            raise MalformedBody("numbers must be finite: NaN, Infinity and numbers beyond "
                                f"±{MAX_FLOAT:.4g} are refused")


# --- ids and numbers -------------------------------------------------------------------------
def id_of(value: object, what: str = "id") -> int:
    """An id: an integer (not a boolean) or a string of ASCII digits, in 1..2^63-1."""
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be an integer id, got a boolean")
    if isinstance(value, str):
        if not _ID.fullmatch(value):
            raise InvalidInput(f"{what} must be an id (1..{MAX_ID} in ASCII digits), "
                               f"got {value!r:.60}")
        return int(value)
    if not isinstance(value, int):
        raise InvalidInput(f"{what} must be an integer id, got {type(value).__name__}: "
                           f"{value!r:.60}")
    if not 1 <= value <= MAX_ID:
        raise InvalidInput(f"{what} must lie in 1..{MAX_ID}, got {value!s:.60}")
    return value


def project_key_id(value: object, what: str = "project") -> int:
    """The id in ``"12.1700000000"`` (Label Studio's project key), ``"12"``, ``12`` or
    ``{"id": 12}``."""
    if isinstance(value, dict):
        return id_of(value.get("id"), f"{what}.id")
    if isinstance(value, str) and "." in value:
        if not _PROJECT_KEY.fullmatch(value):
            raise InvalidInput(f"{what} must be \"<id>.<timestamp>\" or an id, got {value!r:.60}")
        value = value.split(".", 1)[0]
    return id_of(value, what)


def number_of(value: object, what: str = "number") -> float:
    """A finite float from a JSON number (not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
        raise InvalidInput(f"{what} must be a finite number, got {value!r:.60}")
    return float(value)


def _pydantic(check: Any) -> Any:
    """A pydantic validator from a check that raises :class:`InvalidInput`."""
    def validate(value: object) -> Any:
        try:
            return check(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
    return PlainValidator(validate)


_ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
Id = Annotated[int, _pydantic(id_of), WithJsonSchema(_ID_SCHEMA)]
"""An id in a path, a query string or a body (always an integer in the spec)."""


def _key(value: object) -> str | int:
    if isinstance(value, str) and "." in value:
        project_key_id(value)
        return value
    return id_of(value, "project")


ProjectKey = Annotated[str | int, _pydantic(_key), WithJsonSchema({"anyOf": [
    _ID_SCHEMA, {"type": "string", "pattern": PROJECT_KEY_PATTERN}]})]
"""Label Studio's project key as sent (``"12.1700000000"``, ``12`` or ``"12"``), checked."""


def _ref(value: object) -> object:
    project_key_id(value)
    return value


ProjectRef = Annotated[Any, _pydantic(_ref), WithJsonSchema({"anyOf": [
    _ID_SCHEMA, {"type": "string", "pattern": PROJECT_KEY_PATTERN},
    {"type": "object", "properties": {"id": _ID_SCHEMA}, "required": ["id"]}]})]
"""A project as Label Studio refers to it: a key, an id or an object with ``id``."""

Number = Annotated[float, _pydantic(number_of), WithJsonSchema(
    {"type": "number", "minimum": -MAX_FLOAT, "maximum": MAX_FLOAT})]
"""A finite number."""


def bounded_int(low: int, high: int, what: str = "value") -> Any:
    """An integer in ``low..high``: a JSON integer or a query string of ASCII digits."""
    pattern = re.compile(r"-?[0-9]{1,19}")

    def check(value: object) -> int:
        if isinstance(value, str) and pattern.fullmatch(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(f"{what} must be an integer in {low}..{high}, got {value!r:.60}")
        return value

    return Annotated[int, _pydantic(check),
                     WithJsonSchema({"type": "integer", "minimum": low, "maximum": high})]
