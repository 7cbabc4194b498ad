"""The text-spans learner (NER): a token model on human spans, its uncertainty and its
disagreement with the LLM, and :func:`labelloop.selection.spans.rank_span_pool`.

1. **Train** the token model (:func:`labelloop.models.tokens.fit_token_model`) on the consensus
   spans of the labeled tasks (a task labeled "no entities" is a training sentence too). No
   model while no labeled task holds a span: it would know nothing.
2. **Predict** every task with text: the model's spans as a :class:`MachineLabel` (per-span
   scores kept for the pre-label's regions; the label's score is ``1 - uncertainty``) and the
   task's uncertainty (``1 - exp(MNLP)``, :mod:`labelloop.models.tokens`).
3. **Trust in the LLM**: its exact span-F1 against the human spans of the labeled tasks it
   answered, shrunk towards ``trust_prior`` by ``trust_prior_weight`` pseudo-tasks
   (``(n * f1 + w * prior) / (n + w)``), so three lucky tasks do not make it an oracle.
4. **Rank**: ``rank_span_pool`` with the model's uncertainty and the LLM↔model disagreement
   (``trust * (1 - span-F1)``, :func:`~labelloop.selection.spans.span_disagreement`). Cold
   start while fewer than ``min_labeled`` labeled tasks hold a span: diverse cluster
   representatives, balanced over the LLM's entity types when it has answered.

An LLM span set counts only where the pre-label resolver would show it (valid on the task's
text, labels from the config); elsewhere the LLM has no answer. The model's span-F1 in the
lineage (``span_f1``, how in ``span_f1_on``) is ``cv_folds``-fold cross-validated while the
labeled set is small enough (``cv_max_labeled``: the folds cost about twice the fit), else
measured on one held-out fold (``"holdout"``) of at most ``holdout_max_labeled`` tasks drawn at
random, so its cost stays bounded (a model trained on fewer tasks than the real one: a slightly
pessimistic figure; ``span_f1_n_train`` says how many); with fewer labeled tasks than folds, on
the training set itself (``"training_set"``, optimistic: a CRF recalls its training spans).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from labelloop.agreement.spans import span_prf
from labelloop.labelconfig.prelabel import MachineLabel, to_prelabel
from labelloop.labelconfig.spans import Span
from labelloop.loop.plan_types import JsonDict, Learned, RetrainInputs
from labelloop.models.tokens import DEFAULT_KIND, TokenModel, fit_token_model
from labelloop.selection.spans import (
    llm_span_proxy,
    needs_span_cold_start,
    rank_span_pool,
    span_disagreement,
)

SpanSet = tuple[Span, ...]


@dataclass(frozen=True)
class SpanLearnerOptions:
    min_labeled: int = 5  # cold start while fewer labeled tasks hold a span
    kind: str = DEFAULT_KIND  # the token model (models/tokens.py)
    cv_folds: int = 3
    cv_max_labeled: int = 300  # above this, one held-out fold instead of all of them
    holdout_max_labeled: int = 900  # the held-out split draws from at most this many tasks
    trust_prior: float = 0.5
    trust_prior_weight: float = 5.0


def span_set(label: object) -> SpanSet | None:
    """A canonical span label as a tuple of spans (None: not a span label)."""
    if not isinstance(label, tuple) or not all(isinstance(s, Span) for s in label):
        return None
    return tuple(s for s in label if isinstance(s, Span))


def llm_span_sets(inputs: RetrainInputs) -> list[SpanSet | None]:
    """The LLM's spans of each position where the pre-label resolver would show them."""
    schema, texts = inputs.schema, inputs.data.texts
    out: list[SpanSet | None] = []
    for i in range(len(texts)):
        machine = inputs.llm_at(i)
        spans = span_set(machine.label) if machine is not None else None
        valid = spans is not None and machine is not None and \
            to_prelabel(schema, machine, text=texts[i]) is not None
        out.append(spans if valid else None)
    return out


def measured_trust(human: Sequence[Sequence[Span]], llm: Sequence[Sequence[Span] | None], *,
                   prior: float, weight: float) -> tuple[float, float | None, int]:
    """(trust, the LLM's exact span-F1 against humans, tasks compared) over the tasks where
    the LLM answered; the trust is the F1 shrunk towards ``prior`` (module docstring)."""
    pairs = [(h, g) for h, g in zip(human, llm) if g is not None]
    if not pairs:
        return prior, None, 0
    f1 = span_prf([h for h, _ in pairs], [g for _, g in pairs]).f1
    n = len(pairs)
    return float((n * f1 + weight * prior) / (n + weight)), f1, n


def cv_span_f1(texts: Sequence[str], spans: Sequence[SpanSet], *, labels: Sequence[str],
               folds: int, rng: np.random.Generator, kind: str, rounds: int | None = None,
               max_texts: int | None = None) -> tuple[float, int] | None:
    """(exact micro span-F1 of cross-validated predictions pooled over the texts held out, the
    size of the last training fold). ``rounds``: hold out only that many of the ``folds`` folds
    (1: one train/test split); ``max_texts``: draw at most this many texts first. None: too
    few texts to hold any out."""
    n = len(texts)
    if n < max(2, folds):
        return None
    use = np.sort(rng.choice(n, size=max_texts, replace=False)) \
        if max_texts is not None and n > max_texts else np.arange(n)
    fold_of = rng.permutation(use.size) % folds
    true: list[SpanSet] = []
    predicted: list[SpanSet] = []
    n_train = 0
    for k in range(folds if rounds is None else min(rounds, folds)):
        train, test = use[fold_of != k], use[fold_of == k]
        model = fit_token_model([texts[i] for i in train], [spans[i] for i in train],
                                labels=labels, rng=rng, kind=kind)
        predicted.extend(p.spans for p in model.predict([texts[i] for i in test]))
        true.extend(spans[i] for i in test)
        n_train = int(train.size)
    return span_prf(true, predicted).f1, n_train


class SpanLearner:
    def __init__(self, options: SpanLearnerOptions | None = None) -> None:
        self.options = options if options is not None else SpanLearnerOptions()

    def learn(self, inputs: RetrainInputs, *, labeled: np.ndarray,
              rng: np.random.Generator) -> Learned:
        o, schema, data = self.options, inputs.schema, inputs.data
        n = len(data.task_ids)
        texts = [data.texts[i] for i in labeled.tolist()]
        human = [span_set(data.labels[i] if data.labels else None) or ()
                 for i in labeled.tolist()]
        n_with_spans = sum(1 for h in human if h)
        llm = llm_span_sets(inputs)
        trust, llm_f1, llm_n = measured_trust(human, [llm[i] for i in labeled.tolist()],
                                              prior=o.trust_prior, weight=o.trust_prior_weight)
        model: TokenModel | None = None
        model_labels: list[MachineLabel | None] = []
        extra: dict[int, JsonDict] = {}
        uncertainty = disagreement = None
        disagree = np.zeros(n, dtype=bool)
        lineage: JsonDict = {"n_labeled_with_spans": n_with_spans,
                             "n_human_spans": sum(len(h) for h in human),
                             "llm_span_f1": llm_f1, "llm_compared": llm_n, "llm_trust": trust,
                             "span_f1": None, "span_f1_on": None, "span_f1_n_train": 0}
        if n_with_spans:
            started = time.perf_counter()
            model = fit_token_model(texts, human, labels=schema.labels, rng=rng, kind=o.kind)
            fit_s = time.perf_counter() - started
            with_text = np.flatnonzero(data.has_text)
            predicted = model.predict([data.texts[i] for i in with_text.tolist()])
            model_labels = [None] * n
            u = np.zeros(n)
            for i, p in zip(with_text.tolist(), predicted):
                u[i] = p.uncertainty
                model_labels[i] = MachineLabel(p.spans, "model", score=1.0 - p.uncertainty,
                                               region_scores=dict(zip(p.spans, p.scores)))
            spans_of = [span_set(m.label) or () if m is not None else () for m in model_labels]
            raw = span_disagreement(llm, spans_of)
            disagree[:] = raw > 0
            uncertainty, disagreement = u, raw * trust
            extra = {i: {"uncertainty": float(u[i]), "disagreement": float(raw[i] * trust)}
                     for i in data.unlabeled.tolist()}
            small = labeled.size <= o.cv_max_labeled
            f1_on = "cv" if small else "holdout"
            got = cv_span_f1(texts, human, labels=schema.labels, folds=o.cv_folds, rng=rng,
                             kind=o.kind, rounds=None if small else 1,
                             max_texts=None if small else o.holdout_max_labeled)
            f1, n_train = got if got is not None else (
                span_prf(human, [spans_of[i] for i in labeled.tolist()]).f1, int(labeled.size))
            f1_on = f1_on if got is not None else "training_set"
            lineage.update(span_f1=f1, span_f1_on=f1_on, span_f1_n_train=n_train, model={
                "kind": o.kind, "n_train": int(labeled.size), "labels": list(schema.labels),
                "fit_seconds": round(fit_s, 3),
                "task_ids": data.task_ids[labeled].tolist()})
        cold = needs_span_cold_start(n_with_spans, min_labeled=o.min_labeled)
        answered = [g for g in llm if g is not None]
        proxy = llm_span_proxy(llm, schema.labels) if answered else None
        pool = data.pool
        ranking = rank_span_pool(inputs.x, pool, labeled, uncertainty=uncertainty,
                                 disagreement=disagreement if answered else None, rng=rng,
                                 batch_size=min(inputs.options.batch_size, max(1, pool.size)),
                                 cold=cold, proxy=proxy)
        return Learned(ranking, disagree, model_labels, extra, model, lineage=lineage)


SPAN_LEARNER = SpanLearner()
