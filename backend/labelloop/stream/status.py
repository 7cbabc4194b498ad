"""A project's production stream as ``/status``, ``labelloop status`` and the dashboard show it.

:func:`stream_status` reads (the counts, the newest :data:`RATE_WINDOW` items' decisions, the
latest drift record); :func:`stream_summary` and :func:`drift_summary` are pure and put it in
figures and plain words, as the stopping signal is (:mod:`labelloop.quality.stopping`):

- ``received``, ``selected`` (by reason), ``deciding`` (stored, waiting for the deferred
  decision's job), ``pending`` / ``sending`` / ``created`` (waiting for
  Label Studio, being sent, tasks made), the ``budget`` (``LABELLOOP_STREAM_BUDGET``) and the
  share of the last 1,000 items selected (``realised``);
- ``drift``: ``state`` ("stable", "drifting" or "not measured yet"), a ``sentence`` such as
  "Recent traffic (the last 500 items, 12:01–12:09 UTC) looks like the labelled set (MMD² 0.0012
  below its threshold 0.0031, p = 0.41); predicted labels moved by 4 %.", and its figures.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from labelloop.settings import Settings
from labelloop.storage.base import Tx
from labelloop.storage.records_stream import DriftRecord, StreamCounts

RATE_WINDOW = 1000  # the budget holds over any window of this many items (issue 17 §2)
MIN_DRIFT_ITEMS = 50  # labelloop.stream.drift_job.MIN_ITEMS (not imported: no numpy here)
# decide()'s reasons for an item it did not take (labelloop.selection.stream); every other
# reason selected its item
NOT_SELECTED = frozenset({"below_threshold", "budget_cap", "feedback_cap", "deciding"})
DriftState = Literal["stable", "drifting", "not measured yet"]


def selected_by_reason(counts: StreamCounts) -> dict[str, int]:
    """The selected items per decision reason, most first."""
    got = {r: n for r, n in counts.by_reason.items() if r not in NOT_SELECTED and n}
    return dict(sorted(got.items(), key=lambda kv: (-kv[1], kv[0])))


def budget_words(mode: Literal["share", "per_day"], value: float) -> str:
    if mode == "per_day":
        return f"{value:,.0f} items a day"
    return f"{_pct(value)} of items"


def _pct(x: float) -> str:
    """A share as a percentage: 5 %, 4.9 %, 0.25 %."""
    v = 100.0 * x
    if v == round(v):
        return f"{v:.0f} %"
    return f"{v:.1f} %" if v >= 1 else f"{v:.2g} %"


def _stat(x: float) -> str:
    return f"{x:.4f}" if abs(x) >= 1e-3 or x == 0 else f"{x:.1e}"


def _p(p: float) -> str:
    if p < 1e-3:
        return "p < 0.001"
    return f"p = {p:.2f}" if p >= 0.01 else f"p = {p:.3f}"


def _clock(t: float, *, day: bool) -> str:
    return time.strftime("%Y-%m-%d %H:%M" if day else "%H:%M", time.gmtime(t))


def window_words(record: DriftRecord, *, now: float) -> str:
    """"the last 500 items, 12:01–12:09 UTC" (with dates when the window is not all today)."""
    days = {time.strftime("%Y-%m-%d", time.gmtime(t))
            for t in (record.window_from, record.window_to, now)}
    day = len(days) > 1
    span = f"{_clock(record.window_from, day=day)}–{_clock(record.window_to, day=day)} UTC"
    return f"the last {record.window_items:,} items, {span}"


def drift_sentence(record: DriftRecord, *, now: float) -> str:
    labelled = record.details.get("reference_set", "labelled") == "labelled"
    ref = "the labelled set" if labelled else "the project's tasks"
    if record.drifting:
        verdict = f"has drifted from {ref} (MMD² {_stat(record.statistic)} above its " \
                  f"threshold {_stat(record.threshold)}, {_p(record.p_value)})"
    else:
        verdict = f"looks like {ref} (MMD² {_stat(record.statistic)} below its threshold " \
                  f"{_stat(record.threshold)}, {_p(record.p_value)})"
    if record.label_shift is None:
        labels = "predicted labels not compared (no screening-model labels or no human labels)"
    else:
        labels = f"predicted labels moved by {_pct(record.label_shift)}"
        if record.label_p_value is not None:
            labels += f" (χ² {_p(record.label_p_value)})"
    tail = "" if labelled else (f" Fewer than {MIN_DRIFT_ITEMS} tasks are labelled: the "
                                "project's tasks stand in for the labelled set.")
    return f"Recent traffic ({window_words(record, now=now)}) {verdict}; {labels}.{tail}"


def drift_summary(record: DriftRecord | None, *, received: int, every_n: int,
                  now: float) -> dict[str, Any]:
    """The ``drift`` block: state, sentence and figures (None where not measured)."""
    if record is None:
        why = (f"it needs {MIN_DRIFT_ITEMS} stream items with text ({received:,} so far)"
               if received < MIN_DRIFT_ITEMS else
               f"{received:,} stream items so far; it is measured every {every_n:,} new items")
        return {"state": "not measured yet", "sentence": f"Drift is not measured yet: {why}.",
                "measured_at": None, "window": None, "statistic": None, "threshold": None,
                "p_value": None, "label_shift": None, "label_p_value": None,
                "reference_items": None}
    state: DriftState = "drifting" if record.drifting else "stable"
    return {
        "state": state, "sentence": drift_sentence(record, now=now),
        "measured_at": record.measured_at,
        "window": {"items": record.window_items, "from": record.window_from,
                   "to": record.window_to},
        "statistic": record.statistic, "threshold": record.threshold,
        "p_value": record.p_value, "label_shift": record.label_shift,
        "label_p_value": record.label_p_value, "reference_items": record.reference_items,
        "reference_set": record.details.get("reference_set", "labelled"),
    }


def stream_summary(counts: StreamCounts, drift: DriftRecord | None, *, recent_items: int,
                   recent_selected: int, settings: Settings, now: float) -> dict[str, Any]:
    """The ``stream`` block of a project's status (pure)."""
    mode, value = settings.stream_budget_spec
    by_reason = selected_by_reason(counts)
    return {
        "received": counts.received,
        "selected": {"total": counts.selected, "by_reason": by_reason},
        "decisions": dict(counts.by_reason),
        "deciding": counts.deciding,
        "pending": counts.pending, "sending": counts.sending, "created": counts.created,
        "failed": counts.failed,
        "budget": {"setting": settings.stream_budget, "mode": mode, "value": value,
                   "words": budget_words(mode, value)},
        "realised": {"items": recent_items, "selected": recent_selected,
                     "rate": recent_selected / recent_items if recent_items else None},
        "first_at": counts.first_at, "last_at": counts.last_at,
        "drift": drift_summary(drift, received=counts.received, every_n=settings.drift_every_n,
                               now=now),
    }


def stream_status(tx: Tx, project_id: int, settings: Settings, *,
                  now: float | None = None) -> dict[str, Any]:
    """Read one project's stream and summarise it (:func:`stream_summary`)."""
    counts = tx.stream_counts(project_id)
    drift = tx.latest_drift(project_id) if counts.received else None
    recent = tx.recent_stream_items(project_id, limit=RATE_WINDOW) if counts.received else []
    recent = [it for it in recent if it.status != "deciding"]  # the rate of decided items
    return stream_summary(counts, drift, recent_items=len(recent),
                          recent_selected=sum(it.selected for it in recent), settings=settings,
                          now=time.time() if now is None else now)


def stream_lines(block: dict[str, Any]) -> list[str]:
    """The stream block in a few lines of text (``labelloop status``); none without items."""
    if not block.get("received"):
        return []
    sel = block["selected"]
    reasons = ", ".join(f"{r} {n:,}" for r, n in sel["by_reason"].items())
    real = block["realised"]
    rate = "–" if real["rate"] is None else _pct(real["rate"])
    return [
        f"stream: {block['received']:,} received, {sel['total']:,} selected"
        + (f" ({reasons})" if reasons else "")
        + (f", deciding {block['deciding']:,}" if block.get("deciding") else "")
        + (f"; waiting for Label Studio {block['pending']:,}, sending {block['sending']:,}, "
           f"created {block['created']:,}")
        + (f", refused by Label Studio {block['failed']:,}" if block.get("failed") else ""),
        (f"stream budget: {block['budget']['words']}; selected {rate} of the last "
         f"{real['items']:,} items"),
        f"drift: {block['drift']['state']}: {block['drift']['sentence']}",
    ]
