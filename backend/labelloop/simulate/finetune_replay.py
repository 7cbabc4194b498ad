"""``labelloop simulate --fine-tune``: the encoder's fine-tuning replayed at the product's label
counts, and what it gains.

The product fine-tunes a project's encoder at ``finetune_min_labels`` human labels and again
every ``finetune_every_n`` more (:func:`labelloop.loop.finetune_plan.finetune_due`);
:func:`finetune_counts` gives those counts up to a budget. At each count and seed, a random
labelled sample of the train split (the encoder's gain, not a selector's) trains the same
logistic regression twice — on frozen vectors and on the vectors of the encoder fine-tuned on
that sample (:func:`labelloop.embeddings.finetune.fine_tune_encoder`, the job's function) —
and both are scored on the test split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.embeddings.finetune import fine_tune_encoder
from labelloop.errors import InvalidInput
from labelloop.models.logistic import fit_local_model, predict


def finetune_counts(budget: int, *, min_labels: int, every_n: int) -> list[int]:
    """The label counts at which the product runs a round, up to ``budget``."""
    if min_labels < 1 or every_n < 1:
        raise InvalidInput("min_labels and every_n must be >= 1")
    return list(range(min_labels, budget + 1, every_n))


@dataclass
class FineTunePoint:
    labels: int
    frozen: list[float] = field(default_factory=list)
    tuned: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        gain = np.array(self.tuned) - np.array(self.frozen)
        return {"labels": self.labels, "frozen_accuracy": self.frozen,
                "tuned_accuracy": self.tuned, "gain_mean": float(gain.mean()),
                "cpu_seconds": self.cpu_seconds, "steps": self.steps}


def _encode(model: Any, texts: list[str]) -> np.ndarray:
    return np.asarray(model.encode(texts, batch_size=64, convert_to_numpy=True,
                                   normalize_embeddings=True, show_progress_bar=False),
                      dtype=np.float32)


def replay_fine_tune(texts: Sequence[str], y: np.ndarray, train: np.ndarray, test: np.ndarray,
                     frozen: np.ndarray, *, labels: Sequence[str], base: Path,
                     counts: Sequence[int], seeds: int, budget_s: float,
                     threads: int | None = None,
                     step: Callable[[], None] | None = None) -> list[FineTunePoint]:
    """Per count in ``counts`` (at most the train split's size), per seed: test accuracy of
    the regression on ``frozen`` vectors and on the fine-tuned encoder's. ``texts``, ``y``,
    ``frozen``: every item; ``train``/``test``: positions into them."""
    test_texts = [texts[i] for i in test.tolist()]
    out: list[FineTunePoint] = []
    for n in [c for c in counts if c <= train.size]:
        point = FineTunePoint(n)
        for seed in range(seeds):
            rng = np.random.default_rng([seed, n])
            picked = rng.choice(train, size=n, replace=False)
            if np.unique(y[picked]).size < 2:
                continue
            lr = fit_local_model(frozen[picked], y[picked], labels=labels)
            point.frozen.append(float((predict(lr, frozen[test]) == y[test]).mean()))
            sample = [texts[i] for i in picked.tolist()]
            model, stats = fine_tune_encoder(sample, y[picked], base=base, rng=rng,
                                             budget_s=budget_s, threads=threads)
            lr = fit_local_model(_encode(model, sample), y[picked], labels=labels)
            point.tuned.append(float((predict(lr, _encode(model, test_texts)) == y[test]).mean()))
            point.cpu_seconds.append(stats.cpu_seconds)
            point.steps.append(stats.steps)
            if step is not None:
                step()
        out.append(point)
    return out


def fine_tune_table(points: Sequence[FineTunePoint]) -> str:
    rows = ["| labels | frozen acc. | fine-tuned acc. | gain | CPU s per round | steps |",
            "|---|---|---|---|---|---|"]
    for p in points:
        if not p.tuned:
            continue
        f, t = np.array(p.frozen), np.array(p.tuned)
        rows.append(f"| {p.labels} | {f.mean():.3f} ± {f.std():.3f} | {t.mean():.3f} ± "
                    f"{t.std():.3f} | {(t - f).mean():+.3f} | {np.mean(p.cpu_seconds):.0f} | "
                    f"{np.mean(p.steps):.0f} |")
    return "\n".join(rows)
