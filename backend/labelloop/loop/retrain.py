"""The retrain job: train the local model, rank the pool, publish the queue.

1. a project's tasks and consensus human labels (:mod:`labelloop.loop.dataset`);
2. embeddings from the cache (only new texts are encoded);
3. logistic regression on the labeled embeddings, cross-validated and calibrated;
4. the committee: the LLM's stored label distributions and the local model's probabilities, each
   weighted by its measured agreement with the human labels;
5. :func:`labelloop.selection.rank_pool` (a diverse seed set while cold), audit draws
   interleaved (:mod:`labelloop.loop.queue`);
6. a new model version with its lineage; the model's predictions stored (``/predict`` answers
   from them when no LLM label exists); the queue stored with a reason per task;
7. publish the head of the queue to Label Studio (when it is reachable); the rest and the
   clean-up of superseded versions follow in separate jobs; when Label Studio fails, a publish
   job takes the stored queue over (the training is not redone);
8. delete the earlier versions' predictions of the tasks just predicted (only the newest is
   ever read).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from labelloop.errors import LabelStudioUnavailable
from labelloop.events.projects import schema_of
from labelloop.jobs.context import JobContext
from labelloop.labelconfig.results import choices_result
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelstudio.publish import (cleanup_spec, next_version, publish_queue,
                                           stored_publish_spec, tail_spec)
from labelloop.labelstudio.scores import queue_scores
from labelloop.loop.dataset import ProjectData, load_project_data
from labelloop.loop.embed import embed_project
from labelloop.loop.queue import draw_audit, plan_queue
from labelloop.loop.second import reopen_for_second_opinion
from labelloop.predict.service import llm_entry
from labelloop.models import model_lineage, predict_proba, train_local_model
from labelloop.selection import ColdStartOptions, PoolData, rank_pool
from labelloop.selection.committee import llm_lead, member_weight
from labelloop.storage.records import Prediction
from labelloop.storage.sql_queue import QueueEntry

log = logging.getLogger(__name__)


def llm_matrix(schema: LabelSchema, task_ids: np.ndarray,
               labels: dict[int, Any]) -> np.ndarray | None:
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


def _weight(probas: np.ndarray | None, data: ProjectData) -> tuple[float, float | None, int]:
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


def _llm_lead(schema: LabelSchema, data: ProjectData, llm: np.ndarray | None,
              before: dict[int, Any]) -> float:
    """How much more often the LLM than the previous local model was right on labeled tasks
    where the two disagreed (0 until measured): the default strategy weighs disagreement by it."""
    if llm is None or schema.multiple or not before:
        return 0.0
    labeled = np.flatnonzero(data.labeled)
    model_before = np.full((labeled.size, len(schema.labels)), np.nan)
    for row, i in enumerate(labeled.tolist()):
        pred = before.get(int(data.task_ids[i]))
        probas = (pred.extra or {}).get("probas") if pred is not None else None
        if probas:
            model_before[row] = [float(probas.get(c, 0.0)) for c in schema.labels]
    return llm_lead(llm[labeled], model_before, data.label_index()[labeled])


def handle_retrain(ctx: JobContext) -> None:
    pid = ctx.project_id()
    s = ctx.settings
    started = time.perf_counter()
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
        schema = schema_of(project) if project else None
        if project is None or schema is None or not schema.supported:
            log.info("project %s: not retraining (config not supported)", pid)
            return
        data = load_project_data(tx, pid, schema)
        llm_labels = tx.get_llm_labels(pid)
        # the local model's answers for labeled tasks as they stood *before* the human label
        # (the previous retrain's stored predictions): the committee's evidence
        before = tx.latest_predictions(pid, data.task_ids[data.labeled].tolist(), source="model")
        already_audit = tx.audit_task_ids(pid)
    if data.task_ids.size == 0 or not data.has_text.any():
        log.info("project %s: no tasks with text yet", pid)
        return
    ctx.progress(step="embed", tasks=int(data.has_text.sum()))
    # a text that cannot be embedded is skipped (recorded, shown in /status), not fatal
    x, data = embed_project(ctx, pid, data, job_kind="retrain")
    if not data.has_text.any():
        return
    labeled = np.flatnonzero(data.labeled & data.has_text)
    ctx.progress(step="train", labeled=int(labeled.size))
    model = metrics = probas = None
    if labeled.size >= 2:
        y = data.y[labeled] if schema.multiple else data.label_index()[labeled]
        trained = train_local_model(x[labeled], y, labels=schema.labels,
                                    multi_label=schema.multiple)
        model, metrics = trained.model, trained.metrics
        probas = predict_proba(model, x)
    llm = llm_matrix(schema, data.task_ids, llm_labels)
    llm_w, llm_acc, llm_n = _weight(llm, data) if not schema.multiple else (0.5, None, 0)
    lead = _llm_lead(schema, data, llm, before)
    model_w = 0.5 if metrics is None else float(np.clip(metrics.accuracy, 0.0, 1.0))
    counts = np.nan_to_num(data.y[data.labeled]).sum(axis=0).astype(int)
    rng = np.random.default_rng([pid, len(data.task_ids), int(labeled.size)])
    pool = data.pool
    ranking = rank_pool(
        PoolData(x, probas, llm, llm_weight=llm_w, model_weight=model_w, llm_lead=lead,
                 multi_label=schema.multiple),
        pool, labeled, rng=rng, batch_size=min(s.batch_size, max(1, pool.size)),
        label_counts=counts,
        cold_start=ColdStartOptions(min_per_class=s.cold_start_min_per_class))
    pos_of = {tid: i for i, tid in enumerate(data.task_ids.tolist())}
    audit = draw_audit(pool, np.array([pos_of[t] for t in already_audit if t in pos_of],
                                      dtype=np.int64), fraction=s.audit_fraction, rng=rng)
    disagree = np.zeros(len(data.task_ids), dtype=bool)
    if probas is not None and llm is not None:
        answered = ~np.isnan(llm).any(axis=1)
        disagree[answered] = np.argmax(llm[answered], 1) != np.argmax(probas[answered], 1)
    plan = plan_queue(ranking.order, ranking.batch, audit, phase=ranking.phase,
                      disagree=disagree, fraction=s.audit_fraction)
    with ctx.storage.read() as tx:
        gateway = ctx.gateways.for_project(tx.get_project(pid))
    reopened: list[int] = []
    if gateway is not None:
        try:
            reopened = reopen_for_second_opinion(ctx.storage, gateway, pid, schema, data, llm,
                                                 llm_labels, s, rng)
        except LabelStudioUnavailable as exc:  # asked again by the next retrain
            log.warning("project %s: no second annotations asked this time: %s", pid, exc)
    queue = [(tid, "second_opinion", False) for tid in reopened] + [
        (int(data.task_ids[i]), why, bool(aud))
        for i, why, aud in zip(plan.order, plan.reasons, plan.audit)]
    head = s.publish_head_size or len(queue)  # the rest is read back by the publish_tail job
    results = _prelabels(schema, data, plan.order[:head], probas, llm_labels)
    lineage = {
        "kind": "retrain", "n_labeled": int(labeled.size), "n_tasks": len(data.task_ids),
        "cv_accuracy": metrics.accuracy if metrics else None,
        "cv_macro_f1": metrics.macro_f1 if metrics else None,
        "llm_human_agreement": llm_acc, "llm_compared": llm_n, "llm_weight": llm_w,
        "llm_lead": lead,
        "model_weight": model_w, "strategy": ranking.phase if ranking.phase == "cold_start"
        else ranking.strategy, "n_ranked": int(plan.order.size),
        "audit": int(plan.audit.sum()), "second_opinion": len(reopened),
        "notes": list(ranking.notes), "trained_at": time.time(),
    }
    if model is not None:
        lineage["model"] = model_lineage(model, metrics, task_ids=data.task_ids[labeled].tolist(),
                                         y=data.y[labeled], embedder=ctx.resources.embedder.name)
    # the published score: the queue order, written as the pre-labels' confidence (scores.py)
    ranked = queue_scores([_confidence(schema, pos_of.get(tid), probas, llm_labels.get(tid))
                           for tid, _, _ in queue])
    with ctx.storage.write() as tx:  # the number is taken here, with the records that hold it
        version = next_version(tx, pid, s.model_version_prefix)
        tx.add_model_version(pid, version, kind="retrain", lineage=lineage)
        if model is not None and probas is not None:
            tx.save_predictions(_model_predictions(schema, data, probas, pid, version))
        tx.save_queue([QueueEntry(pid, version, tid, r, ranked[r], why, aud, None)
                       for r, (tid, why, aud) in enumerate(queue)])
    log.info("project %s: %s trained on %d labels (cv acc %s), %d tasks ranked (%s) in %.2fs",
             pid, version, labeled.size, f"{metrics.accuracy:.3f}" if metrics else "-",
             len(queue), ranking.phase, time.perf_counter() - started)
    if queue and gateway is None:
        log.info("project %s: queue of %s not published: %s", pid, version,
                 ctx.gateways.why_not())
    elif queue:
        ctx.progress(step="publish", tasks=len(queue))
        scores = {tid: ranked[r] for r, (tid, _, _) in enumerate(queue)}
        try:
            report = publish_queue(ctx.storage, gateway, pid, scores, settings=s,
                                   version=version, results=results,
                                   lineage={"source": "retrain"})
        except LabelStudioUnavailable as exc:  # the model and queue are kept: retry the publish
            log.warning("project %s: publishing %s failed, handed to a publish job: %s", pid,
                        version, exc)
            ctx.enqueue(stored_publish_spec(pid, version))
        else:
            ctx.enqueue(*([tail_spec(pid)] if report.remaining else []), cleanup_spec(pid, s))
    if model is not None and probas is not None:
        # after the queue switched (~0.5 s at 100,000 tasks, off the annotation → queue path)
        with ctx.storage.write() as tx:
            tx.supersede_predictions(pid, source="model", version=version)


def _label_of(schema: LabelSchema, row: np.ndarray) -> tuple[list[str], float]:
    if schema.multiple:
        chosen = [c for c, p in zip(schema.labels, row) if p >= 0.5] or \
            [schema.labels[int(np.argmax(row))]]
        return chosen, float(np.mean([row[schema.labels.index(c)] for c in chosen]))
    k = int(np.argmax(row))
    return [schema.labels[k]], float(row[k])


def _confidence(schema: LabelSchema, i: int | None, probas: np.ndarray | None,
                lab: Any) -> float | None:
    """How sure the task's pre-label is, by the rule of :func:`_prelabels`: the LLM's label
    (its confidence), else the local model's."""
    if lab is not None and lab.labels and set(lab.labels) <= set(schema.labels):
        return lab.confidence
    if probas is not None and i is not None:
        return _label_of(schema, probas[i])[1]
    return None


def _prelabels(schema: LabelSchema, data: ProjectData, order: np.ndarray,
               probas: np.ndarray | None, llm_labels: dict[int, Any]) -> dict[int, list]:
    """The pre-label published with each queued task: the LLM's, else the local model's."""
    out: dict[int, list] = {}
    for i in order.tolist():
        tid = int(data.task_ids[i])
        lab = llm_labels.get(tid)
        entry = llm_entry(schema, lab.labels, lab.confidence, lab.model_version) if lab else None
        if entry:
            out[tid] = entry["result"]
            continue
        if probas is not None:
            labels, score = _label_of(schema, probas[i])
            out[tid] = choices_result(schema, labels, score=score)
    return out


def _model_predictions(schema: LabelSchema, data: ProjectData, probas: np.ndarray, pid: int,
                       version: str) -> list[Prediction]:
    """Predictions for the tasks no human has reviewed. A labeled task keeps the last one made
    before its label, which is what measuring the model against humans needs."""
    out = []
    for i in data.pool.tolist():
        labels, score = _label_of(schema, probas[i])
        out.append(Prediction(int(data.task_ids[i]), pid, "model", version,
                              choices_result(schema, labels, score=score), score,
                              {"probas": dict(zip(schema.labels, map(float, probas[i])))}))
    return out
