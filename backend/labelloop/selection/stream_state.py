"""The stream budget manager's state (:mod:`labelloop.selection.stream`): small, immutable, and
JSON with an exact round trip, so that storage keeps it in one row per project.

Its size is bounded: the last ``WINDOW`` utilities (float32, base64 in JSON: ~5.4 kB), the
ordinals of the selections among the last ``WINDOW - 1`` items, 24 hourly item counts and, in
per-day mode only, the times of the last 24 h's selections (at most the daily budget).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from labelloop.selection.errors import InvalidStreamInput

WINDOW = 1000  # items per budget window
DAY = 86_400.0
HOUR = 3_600.0
VERSION = 1


@dataclass(frozen=True)
class StreamState:
    """``seen``: items decided so far (the next item's ordinal). ``utilities``: the last
    ``WINDOW`` utilities as little-endian float32 bytes, oldest first. ``selected`` /
    ``feedback``: ordinals of the selections (of the "feedback" ones) among the last
    ``WINDOW - 1`` items. ``day_selected`` / ``day_feedback``: their times over the last 24 h
    (per-day budgets only). ``hour_counts``: items received per hour for the 24 hours up to
    ``hour`` (``floor(now / 3600)`` of the last batch), newest last. ``first_at``: the first
    item's time. ``threshold``: the last adaptive threshold (None: none yet, or closed).
    ``scorer``: the kind of model that scored the utilities in the ring ("screen", "local";
    None: no model, the uniform draws) — a ring scored by another kind is on another scale."""

    seen: int = 0
    utilities: bytes = b""
    selected: tuple[int, ...] = ()
    feedback: tuple[int, ...] = ()
    day_selected: tuple[float, ...] = ()
    day_feedback: tuple[float, ...] = ()
    hour: int | None = None
    hour_counts: tuple[int, ...] = ()
    first_at: float | None = None
    threshold: float | None = None
    scorer: str | None = None

    @classmethod
    def new(cls) -> StreamState:
        return cls()

    def utility_array(self) -> np.ndarray:
        return np.frombuffer(self.utilities, dtype="<f4")

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION, "seen": self.seen,
            "utilities": base64.b64encode(self.utilities).decode("ascii"),
            "selected": list(self.selected), "feedback": list(self.feedback),
            "day_selected": list(self.day_selected), "day_feedback": list(self.day_feedback),
            "hour": self.hour, "hour_counts": list(self.hour_counts),
            "first_at": self.first_at, "threshold": self.threshold, "scorer": self.scorer,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StreamState:
        """The state :meth:`to_json` wrote; ``InvalidStreamInput`` for anything else."""
        try:
            if d.get("version") != VERSION:
                raise ValueError(f"version {d.get('version')!r}")
            raw = base64.b64decode(d["utilities"], validate=True)
            if len(raw) % 4 or len(raw) > 4 * WINDOW:
                raise ValueError("utilities")
            state = cls(
                seen=_int(d["seen"]), utilities=raw,
                selected=tuple(_int(x) for x in d["selected"]),
                feedback=tuple(_int(x) for x in d["feedback"]),
                day_selected=tuple(_float(x) for x in d["day_selected"]),
                day_feedback=tuple(_float(x) for x in d["day_feedback"]),
                hour=None if d["hour"] is None else _int(d["hour"]),
                hour_counts=tuple(_int(x) for x in d["hour_counts"]),
                first_at=None if d["first_at"] is None else _float(d["first_at"]),
                threshold=None if d["threshold"] is None else _float(d["threshold"]),
                scorer=_scorer(d.get("scorer")))  # states stored before it have none
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as e:
            raise InvalidStreamInput(f"not a stream state: {e}") from e
        if not np.isfinite(state.utility_array()).all():
            raise InvalidStreamInput("not a stream state: non-finite utilities")
        return state


def _int(x: object) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError(f"{x!r} is not an int")
    return x


def _scorer(x: object) -> str | None:
    if x is not None and not isinstance(x, str):
        raise TypeError(f"{x!r} is not a scorer name")
    return x


def _float(x: object) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise TypeError(f"{x!r} is not a finite number")
    return float(x)


def hour_counts(state: StreamState, now: float, n: int) -> tuple[int, tuple[int, ...]]:
    """The hourly counts moved on to ``now``'s hour, with ``n`` new items added to it."""
    hour = math.floor(now / HOUR)
    counts = list(state.hour_counts) if state.hour is not None else []
    if state.hour is not None and hour > state.hour:
        counts.extend([0] * min(hour - state.hour, 24))
    counts = ([0] * 24 + counts)[-24:]
    counts[-1] += n
    return max(hour, state.hour if state.hour is not None else hour), tuple(counts)


def traffic_per_day(counts: tuple[int, ...], elapsed: float) -> float:
    """Items a day estimated from the hourly counts, over the time covered (at least an hour)."""
    covered = min(max(elapsed / HOUR, 1.0), 24.0)
    return sum(counts) * 24.0 / covered
