"""SetFit-style fine-tuning of the text encoder on pairs built from labels.

Labelled texts become pairs: two texts with the same label are a positive pair (target cosine
1), two with different labels a negative one (target 0). :func:`build_pairs` draws them,
half and half, from a seeded generator, at most ``max_pairs``; :func:`train_on_pairs` runs
sentence-transformers' ``CosineSimilarityLoss`` over them, a batch at a time, until the pairs
are used up or the time budget is spent (the process's CPU seconds by default, checked before
every step: a round never outlives its budget by more than one step), and says how far it got.

Why ``CosineSimilarityLoss``: it is SetFit's recipe, and it takes explicit negatives. Multiple
negatives ranking loss takes every other text of a batch as a negative, which with 2-3 classes
makes most of them false negatives (same class), and contrastive loss needs a margin tuned per
model; cosine regression on balanced pairs needs neither.

:func:`fine_tune_encoder` loads the base model from local files (never downloads), trains a
copy, and returns it with its :class:`FineTuneStats`. :func:`save_encoder` writes it under a
folder named by its content hash (:func:`directory_hash`); loading that folder again gives the
same vectors bit for bit.

Randomness (pairs, their order, dropout) comes from the ``rng`` passed in; torch's global
generator is forked, so the caller's torch state is untouched. Torch's thread count is set for
the run and put back afterwards.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from labelloop.embeddings.base import EmbeddingModelUnavailable, check_texts
from labelloop.errors import InvalidInput

DEFAULT_MAX_PAIRS = 4000
PAIRS_PER_TEXT = 20  # SetFit's num_iterations: 20 pairs drawn per labelled text


@dataclass(frozen=True)
class Pairs:
    """Positions into the texts: ``a[i]`` and ``b[i]`` with ``target[i]`` 1.0 (same label) or
    0.0 (different labels)."""

    a: np.ndarray
    b: np.ndarray
    target: np.ndarray

    def __len__(self) -> int:
        return int(self.a.size)

    @property
    def positives(self) -> int:
        return int((self.target > 0.5).sum())


@dataclass(frozen=True)
class FineTuneStats:
    """How a round went: ``steps`` optimiser steps over ``pairs`` pairs (``epochs``: pairs seen
    / pairs), ``stopped`` ``"done"`` (every planned pair used) or ``"budget"`` (time ran out),
    wall and process CPU seconds, and the mean loss of the first and last ten steps (of
    each half, with fewer than twenty)."""

    steps: int
    pairs: int
    positives: int
    epochs: float
    stopped: Literal["done", "budget"]
    seconds: float
    cpu_seconds: float
    loss_first: float
    loss_last: float

    def to_json(self) -> dict[str, Any]:
        return {"steps": self.steps, "pairs": self.pairs, "positives": self.positives,
                "epochs": round(self.epochs, 4), "stopped": self.stopped,
                "seconds": round(self.seconds, 3), "cpu_seconds": round(self.cpu_seconds, 3),
                "loss_first": self.loss_first, "loss_last": self.loss_last}


def build_pairs(y: np.ndarray, *, rng: np.random.Generator, max_pairs: int = DEFAULT_MAX_PAIRS,
                per_text: int = PAIRS_PER_TEXT) -> Pairs:
    """Balanced pairs over ``y`` ``(n,)`` (any integer class ids): ``min(max_pairs, per_text
    * n)`` pairs, half positive (an anchor drawn uniformly among texts whose class has another
    text, its partner uniformly among the others of its class) and half negative (anchor
    uniformly, partner uniformly among texts of other classes). :class:`InvalidInput` when no
    class has two texts or there is only one class."""
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise InvalidInput(f"y must be one class id per text, got shape {labels.shape}")
    if max_pairs < 2 or per_text < 1:
        raise InvalidInput("max_pairs must be >= 2 and per_text >= 1")
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if classes.size < 2 or counts.max() < 2:
        raise InvalidInput("pairs need two classes and a class with two texts")
    n = labels.size
    total = min(max_pairs, per_text * n)
    n_pos, n_neg = total // 2, total - total // 2
    order = np.argsort(inverse, kind="stable")  # texts grouped by class
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - start[inverse[order]]  # a text's place within its class
    eligible = np.flatnonzero(counts[inverse] >= 2)
    a_pos = rng.choice(eligible, size=n_pos)
    c = inverse[a_pos]
    shift = rng.integers(1, counts[c])  # never 0: the partner is another text
    b_pos = order[start[c] + (rank[a_pos] + shift) % counts[c]]
    a_neg = rng.integers(0, n, size=n_neg)
    c = inverse[a_neg]
    r = rng.integers(0, n - counts[c])  # a position among the texts outside the class
    b_neg = order[np.where(r < start[c], r, r + counts[c])]
    a = np.concatenate([a_pos, a_neg]).astype(np.int64)
    b = np.concatenate([b_pos, b_neg]).astype(np.int64)
    target = np.concatenate([np.ones(n_pos), np.zeros(n_neg)]).astype(np.float32)
    return Pairs(a, b, target)


def train_on_pairs(model: Any, texts: Sequence[str], pairs: Pairs, *, budget_s: float,
                   rng: np.random.Generator, batch_size: int = 16, lr: float = 2e-5,
                   epochs: int = 1, threads: int | None = None,
                   clock: Callable[[], float] = time.process_time) -> FineTuneStats:
    """Train ``model`` (a loaded ``SentenceTransformer``, changed in place) on ``pairs`` of
    ``texts`` with cosine-similarity loss for ``epochs`` passes or until ``budget_s`` seconds
    of ``clock`` have passed, whichever comes first (default: the process's CPU time, so a
    loaded machine does not cut the round short; the wall time is reported beside it). AdamW, linear warm-up over the first 10 %
    of the planned steps then linear decay (SetFit's schedule). The model is left in eval
    mode."""
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

    items = check_texts(texts)
    if budget_s <= 0 or batch_size < 1 or epochs < 1:
        raise InvalidInput("budget_s must be > 0, batch_size and epochs >= 1")
    if len(pairs) == 0:
        raise InvalidInput("no pairs to train on")
    return budgeted_training(
        model, len(pairs), lambda loss_fn, optimiser, rows: _step(
            model, loss_fn, optimiser, items, pairs, rows),
        make_loss=lambda: CosineSimilarityLoss(model), positives=pairs.positives,
        budget_s=budget_s, rng=rng, batch_size=batch_size, lr=lr, epochs=epochs,
        threads=threads, clock=clock)


def budgeted_training(model: Any, count: int, step: Callable[[Any, Any, np.ndarray], float], *,
                      make_loss: Callable[[], Any], positives: int, budget_s: float,
                      rng: np.random.Generator, batch_size: int, lr: float, epochs: int,
                      threads: int | None, clock: Callable[[], float]) -> FineTuneStats:
    """The optimisation loop of every encoder fine-tune (pairs here, triplets in
    :mod:`labelloop.triplets.finetune`): ``epochs`` passes over ``count`` training rows in
    batches drawn from ``rng``, ``step(loss_fn, optimiser, rows)`` running one optimiser step
    and returning its loss, until the rows are used up or ``budget_s`` seconds of ``clock``
    have passed (checked before every step). AdamW, linear warm-up over the first 10 % of the
    planned steps then linear decay (SetFit's schedule); torch's generator forked and seeded
    from ``rng``, its thread count set for the run and put back; the model left in eval
    mode."""
    import torch

    started, wall_started, cpu_started = clock(), time.perf_counter(), time.process_time()
    planned = -(-count // batch_size) * epochs
    warmup = max(1, planned // 10)
    losses: list[float] = []
    seen = 0
    stopped: Literal["done", "budget"] = "done"
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(0, 2**31 - 1)))
            loss_fn = make_loss()
            optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
            schedule = torch.optim.lr_scheduler.LambdaLR(
                optimiser, lambda s: min((s + 1) / warmup,
                                         max(0.0, (planned - s) / max(1, planned - warmup))))
            model.train()
            for _ in range(epochs):
                idx = rng.permutation(count)
                for start in range(0, count, batch_size):
                    if clock() - started >= budget_s:
                        stopped = "budget"
                        break
                    rows = idx[start:start + batch_size]
                    losses.append(step(loss_fn, optimiser, rows))
                    schedule.step()
                    seen += rows.size
                if stopped == "budget":
                    break
    finally:
        model.eval()
        if threads is not None:
            torch.set_num_threads(previous_threads)
    k = max(1, min(10, len(losses) // 2))  # the first and last ten steps, or halves
    first = float(np.mean(losses[:k])) if losses else float("nan")
    last = float(np.mean(losses[-k:])) if losses else float("nan")
    return FineTuneStats(len(losses), count, positives, seen / count, stopped,
                         time.perf_counter() - wall_started, time.process_time() - cpu_started,
                         first, last)


def _step(model: Any, loss_fn: Any, optimiser: Any, texts: list[str], pairs: Pairs,
          rows: np.ndarray) -> float:
    """One optimiser step on the pairs at ``rows``; the loss before the step."""
    import torch

    device = model.device
    prepare = getattr(model, "preprocess", None) or model.tokenize  # renamed in 6.x
    left = prepare([texts[i] for i in pairs.a[rows].tolist()])
    right = prepare([texts[i] for i in pairs.b[rows].tolist()])
    features = [{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in f.items()}
                for f in (left, right)]
    target = torch.tensor(pairs.target[rows], dtype=torch.float32, device=device)
    optimiser.zero_grad()
    loss = loss_fn(features, target)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimiser.step()
    return float(loss.detach())


def load_encoder(path: Path, *, device: str = "cpu") -> Any:
    """A ``SentenceTransformer`` from a local folder only (never downloads)."""
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise EmbeddingModelUnavailable(f"{path} does not hold a sentence-transformers model")
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(path), device=device, local_files_only=True)
    except OSError as exc:
        raise EmbeddingModelUnavailable(f"cannot load the encoder at {path}: {exc}") from exc


def fine_tune_encoder(texts: Sequence[str], y: np.ndarray, *, base: Path,
                      rng: np.random.Generator, budget_s: float,
                      max_pairs: int = DEFAULT_MAX_PAIRS, threads: int | None = None,
                      batch_size: int = 16, lr: float = 2e-5,
                      llm: tuple[Sequence[str], np.ndarray] | None = None,
                      use_llm: bool = False,
                      clock: Callable[[], float] = time.process_time
                      ) -> tuple[Any, FineTuneStats]:
    """A copy of the encoder at ``base`` fine-tuned on pairs of ``texts`` labelled ``y``
    (:func:`build_pairs`, :func:`train_on_pairs`), and how the round went. ``llm``: (texts,
    class ids) of confident LLM labels, added to the texts pairs are drawn from only when
    ``use_llm`` (off by default: whether LLM labels help is the distillation's call)."""
    items, labels = check_texts(texts), np.asarray(y)
    if labels.shape != (len(items),):
        raise InvalidInput(f"{len(items)} texts but y has shape {labels.shape}")
    if use_llm and llm is not None:
        items = items + check_texts(llm[0])
        labels = np.concatenate([labels, np.asarray(llm[1])])
    pairs = build_pairs(labels, rng=rng, max_pairs=max_pairs)
    model = load_encoder(base)
    stats = train_on_pairs(model, items, pairs, budget_s=budget_s, rng=rng,
                           batch_size=batch_size, lr=lr, threads=threads, clock=clock)
    return model, stats


def directory_hash(path: Path) -> str:
    """SHA-256 over a folder's files: each relative path and its bytes, in sorted order."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class SavedEncoder:
    path: Path
    sha256: str


def save_encoder(model: Any, root: Path) -> SavedEncoder:
    """Write ``model`` (no model card: it would hold the date) to ``root/<first 16 hex of its
    content hash>``, written to a temporary folder first and renamed, so the folder is either
    whole or absent; an identical one already there is kept."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{uuid.uuid4().hex}"
    try:
        model.save(str(tmp), create_model_card=False)
        sha = directory_hash(tmp)
        final = root / sha[:16]
        if final.is_dir() and directory_hash(final) == sha:
            return SavedEncoder(final, sha)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        return SavedEncoder(final, sha)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
