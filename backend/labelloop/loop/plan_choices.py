"""The classification learner: logistic regression on embeddings, the LLM↔model committee, and
:func:`labelloop.selection.rank_pool`.

1. logistic regression on the labeled embeddings, cross-validated and calibrated;
2. the committee: the LLM's stored label distributions and the local model's probabilities,
   each weighted by its measured agreement with the human labels; the default strategy weighs
   disagreement by how often the LLM beat the previous local model where they disagreed;
3. :func:`~labelloop.selection.rank_pool` (a class-balanced, diverse seed set while cold).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from labelloop.labelconfig.prelabel import MachineLabel
from labelloop.labelconfig.schema import LabelSchema
from labelloop.loop.dataset import ProjectData
from labelloop.loop.plan_types import JsonDict, Learned, RetrainInputs
from labelloop.models import TrainResult, model_lineage, predict_proba, train_local_model
from labelloop.models.distill import (
    DistillChoice,
    DistillOptions,
    distill_local_model,
    llm_rows,
)
from labelloop.selection import ColdStartOptions, PoolData, rank_pool
from labelloop.selection.committee import llm_lead, member_weight
from labelloop.storage.records_llm import LlmLabel


def llm_matrix(schema: LabelSchema, task_ids: np.ndarray,
               labels: Mapping[int, LlmLabel]) -> np.ndarray | None:
    """The LLM's distributions as ``(n, k)`` (NaN rows where it gave none); None: no LLM labels."""
    if not labels:
        return None
    out = np.full((len(task_ids), len(schema.labels)), np.nan)
    for i, tid in enumerate(task_ids.tolist()):
        lab = labels.get(tid)
        if lab is None or not lab.distribution:
            continue
        row = np.array([float(lab.distribution.get(c, 0.0)) for c in schema.labels])
        if row.sum() > 0:
            out[i] = row if schema.multiple else row / row.sum()
    return out


def member_stats(probas: np.ndarray | None, data: ProjectData) -> tuple[float, float | None, int]:
    """(committee weight, accuracy vs humans, n compared) of a member on labeled tasks."""
    labeled = np.flatnonzero(data.labeled)
    if probas is None or labeled.size == 0:
        return 0.5, None, 0
    p = probas[labeled]
    answered = ~np.isnan(p).any(axis=1)
    if not answered.any():
        return 0.5, None, 0
    y = data.label_index()[labeled]
    acc = float((np.argmax(p[answered], axis=1) == y[answered]).mean())
    return member_weight(p, y), acc, int(answered.sum())


def lead_over_model(inputs: RetrainInputs) -> float:
    """How much more often the LLM than the previous local model was right on labeled tasks
    where the two disagreed (0 until measured)."""
    schema, data, llm = inputs.schema, inputs.data, inputs.llm_probas
    if llm is None or schema.multiple or inputs.previous_probas is None:
        return 0.0
    labeled = np.flatnonzero(data.labeled)
    before = inputs.previous_probas[labeled]
    if np.isnan(before).all():
        return 0.0
    return llm_lead(llm[labeled], before, data.label_index()[labeled])


def label_of(schema: LabelSchema, row: np.ndarray) -> tuple[tuple[str, ...], float]:
    """The model's label of one probability row and its confidence (the mean over the chosen
    labels for multiple choice)."""
    if schema.multiple:
        chosen = [c for c, p in zip(schema.labels, row) if p >= 0.5] or \
            [schema.labels[int(np.argmax(row))]]
        return tuple(chosen), float(np.mean([row[schema.labels.index(c)] for c in chosen]))
    k = int(np.argmax(row))
    return (schema.labels[k],), float(row[k])


def train(inputs: RetrainInputs, labeled: np.ndarray
          ) -> tuple[TrainResult, DistillChoice | None]:
    """The local model on the labeled positions. Single choice with LLM labels: through
    :func:`~labelloop.models.distill.distill_local_model` (the LLM's labels of the pool join
    the training set when cross-validation on the human labels says they help; the choice is
    returned for the lineage); otherwise on the human labels alone (no choice). Its
    randomness (folds, the LLM rows sampled) comes from the plan's seed, not the plan's
    generator, so the ranking draws the same with the distillation on or off."""
    schema, data, x, llm = inputs.schema, inputs.data, inputs.x, inputs.llm_probas
    if schema.multiple or llm is None:
        y = data.y[labeled] if schema.multiple else data.label_index()[labeled]
        return train_local_model(x[labeled], y, labels=schema.labels,
                                 multi_label=schema.multiple), None
    options = DistillOptions(mode=inputs.options.distill_llm)
    rng = np.random.default_rng([*inputs.seed, 16])
    pool = data.pool  # the unreviewed tasks; only the sampled rows the LLM answered are copied
    pool = pool[llm_rows(llm[pool], max_llm=options.max_llm, rng=rng)]
    got = distill_local_model(x[labeled], data.label_index()[labeled], llm[labeled], x[pool],
                              llm[pool], labels=schema.labels, rng=rng, options=options)
    return got.result, got.choice


class ChoicesLearner:
    def learn(self, inputs: RetrainInputs, *, labeled: np.ndarray,
              rng: np.random.Generator) -> Learned:
        schema, data, x = inputs.schema, inputs.data, inputs.x
        model = metrics = probas = None
        distilled: DistillChoice | None = None
        if labeled.size >= 2:
            trained, distilled = train(inputs, labeled)
            model, metrics = trained.model, trained.metrics
            probas = predict_proba(model, x)
        llm = inputs.llm_probas
        llm_w, llm_acc, llm_n = member_stats(llm, data) if not schema.multiple else (0.5, None, 0)
        lead = lead_over_model(inputs)
        model_w = 0.5 if metrics is None else float(np.clip(metrics.accuracy, 0.0, 1.0))
        counts = np.nan_to_num(data.y[data.labeled]).sum(axis=0).astype(int)
        pool = data.pool
        o = inputs.options
        ranking = rank_pool(
            PoolData(x, probas, llm, llm_weight=llm_w, model_weight=model_w, llm_lead=lead,
                     multi_label=schema.multiple),
            pool, labeled, rng=rng, batch_size=min(o.batch_size, max(1, pool.size)),
            label_counts=counts,
            cold_start=ColdStartOptions(min_per_class=o.cold_start_min_per_class))
        disagree = np.zeros(len(data.task_ids), dtype=bool)
        if probas is not None and llm is not None:
            answered = ~np.isnan(llm).any(axis=1)
            disagree[answered] = np.argmax(llm[answered], 1) != np.argmax(probas[answered], 1)
        lineage: JsonDict = {
            "cv_accuracy": metrics.accuracy if metrics else None,
            "cv_macro_f1": metrics.macro_f1 if metrics else None,
            "llm_human_agreement": llm_acc, "llm_compared": llm_n, "llm_weight": llm_w,
            "llm_lead": lead, "model_weight": model_w,
            # whether the model learned from the LLM's labels too, and the figures it chose on
            "llm_distillation": distilled.to_json() if distilled else None,
        }
        if model is None or probas is None:
            return Learned(ranking, disagree, metrics=metrics, lineage=lineage)
        lineage["model"] = model_lineage(model, metrics, task_ids=data.task_ids[labeled].tolist(),
                                         y=data.y[labeled], embedder=o.embedder,
                                         distillation=distilled.to_json() if distilled else None)
        model_labels: list[MachineLabel | None] = []
        for row in probas:
            chosen, score = label_of(schema, row)
            model_labels.append(MachineLabel(chosen, "model", score=score))
        extra: dict[int, JsonDict] = {
            int(i): {"probas": dict(zip(schema.labels, map(float, probas[i])))}
            for i in data.unlabeled.tolist()}
        return Learned(ranking, disagree, model_labels, extra, model, metrics, probas, lineage)


CHOICES = ChoicesLearner()
