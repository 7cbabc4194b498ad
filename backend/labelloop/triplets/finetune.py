"""Fine-tuning the encoder on judged triplets ``(anchor, positive, negative)``.

:func:`train_on_triplets` runs one optimiser over the triplets, a batch at a time, until they
are used ``epochs`` times or the time budget is spent (the process's CPU seconds by default,
checked before every step), with one of sentence-transformers' two triplet losses:

- ``"mnrl"`` — multiple negatives ranking loss: the anchor must pick its positive among the
  batch's positives and negatives (its own hard negative and every other triplet's texts).
  Strong when the corpus has many groups; with a handful of classes other triplets' positives
  are often of the anchor's class too, which blurs the signal.
- ``"triplet"`` — triplet loss on cosine distance: ``max(0, d(a, p) - d(a, n) + margin)``; only
  the triplet's own negative counts, and triplets already ordered by the margin add nothing.

:func:`fine_tune_on_triplets` loads the base encoder from local files (never downloads),
trains it and returns it with its :class:`~labelloop.embeddings.finetune.FineTuneStats`
(``pairs`` and ``positives`` there count triplets). Saving and reloading go through
:mod:`labelloop.embeddings.finetune` (``save_encoder``, ``load_encoder``). Randomness (order,
dropout) comes from ``rng``; torch's global generator is forked and its thread count put back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from labelloop.embeddings.base import check_texts
from labelloop.embeddings.finetune import FineTuneStats, budgeted_training, load_encoder
from labelloop.errors import InvalidInput

TripletLossName = Literal["mnrl", "triplet"]


def _loss(model: Any, loss: TripletLossName, margin: float) -> Any:
    from sentence_transformers.sentence_transformer import losses

    if loss == "mnrl":
        return losses.MultipleNegativesRankingLoss(model)
    if loss == "triplet":
        return losses.TripletLoss(model, distance_metric=losses.TripletDistanceMetric.COSINE,
                                  triplet_margin=margin)
    raise InvalidInput(f"loss must be 'mnrl' or 'triplet', got {loss!r}")


def _check(texts: list[str], triplets: np.ndarray) -> None:
    if triplets.ndim != 2 or triplets.shape[1] != 3 or triplets.shape[0] == 0:
        raise InvalidInput("triplets must be a non-empty list of (anchor, positive, negative)")
    if triplets.min() < 0 or triplets.max() >= len(texts):
        raise InvalidInput(f"triplet positions must be in [0, {len(texts)})")


def train_on_triplets(model: Any, texts: Sequence[str],
                      triplets: Sequence[tuple[int, int, int]], *, budget_s: float,
                      rng: np.random.Generator, loss: TripletLossName = "mnrl",
                      batch_size: int = 16, epochs: int = 1, lr: float = 2e-5,
                      margin: float = 0.1, threads: int | None = None,
                      clock: Callable[[], float] | None = None) -> FineTuneStats:
    """Train ``model`` (a loaded ``SentenceTransformer``, changed in place) on ``triplets`` of
    positions into ``texts`` for ``epochs`` passes or until ``budget_s`` seconds of ``clock``
    (default: the process's CPU time) have passed. AdamW, linear warm-up over the first 10 %
    of the planned steps, then linear decay. The model is left in eval mode."""

    items = check_texts(texts)
    rows_all = np.asarray(triplets, dtype=np.int64) if len(triplets) else \
        np.empty((0, 3), dtype=np.int64)
    _check(items, rows_all)
    if budget_s <= 0 or batch_size < 1 or epochs < 1 or lr <= 0:
        raise InvalidInput("budget_s and lr must be > 0, batch_size and epochs >= 1")
    count = rows_all.shape[0]
    return budgeted_training(
        model, count, lambda loss_fn, optimiser, rows: _step(
            model, loss_fn, optimiser, items, rows_all[rows]),
        make_loss=lambda: _loss(model, loss, margin), positives=count, budget_s=budget_s,
        rng=rng, batch_size=batch_size, lr=lr, epochs=epochs, threads=threads,
        clock=clock or time.process_time)


def _step(model: Any, loss_fn: Any, optimiser: Any, texts: list[str], batch: np.ndarray,
          ) -> float:
    """One optimiser step on a batch of triplets; the loss before the step."""
    import torch

    device = model.device
    prepare = getattr(model, "preprocess", None) or model.tokenize  # renamed in 6.x
    features = []
    for column in range(3):  # anchors, positives, negatives
        f = prepare([texts[i] for i in batch[:, column].tolist()])
        features.append({k: v.to(device) if isinstance(v, torch.Tensor) else v
                         for k, v in f.items()})
    optimiser.zero_grad()
    value = loss_fn(features, torch.zeros(batch.shape[0], device=device))  # labels unused
    value.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimiser.step()
    return float(value.detach())


def fine_tune_on_triplets(texts: Sequence[str], triplets: Sequence[tuple[int, int, int]], *,
                          base: Path, budget_s: float, rng: np.random.Generator,
                          loss: TripletLossName = "mnrl", batch_size: int = 16,
                          epochs: int = 1, lr: float = 2e-5, margin: float = 0.1,
                          threads: int | None = None,
                          clock: Callable[[], float] | None = None) -> tuple[Any, FineTuneStats]:
    """The encoder at ``base`` (local files only) trained on ``triplets`` of ``texts``
    (:func:`train_on_triplets`), and how the round went."""
    model = load_encoder(base)
    stats = train_on_triplets(model, texts, triplets, budget_s=budget_s, rng=rng, loss=loss,
                              batch_size=batch_size, epochs=epochs, lr=lr, margin=margin,
                              threads=threads, clock=clock)
    return model, stats
