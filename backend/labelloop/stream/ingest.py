"""Ingest of production traffic: ``POST /api/projects/{id}/stream`` (and ``labelloop stream``).

One batch, in order:

1. the project (:class:`~labelloop.errors.UnknownProject` 404; a project labelloop does not
   serve, or not a text-classification one: :class:`~labelloop.errors.UnsupportedConfig` 422)
   and its newest screening model (:class:`~labelloop.stream.screen_cache.ScreenCache`), in one
   read transaction;
2. the body checked item by item (:func:`labelloop.stream.validate.parse_batch`);
3. the new items scored — the screening model's probabilities and the production model's label
   (:func:`labelloop.selection.stream.stream_utility`) — outside any write transaction: the
   CPU work never holds the write lock;
4. one write transaction: the project's stream state locked, the keys stored before found
   under the lock (a retry racing its first attempt included), each new item decided in
   arrival order (:func:`labelloop.selection.stream.decide`), stored with its decision, the
   state saved, a ``stream_export`` job queued when anything was selected (and Label Studio
   credentials exist for the project) and a ``drift`` job each time the project's received
   count crosses a multiple of ``drift_every_n``;
5. the worker woken after the commit.

``stream_decide="deferred"`` (the default) skips step 3 and the decision in step 4: the new
items are stored undecided (status and reason ``deciding``) in the same transaction, under the
same lock, and one ``stream_decide`` job is queued (:mod:`labelloop.stream.decide`), which
decides them a few seconds later on their embeddings; the answer says ``"deciding": n`` and
selects nothing yet. ``"ingest"``: the path above.

A key stored before, or repeated in the batch, is a duplicate: stored once, decided once, never
selected twice — a client retries a batch whose answer it did not get without harm.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from labelloop.errors import UnsupportedConfig
from labelloop.jobs.types import JobKind, JobSpec
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelstudio.access import GatewayProvider
from labelloop.quality.data import project_schema
from labelloop.selection.errors import InvalidStreamInput
from labelloop.selection.stream import Budget, StreamChoice, StreamState, decide, stream_utility
from labelloop.settings import Settings
from labelloop.storage.base import Storage, Tx
from labelloop.storage.records import Project
from labelloop.storage.records_stream import DECIDING, StreamItemRow
from labelloop.stream.screen_cache import ScreenCache
from labelloop.stream.validate import ItemError, StreamInput, parse_batch

if TYPE_CHECKING:
    from labelloop.models.screen import ScreenModel

log = logging.getLogger(__name__)
FIRST = ("negative", "correction")  # feedback that points at a mistake: taken first


def stream_export_spec(project_id: int) -> JobSpec:
    """One export of a project's selected items at a time (queued once: its dedupe key)."""
    key = f"stream_export:{project_id}"
    return JobSpec(JobKind.STREAM_EXPORT, project_id, dedupe_key=key, serial_key=key)


def stream_decide_spec(project_id: int) -> JobSpec:
    """One deferred decision of a project's stored items at a time (queued once)."""
    key = f"stream_decide:{project_id}"
    return JobSpec(JobKind.STREAM_DECIDE, project_id, dedupe_key=key, serial_key=key)


def drift_spec(project_id: int) -> JobSpec:
    return JobSpec(JobKind.DRIFT, project_id, dedupe_key=f"drift:{project_id}",
                   serial_key=f"drift:{project_id}")


@dataclass(frozen=True)
class IngestResult:
    received: int  # new items stored (and decided, unless deferred)
    selected: list[str]  # their keys that were selected (deferred: none yet)
    duplicates: int  # valid items not stored again: repeated in the batch or stored before
    accepted: list[str]  # every valid item's key (new or duplicate), in arrival order
    errors: list[ItemError] = field(default_factory=list)
    jobs: int = 0  # jobs queued
    deciding: int | None = None  # deferred mode: new items stored undecided (a job decides)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"received": self.received, "selected": self.selected,
                               "duplicates": self.duplicates}
        if self.deciding is not None:
            out["deciding"] = self.deciding
        if self.errors:
            out["accepted"] = self.accepted
            out["errors"] = [e.to_json() for e in self.errors]
        return out


@dataclass(frozen=True)
class _Scored:
    items: list[StreamInput]
    utilities: np.ndarray
    feedback: np.ndarray
    model_label: list[str | None]
    model_p: list[float | None]
    version: str | None


class StreamIngest:
    """Built once per app (:func:`labelloop.api.app.create_app`); thread-safe. ``seed``: each
    batch's generator from (seed, project, batch number), reproducible (tests); None: from the
    clock."""

    def __init__(self, storage: Storage, settings: Settings, *,
                 wake: Callable[[], None] = lambda: None, seed: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.settings = settings
        self.wake = wake
        self.seed = seed
        self.clock = clock
        self.budget = Budget.from_settings(settings)
        self.screens = ScreenCache(clock=time.monotonic)
        self.gateways = GatewayProvider(settings)  # its credentials only: no gateway is made
        self._batches = itertools.count()

    def rng(self, project_id: int) -> np.random.Generator:
        entropy = self.seed if self.seed is not None else time.time_ns()
        return np.random.default_rng(
            np.random.SeedSequence(entropy, spawn_key=(project_id, next(self._batches))))

    def ingest(self, project_id: int, body: object) -> IngestResult:
        """Check, score, decide and store one batch (see the module's docstring)."""
        with self.storage.read() as tx:
            project = tx.get_project(project_id)  # read once: the schema and the credentials
            schema = stream_schema_of(project, project_id)
            batch = parse_batch(body, schema, max_batch=self.settings.stream_max_batch)
            deferred = self.settings.stream_decide == "deferred"
            screen = self.screens.current(tx, project_id) \
                if batch.items and not deferred else None
        # an export job only where one could reach Label Studio (the settings' credentials, or
        # /setup's trusted ones); otherwise the selected items wait for the periodic timer
        exportable = self.gateways.credentials(project) is not None
        if deferred:
            received, jobs = self._store_undecided(project_id, batch.items)
            if jobs:
                self.wake()
            return IngestResult(received, [], len(batch.items) - received + batch.repeats,
                                [i.key for i in batch.items], batch.errors, jobs,
                                deciding=received)
        rng = self.rng(project_id)
        # keys stored before are found under the write lock only: one query per batch (a
        # retried batch's items are scored for nothing, which is rarer than a batch)
        scored = score(batch.items, schema, screen, rng=rng)
        received, selected, jobs = self._store(project_id, scored, rng, exportable=exportable)
        if jobs:
            self.wake()
        return IngestResult(received, selected, len(batch.items) - received + batch.repeats,
                            [i.key for i in batch.items], batch.errors, jobs)

    def _store(self, project_id: int, scored: _Scored, rng: np.random.Generator, *,
               exportable: bool = True) -> tuple[int, list[str], int]:
        if not scored.items:
            return 0, [], 0
        with self.storage.write() as tx:
            raw = tx.lock_stream_state(project_id)
            now = self.clock()  # under the lock: the batches of a project decided in time order
            known = tx.known_stream_keys(project_id, [i.key for i in scored.items])
            keep = np.array([i.key not in known for i in scored.items], dtype=bool)
            if not keep.any():
                return 0, [], 0
            state = load_state(project_id, raw)
            before = state.seen
            choices, state = decide(scored.utilities[keep], scored.feedback[keep], state,
                                    budget=self.budget, now=now, rng=rng,
                                    scorer=None if scored.version is None else "screen")
            idx = np.flatnonzero(keep)
            rows = [_row(scored, int(j), c) for j, c in zip(idx, choices, strict=True)]
            tx.add_stream_items(project_id, rows, at=now)
            after = state.seen
            tx.save_stream_state(project_id, state.to_json())
            selected = [r.key for r in rows if r.selected]
            jobs = 0
            if selected and exportable:
                jobs += tx.enqueue(stream_export_spec(project_id))[1]
            every = self.settings.drift_every_n
            if after // every > before // every:
                jobs += tx.enqueue(drift_spec(project_id))[1]
        return len(rows), selected, jobs

    def _store_undecided(self, project_id: int, items: list[StreamInput]) -> tuple[int, int]:
        """Deferred mode: the new items stored ``deciding`` under the stream-state lock (the
        keys stored before found under it, as :meth:`_store`) and one ``stream_decide`` job
        queued; (items stored, jobs queued). Nothing is scored: the job decides."""
        if not items:
            return 0, 0
        with self.storage.write() as tx:
            tx.lock_stream_state(project_id)
            now = self.clock()
            known = tx.known_stream_keys(project_id, [i.key for i in items])
            rows = [_undecided(i) for i in items if i.key not in known]
            if not rows:
                return 0, 0
            tx.add_stream_items(project_id, rows, at=now)
            jobs = tx.enqueue(stream_decide_spec(project_id))[1]
        return len(rows), int(jobs)


def _undecided(item: StreamInput) -> StreamItemRow:
    return StreamItemRow(key=item.key, data=item.data, prediction=item.prediction,
                         feedback=item.feedback, correction=item.correction, selected=False,
                         reason=DECIDING)


def load_state(project_id: int, raw: dict[str, Any] | None) -> StreamState:
    """The stored selection state; one that does not parse (written by another version) is
    started afresh, logged, rather than refusing every batch of the project."""
    if raw is None:
        return StreamState.new()
    try:
        return StreamState.from_json(raw)
    except InvalidStreamInput as exc:
        log.warning("project %s: stream state unreadable (%s): the budget window starts afresh",
                    project_id, exc)
        return StreamState.new()


def stream_schema(tx: Tx, project_id: int) -> LabelSchema:
    """The project's schema when the stream serves it (text classification)."""
    return stream_schema_of(tx.get_project(project_id), project_id)


def stream_schema_of(project: Project | None, project_id: int) -> LabelSchema:
    """:func:`stream_schema` of a project already read (None: unknown)."""
    schema = project_schema(project, project_id, what="production stream")
    if schema.task_type != "text_classification" or schema.modality != "text":
        what = schema.task_type if schema.modality == "text" else \
            f"{schema.modality} classification"
        raise UnsupportedConfig(f"project {project_id}: no production stream: it takes "
                                f"text classification projects, this one is {what}")
    return schema


def score(items: list[StreamInput], schema: LabelSchema,
          screen: tuple[str, ScreenModel] | None, *, rng: np.random.Generator) -> _Scored:
    """Utilities of ``items`` from the screening model (uniform without one) and the production
    model's labels; pure CPU, no storage."""
    n = len(items)
    feedback = np.array([i.feedback in FIRST for i in items], dtype=bool)
    if n == 0:
        return _Scored([], np.zeros(0), feedback, [], [], None)
    if screen is None:
        utilities = stream_utility(None, rng=rng, n_items=n)
        return _Scored(items, utilities, feedback,
                       [None] * n, [None] * n, None)
    from labelloop.models.screen import screen_proba  # imported with the cached model

    version, model = screen
    labels = list(model.labels)
    proba = screen_proba(model, [i.text for i in items])
    position = {label: k for k, label in enumerate(labels)}
    production = np.array([position.get(i.prediction[0], -1)
                           if i.prediction is not None and len(i.prediction) == 1 else -1
                           for i in items], dtype=np.int64)
    utilities = stream_utility(proba, production=production, rng=rng,
                               multi_label=schema.multiple)
    best = proba.argmax(axis=1)
    return _Scored(items, np.asarray(utilities, dtype=float), feedback,
                   [labels[int(b)] for b in best],
                   [float(proba[r, int(b)]) for r, b in enumerate(best)], version)


def _row(scored: _Scored, j: int, choice: StreamChoice) -> StreamItemRow:
    item = scored.items[j]
    return StreamItemRow(
        key=item.key, data=item.data, prediction=item.prediction, feedback=item.feedback,
        correction=item.correction, selected=choice.selected, reason=choice.reason,
        utility=float(choice.utility), threshold=choice.threshold,
        model_label=scored.model_label[j], model_p=scored.model_p[j],
        model_version=scored.version)


__all__ = ["IngestResult", "StreamIngest", "drift_spec", "load_state", "score",
           "stream_decide_spec", "stream_export_spec", "stream_schema"]
