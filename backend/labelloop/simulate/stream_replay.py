"""A labelled dataset replayed as a production stream (issue 17's benchmark).

Items arrive in a random order, in batches as a production service would post them, and go
through the product's own decision path, with the scoring model refitted on the labels so far
every ``retrain_every`` new labels, as a retrain does:

* ``scorer="embedding"`` (the default, as ``LABELLOOP_STREAM_DECIDE=deferred`` is): every
  ``decide_every`` items (one run of the ``stream_decide`` job) go through the job's own pure
  plan (:func:`labelloop.stream.decide_plan.sample_to_embed` and
  :func:`~labelloop.stream.decide_plan.plan_decisions`): the local model (logistic regression
  on the items' embeddings) scores the items embedded — all of them, or ``max_embed`` of a
  larger chunk, the rest deciding with utility -1 — and each batch is decided in turn;
* ``scorer="screen"`` (``LABELLOOP_STREAM_DECIDE=ingest``): each batch is scored by the
  screening model (:mod:`labelloop.models.screen`) on its texts, as ingest does, then
  :func:`~labelloop.selection.stream.stream_utility` and
  :func:`~labelloop.selection.stream.decide` within the budget. A selected item gets its gold label
(the human); nothing else is labelled. At the end the local model (logistic regression on the
items' embeddings, what retrain fits) is trained on the selected items and scored on a held-out
test split, against the same model trained on the same number of items picked uniformly from
the stream (the mean over ``uniform_draws`` such samples: the baseline's own sampling noise
would otherwise swamp a paired difference of a point or two).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from labelloop.loop.artifacts import MACHINE_WEIGHT
from labelloop.models.logistic import LocalModel, fit_local_model, predict, predict_proba
from labelloop.models.screen import ScreenModel, fit_screen, screen_proba
from labelloop.selection.stream import Budget, StreamState, decide, stream_utility
from labelloop.stream.decide_plan import plan_decisions, sample_to_embed


@dataclass(frozen=True)
class StreamReplayConfig:
    budget: float = 0.05  # share of items
    batch: int = 100  # items per post
    retrain_every: int = 20  # new labels between refits of the scoring model
    audit_share: float = 0.1
    scorer: Literal["screen", "embedding"] = "embedding"
    # embedding (deferred): items per run of the decision job, and items a run embeds at most
    decide_every: int = 100
    max_embed: int = 2000
    # the screening model also learns the local model's labels of this many recent stream
    # items not picked (0: the picks only, as a retrain of a stream-only project fits it).
    # Measured on Rotten Tomatoes, 3 seeds: 2,000 made the picks worse than uniform (-0.017)
    distill: int = 0
    uniform_draws: int = 5  # uniform samples averaged for the baseline (less noise per seed)


@dataclass(frozen=True)
class StreamReplayResult:
    n_stream: int
    n_selected: int
    accuracy_stream: float  # local model trained on the stream's picks, on the test split
    accuracy_uniform: float  # ... on as many uniform picks (the mean of uniform_draws samples)
    reasons: dict[str, int] = field(default_factory=dict)
    window_rates: tuple[float, float] = (0.0, 0.0)  # min, max selections per 1,000-item window
    # the screening model fitted on the stream's picks, on the test split's texts (when given):
    # how well the model whose uncertainty picks the items knows the task
    accuracy_screen: float | None = None


def _window_extremes(selected: np.ndarray, window: int = 1000) -> tuple[float, float]:
    if selected.size < window:
        return float(selected.mean()), float(selected.mean())
    c = np.concatenate([[0], np.cumsum(selected, dtype=np.int64)])
    counts = c[window:] - c[:-window]
    return float(counts.min() / window), float(counts.max() / window)


def _accuracy(x: np.ndarray, y: np.ndarray, picks: np.ndarray, x_test: np.ndarray,
              y_test: np.ndarray, labels: Sequence[str]) -> float:
    model = fit_local_model(x[picks], y[picks], labels=labels)
    return float((predict(model, x_test) == y_test).mean())


def _fit_screen(texts: Sequence[str], x: np.ndarray, y: np.ndarray, picks: np.ndarray,
                seen: int, *, labels: Sequence[str], distill: int) -> ScreenModel:
    """The screening model a retrain would fit at this point of the stream: the picks' gold
    labels (weight 1) and, with ``distill``, the local model's labels of the newest ``distill``
    items seen and not picked (weight ``MACHINE_WEIGHT`` x its probability)."""
    rows, targets, weights = picks, y[picks], np.ones(picks.size)
    if distill > 0:
        recent = np.setdiff1d(np.arange(max(0, seen - distill), seen), picks)
        if recent.size:
            local = fit_local_model(x[picks], y[picks], labels=labels)
            p = predict_proba(local, x[recent])
            rows = np.concatenate([picks, recent])
            targets = np.concatenate([targets, p.argmax(axis=1)])
            weights = np.concatenate([weights, MACHINE_WEIGHT * p.max(axis=1)])
    return fit_screen([texts[i] for i in rows], targets, labels=labels, multiple=False,
                      weights=weights)


def replay_stream(texts: Sequence[str], x: np.ndarray, y: np.ndarray, *, x_test: np.ndarray,
                  y_test: np.ndarray, labels: Sequence[str], config: StreamReplayConfig,
                  rng: np.random.Generator,
                  texts_test: Sequence[str] | None = None) -> StreamReplayResult:
    """Replay ``texts`` (embedded as ``x``, gold ``y`` as class positions) in a random order;
    see the module docstring. ``texts_test``: the test split's texts, for
    :attr:`StreamReplayResult.accuracy_screen`."""
    n = len(texts)
    order = rng.permutation(n)
    texts_o = [texts[i] for i in order]
    x_o, y_o = x[order], y[order]
    budget = Budget(mode="share", value=config.budget, feedback_share=0.0,
                    audit_share=config.audit_share)
    state = StreamState.new()
    selected = np.zeros(n, dtype=bool)
    reasons: dict[str, int] = {}
    labelled: list[int] = []
    fitted_at = 0
    screen: ScreenModel | None = None
    local: LocalModel | None = None
    no_feedback = np.zeros(max(config.batch, config.decide_every), dtype=bool)
    step = config.batch if config.scorer == "screen" else config.decide_every
    for start in range(0, n, step):
        stop = min(n, start + step)
        if len(labelled) - fitted_at >= config.retrain_every:
            idx = np.array(labelled)
            if config.scorer == "screen":
                screen = _fit_screen(texts_o, x_o, y_o, idx, start, labels=labels,
                                     distill=config.distill)
            else:
                local = fit_local_model(x_o[idx], y_o[idx], labels=labels)
            fitted_at = len(labelled)
        if config.scorer == "screen":
            proba = None if screen is None else screen_proba(screen, texts_o[start:stop])
            utilities = stream_utility(proba, rng=rng, n_items=stop - start)
            choices, state = decide(utilities, no_feedback[:stop - start], state,
                                    budget=budget, now=float(start), rng=rng,
                                    scorer=None if proba is None else "screen")
        else:  # the stream_decide job's plan over one run's chunk
            pos = sample_to_embed(stop - start, max_embed=config.max_embed, rng=rng) \
                if local is not None else np.zeros(0, dtype=np.int64)
            arrived = np.arange(start, stop) // config.batch * config.batch  # its post's time
            plan = plan_decisions(
                x_o[start:stop][pos], pos, no_feedback[:stop - start], state, model=local,
                scorer=None if local is None else "local", budget=budget,
                received_at=arrived.astype(float), rng=rng)
            choices, state = plan.choices, plan.state
        for offset, choice in enumerate(choices):
            reasons[choice.reason] = reasons.get(choice.reason, 0) + 1
            if choice.selected:
                selected[start + offset] = True
                labelled.append(start + offset)
    picks = np.flatnonzero(selected)
    uniform = [_accuracy(x_o, y_o, rng.choice(n, size=picks.size, replace=False), x_test,
                         y_test, labels) for _ in range(max(1, config.uniform_draws))]
    accuracy_screen = None
    if texts_test is not None:
        final = fit_screen([texts_o[i] for i in picks], y_o[picks], labels=labels,
                           multiple=False)
        accuracy_screen = float((screen_proba(final, texts_test).argmax(axis=1)
                                 == y_test).mean())
    return StreamReplayResult(
        n_stream=n, n_selected=int(picks.size), accuracy_screen=accuracy_screen,
        accuracy_stream=_accuracy(x_o, y_o, picks, x_test, y_test, labels),
        accuracy_uniform=float(np.mean(uniform)),
        reasons=reasons, window_rates=_window_extremes(selected))
