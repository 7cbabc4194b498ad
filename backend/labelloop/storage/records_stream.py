"""Records of the production stream (issue 17): items received, their decisions, the drift
measured on them, and the model artefacts the served model loads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# ignored: not selected; pending: selected, waiting to become a Label Studio task; sending: an
# import was attempted and its outcome is not known yet; created: a Label Studio task exists;
# failed: Label Studio refused the item itself (a 4xx for it alone), parked so it cannot hold up
# the project's other items; deciding: stored, not decided yet (``stream_decide="deferred"``: the
# stream_decide job decides it, :mod:`labelloop.stream.decide`), reason :data:`DECIDING`
StreamStatus = Literal["ignored", "pending", "sending", "created", "failed", "deciding"]
DECIDING = "deciding"  # the reason (and status) of an item stored and not decided yet


@dataclass(frozen=True)
class StreamItemRow:
    """One received item with its decision, as ingest stores it (one transaction per batch)."""

    key: str
    data: dict[str, Any]
    prediction: list[str] | None  # the production model's label(s), as sent
    feedback: Literal["negative", "positive", "correction"] | None
    correction: list[str] | None
    selected: bool
    reason: str  # why selected or not (docs/stream.md lists the reasons)
    utility: float | None = None  # the decision rule's score of the item
    threshold: float | None = None  # the adaptive threshold it was compared with
    model_label: str | None = None  # labelloop's screening model's label, when one exists
    model_p: float | None = None  # ... and its probability
    model_version: str | None = None


@dataclass(frozen=True)
class StreamDecision:
    """The decision the stream_decide job stores on an item ingest left undecided."""

    id: int
    selected: bool
    reason: str
    utility: float | None
    threshold: float | None
    model_label: str | None = None
    model_p: float | None = None
    model_version: str | None = None


@dataclass(frozen=True)
class StreamItem:
    """A stored stream item."""

    id: int
    project_id: int
    key: str
    data: dict[str, Any]
    prediction: list[str] | None
    feedback: str | None
    correction: list[str] | None
    selected: bool
    reason: str
    utility: float | None
    threshold: float | None
    model_label: str | None
    model_p: float | None
    model_version: str | None
    received_at: float
    status: StreamStatus
    ls_task_id: int | None = None
    sent_at: float | None = None
    attempts: int = 0


@dataclass(frozen=True)
class StreamCounts:
    received: int = 0
    selected: int = 0
    pending: int = 0
    sending: int = 0
    created: int = 0
    failed: int = 0
    deciding: int = 0  # stored, waiting for the stream_decide job (deferred mode)
    by_reason: dict[str, int] = field(default_factory=dict)  # every item, by decision reason
    first_at: float | None = None
    last_at: float | None = None


@dataclass(frozen=True)
class DriftRecord:
    """One drift measurement of a project's recent traffic against its labelled set."""

    project_id: int
    measured_at: float
    window_items: int  # recent stream items measured
    window_from: float  # received_at of the oldest / newest of them
    window_to: float
    reference_items: int  # labelled tasks they were compared with
    statistic: float  # the embedding two-sample statistic (MMD^2, RBF kernel)
    threshold: float  # its permutation threshold at the configured alpha
    p_value: float
    drifting: bool
    label_shift: float | None = None  # total variation between predicted-label distributions
    label_p_value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
