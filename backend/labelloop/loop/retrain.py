"""The retrain job: read, embed, plan, ask for second opinions, save, publish, supersede.

The decisions are one pure function, :func:`labelloop.loop.plan.plan_retrain` (train the local
model, rank the pool, audit draws, pre-labels, predictions, lineage); this handler does the I/O
around it, in order:

1. read the project's tasks and consensus human labels (:mod:`labelloop.loop.dataset`), the
   LLM's stored labels, the local model's previous predictions, the audit draws so far and the
   learning curve's recent slope (from the stored retrains, :mod:`labelloop.quality.stopping`);
2. embeddings from the cache through the input seam (:mod:`labelloop.loop.inputs`: texts, or
   images and audio fetched by the media fetcher; only new inputs are encoded; one that gives
   no vector is skipped and recorded);
3. the plan (:mod:`labelloop.loop.plan`);
4. second annotations asked of Label Studio for disputed single labels
   (:mod:`labelloop.loop.second`); those tasks join the head of the queue;
5. a new model version with its lineage, its models as artefacts (text classification:
   the local model and the stream's screening model, :mod:`labelloop.loop.artifacts`), the
   model's predictions (``/predict`` answers from them when no LLM label exists) and the queue
   with a reason per task, in one transaction;
6. publish the head of the queue to Label Studio (when it is reachable); the rest and the
   clean-up of superseded versions follow in separate jobs; when Label Studio fails, a publish
   job takes the stored queue over (the training is not redone);
7. delete the earlier versions' predictions of the tasks just predicted (only the newest is
   ever read).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import numpy as np

from labelloop.errors import LabelStudioUnavailable
from labelloop.events.projects import schema_of
from labelloop.jobs.context import JobContext
from labelloop.labelconfig.prelabel import MachineLabel, from_labels
from labelloop.labelconfig.schema import LabelSchema
from labelloop.labelstudio.publish import (
    cleanup_spec,
    next_version,
    publish_queue,
    stored_publish_spec,
    tail_spec,
)
from labelloop.llm.span_store import stored_span_scores, stored_spans
from labelloop.loop.artifacts import version_artifacts
from labelloop.loop.dataset import ProjectData, load_project_data
from labelloop.loop.embed import embed_project
from labelloop.loop.finetune_job import queue_finetune_if_due
from labelloop.loop.plan import plan_retrain, with_second_opinions
from labelloop.loop.plan_choices import llm_matrix
from labelloop.loop.plan_types import PlanOptions, RetrainInputs, RetrainPlan
from labelloop.loop.second import reopen_for_second_opinion
from labelloop.quality.stopping import retrain_points, stopping_signal
from labelloop.storage.records import Prediction
from labelloop.storage.records_llm import LlmLabel
from labelloop.storage.sql_queue import QueueEntry
from labelloop.triplets.finetune_job import on_labels_changed as triplet_labels_changed

log = logging.getLogger(__name__)


def llm_machine_labels(schema: LabelSchema, data: ProjectData,
                       labels: Mapping[int, LlmLabel]) -> list[MachineLabel | None]:
    """The LLM's stored label of each task as a canonical machine label (by position; empty
    when the LLM labeled nothing): its choices, or for a span project its stored spans with
    their scores (not yet checked against the text: the plan's resolver does that)."""
    if not labels:
        return []
    out: list[MachineLabel | None] = []
    for tid in data.task_ids.tolist():
        lab = labels.get(tid)
        if lab is None:
            out.append(None)
        elif schema.task_type == "text_spans":
            spans = stored_spans(lab)
            out.append(None if spans is None else MachineLabel(
                tuple(spans), "llm", lab.model_version, lab.confidence, stored_span_scores(lab)))
        else:
            out.append(from_labels(schema, lab.labels, source="llm", version=lab.model_version,
                                   score=lab.confidence))
    return out


def previous_probas(schema: LabelSchema, data: ProjectData,
                    before: Mapping[int, Prediction]) -> np.ndarray | None:
    """The local model's probabilities as its previous retrain stored them, ``(n, k)`` with NaN
    rows where none (None: classification only, and only once some exist)."""
    if schema.task_type != "text_classification" or not before:
        return None
    out = np.full((len(data.task_ids), len(schema.labels)), np.nan)
    for i, tid in enumerate(data.task_ids.tolist()):
        pred = before.get(tid)
        probas = (pred.extra or {}).get("probas") if pred is not None else None
        if isinstance(probas, dict) and probas:
            out[i] = [float(probas.get(c, 0.0)) for c in schema.labels]
    return out


def handle_retrain(ctx: JobContext) -> None:
    pid = ctx.project_id()
    s = ctx.settings
    started = time.perf_counter()
    if triplet_labels_changed(ctx, pid):  # a triplet project: its judgements tune the encoder
        return
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
        # the learning curve's recent slope so far (what the auto queue objective weighs)
        slope = stopping_signal(retrain_points(tx.list_model_versions(pid))).slope_per_100
    if data.task_ids.size == 0 or not data.has_text.any():
        log.info("project %s: no tasks with an input yet", pid)
        return
    ctx.progress(step="embed", tasks=int(data.has_text.sum()))
    # an input that gives no vector is skipped (recorded, shown in /status), not fatal
    x, data, made = embed_project(ctx, pid, schema, data, job_kind="retrain")
    if not data.has_text.any():
        return
    n_labeled = int((data.labeled & data.has_text).sum())
    ctx.progress(step="train", labeled=n_labeled)
    pos_of = {tid: i for i, tid in enumerate(data.task_ids.tolist())}
    seed = (pid, len(data.task_ids), n_labeled)
    inputs = RetrainInputs(
        pid, schema, data, x, PlanOptions.from_settings(s, embedder=made.embedder),
        seed, time.time(), llm=llm_machine_labels(schema, data, llm_labels),
        llm_probas=llm_matrix(schema, data.task_ids, llm_labels)
        if schema.task_type == "text_classification" else None,
        previous_probas=previous_probas(schema, data, before),
        audit=np.array([pos_of[t] for t in already_audit if t in pos_of], dtype=np.int64),
        slope=slope)
    plan = plan_retrain(inputs)
    with ctx.storage.read() as tx:
        gateway = ctx.gateways.for_project(tx.get_project(pid))
    if gateway is not None:
        try:
            reopened = reopen_for_second_opinion(ctx.storage, gateway, pid, schema, data,
                                                 inputs.llm, s, np.random.default_rng([*seed, 1]))
        except LabelStudioUnavailable as exc:  # asked again by the next retrain
            log.warning("project %s: no second annotations asked this time: %s", pid, exc)
        else:
            plan = with_second_opinions(plan, reopened)
    fit_started = time.perf_counter()
    artifacts = version_artifacts(schema, data, plan.learned)  # the served and screening models
    if artifacts:
        log.info("project %s: screening model fitted on %d tasks in %.2fs", pid,
                 int(data.has_text.sum()), time.perf_counter() - fit_started)
    version = _save(ctx, pid, plan, artifacts)
    queue_finetune_if_due(ctx, pid, schema, n_labeled)  # the encoder's own round, if due
    measure = "span_f1" if schema.task_type == "text_spans" else "cv_accuracy"
    cv = plan.lineage.get(measure)
    log.info("project %s: %s trained on %d labels (%s %s), %d tasks ranked (%s) in %.2fs",
             pid, version, n_labeled, measure, f"{cv:.3f}" if isinstance(cv, float) else "-",
             len(plan.queue), plan.learned.ranking.phase, time.perf_counter() - started)
    if plan.queue and gateway is None:
        log.info("project %s: queue of %s not published: %s", pid, version,
                 ctx.gateways.why_not())
    elif plan.queue and gateway is not None:
        ctx.progress(step="publish", tasks=len(plan.queue))
        try:
            report = publish_queue(ctx.storage, gateway, pid, plan.scores, settings=s,
                                   version=version, results=plan.results,
                                   lineage={"source": "retrain"})
        except LabelStudioUnavailable as exc:  # the model and queue are kept: retry the publish
            log.warning("project %s: publishing %s failed, handed to a publish job: %s", pid,
                        version, exc)
            ctx.enqueue(stored_publish_spec(pid, version))
        else:
            ctx.enqueue(*([tail_spec(pid)] if report.remaining else []), cleanup_spec(pid, s))
    if plan.learned.model is not None:
        # after the queue switched (~0.5 s at 100,000 tasks, off the annotation → queue path)
        with ctx.storage.write() as tx:
            tx.supersede_predictions(pid, source="model", version=version)


def _save(ctx: JobContext, pid: int, plan: RetrainPlan,
          artifacts: Mapping[str, bytes]) -> str:
    """The version, its model artefacts, its model's predictions and its queue, in one
    transaction; the version's number is taken here, with the records that hold it."""
    with ctx.storage.write() as tx:
        version = next_version(tx, pid, ctx.settings.model_version_prefix)
        tx.add_model_version(pid, version, kind="retrain", lineage=plan.lineage)
        for kind, blob in artifacts.items():
            tx.save_model_artifact(pid, version, kind, blob)
        if plan.learned.model is not None:
            tx.save_predictions([Prediction(p.task_id, pid, "model", version, p.result, p.score,
                                            p.extra) for p in plan.predictions])
        tx.save_queue([QueueEntry(pid, version, q.task_id, r, q.score, q.reason, q.audit, None)
                       for r, q in enumerate(plan.queue)])
    return version
