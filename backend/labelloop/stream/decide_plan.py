"""The deferred decision's plan (``stream_decide="deferred"``): pure functions over arrays that
the ``stream_decide`` job (:mod:`labelloop.stream.decide`) and the stream replay
(:mod:`labelloop.simulate.stream_replay`) both run, so the benchmark measures what the product
does.

One run takes a chunk of undecided items in arrival order:

1. :func:`sample_to_embed`: which of them to embed — all of them when the chunk holds at most
   ``max_embed``, else a uniform random sample of ``max_embed`` (a backlog larger than one run
   can embed);
2. :func:`plan_decisions`: each item's utility — the local model's margin uncertainty on its
   embedding, raised where the production model's label disagrees
   (:func:`~labelloop.selection.stream.stream_utility`); ``-1`` for an item left out of the
   sample (or whose text could not be embedded), which never passes the threshold but can
   still be audit, feedback or the band's floor; uniform draws for every item when no model
   exists yet — then :func:`~labelloop.selection.stream.decide` over *all* the chunk's items in
   arrival order, one call per ingest batch (items received at the same time) so that a daily
   budget counts each batch at its own time. The ring of past utilities is kept per scorer
   kind (``scorer``: "local"; None: the uniform draws): the first model starts a new ring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelloop.models.logistic import LocalModel, predict_proba
from labelloop.selection.errors import InvalidStreamInput
from labelloop.selection.stream import Budget, StreamChoice, StreamState, decide, stream_utility

NOT_SCORED = -1.0  # the utility of an item the run did not embed


@dataclass(frozen=True)
class DecidePlan:
    """Per item of the chunk, in order: its choice, and the model's label (position in
    ``model.labels``; -1: not scored) and probability; the state to store."""

    choices: list[StreamChoice]
    state: StreamState
    label: np.ndarray  # (n,) int
    probability: np.ndarray  # (n,) float, NaN where not scored


def sample_to_embed(n: int, *, max_embed: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of the ``n`` items to embed: all of them when ``n <= max_embed``, else a
    uniform sample of ``max_embed`` (no draw from ``rng`` in the first case)."""
    if n < 0 or max_embed < 1:
        raise InvalidStreamInput(f"n must be >= 0 and max_embed >= 1, got {n}, {max_embed}")
    if n <= max_embed:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=max_embed, replace=False)).astype(np.int64)


def plan_decisions(x: np.ndarray, scored: np.ndarray, feedback: np.ndarray, state: StreamState,
                   *, model: LocalModel | None, scorer: str | None, budget: Budget,
                   received_at: np.ndarray, rng: np.random.Generator,
                   production: np.ndarray | None = None) -> DecidePlan:
    """Decide a chunk of ``n`` items in arrival order.

    ``x`` ``(m, d)``: the embeddings of the items at positions ``scored`` ``(m,)`` (sorted,
    unique); ``feedback`` ``(n,)`` bool (negative feedback or a correction); ``received_at``
    ``(n,)`` non-decreasing: items received together are decided as one batch at that time;
    ``production`` ``(n,)`` the production model's label position in ``model.labels`` (-1:
    none). ``model`` None: uniform utilities for all items (``x`` and ``scored`` unused)."""
    fb = np.asarray(feedback, dtype=bool)
    n = fb.size
    at = np.asarray(received_at, dtype=float)
    if at.shape != (n,) or (n and np.any(np.diff(at) < 0)):
        raise InvalidStreamInput(f"received_at must be ({n},) and non-decreasing")
    label = np.full(n, -1, dtype=np.int64)
    probability = np.full(n, np.nan)
    if model is None:
        utilities = stream_utility(None, rng=rng, n_items=n)
    else:
        pos = np.asarray(scored, dtype=np.int64)
        if pos.ndim != 1 or (pos.size and (pos.min() < 0 or pos.max() >= n
                                           or np.any(np.diff(pos) <= 0))):
            raise InvalidStreamInput(f"scored must be sorted unique positions in 0 … {n - 1}")
        if len(x) != pos.size:
            raise InvalidStreamInput(f"x holds {len(x)} rows for {pos.size} scored positions")
        utilities = np.full(n, NOT_SCORED)
        if pos.size:
            proba = predict_proba(model, np.asarray(x, dtype=np.float32))
            prod = None if production is None else np.asarray(production, dtype=np.int64)[pos]
            utilities[pos] = stream_utility(proba, production=prod, rng=rng,
                                            multi_label=model.multi_label)
            label[pos] = proba.argmax(axis=1)
            probability[pos] = proba[np.arange(pos.size), label[pos]]
    choices: list[StreamChoice] = []
    start = 0
    while start < n:  # one decide() per ingest batch, at its time
        stop = start + int(np.searchsorted(at[start:], at[start], side="right"))
        got, state = decide(utilities[start:stop], fb[start:stop], state, budget=budget,
                            now=float(at[start]), rng=rng, scorer=scorer)
        choices.extend(got)
        start = stop
    return DecidePlan(choices, state, label, probability)


__all__ = ["NOT_SCORED", "DecidePlan", "plan_decisions", "sample_to_embed"]
