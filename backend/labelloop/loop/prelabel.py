"""The pre-label job: ask the LLM for every task of a project that has no label of the current
LLM version yet, in batches, storing each outcome (label, distribution, confidence) as it comes.

Few-shot examples come from the project's human labels (class-balanced, preferring ones the LLM
got wrong). A paused LLM (circuit breaker) or a spent budget ends the job with a retryable error
whose message is shown in the status endpoint; labels already stored stay. So do lasting
failures (an answer outside the label set after its retry): the task is done for this version.
Calls that failed after their retries (timeouts, 5xx, an unreachable endpoint, its capability
check included) leave their tasks undone and fail the job retryably, so the next attempt asks
again for those tasks only instead of the job succeeding without them.

One bad task never stops the others: a text that is not valid Unicode is not sent; when a
labeling run raises because of what one item holds, the run's unanswered items are labeled again
in halves (down to single items) so only that item is left out. Both, and answers outside the
label set, are recorded in ``skipped_items`` (job kind ``prelabel``) with their reason and shown
in ``/status``.

Image, audio and video projects: where the endpoint takes the media (``loop/llm_inputs.py``),
their media are fetched a chunk at a time and shown to the LLM as content parts
(``loop/prelabel_media.py``); a file that will not fetch is a skip, or a retry when its fetch
may work later.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from labelloop.errors import JobError, PermanentJobError
from labelloop.events.projects import schema_of
from labelloop.jobs.context import JobContext
from labelloop.jobs.triggers import retrain_spec
from labelloop.labelconfig.results import task_text
from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm import LabelOutcome, LabelRequest
from labelloop.llm.pool import example_pool
from labelloop.loop.llm_inputs import llm_prelabels_off
from labelloop.loop.prelabel_media import media_chunks, media_todo
from labelloop.skips import is_item_error, reason_of, record_skips

log = logging.getLogger(__name__)
CHUNK = 2000  # tasks per labeling run: one event loop and HTTP client, connections kept warm
PROGRESS_EVERY_S = 2.0
SYSTEMIC = 3  # items that raise alone, with no outcome at all, before the labeler is blamed


def handle_prelabel(ctx: JobContext) -> None:
    pid = ctx.project_id()
    labeler = ctx.resources.labeler(ctx.storage)
    if labeler is None:
        raise PermanentJobError("no LLM configured (LABELLOOP_LLM_MODEL, OPENAI_BASE_URL)")
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
        schema = schema_of(project) if project else None
        if schema is None or not schema.supported or schema.task_type == "text_triplets":
            return  # triplets are pre-judged when mined (labelloop.triplets.judge)
        off = llm_prelabels_off(schema, labeler)
        if off is not None:  # the endpoint does not take this media: the loop runs without
            log.info("project %s: no LLM pre-labels: %s", pid, off)
            return
        # the version the labels are stored under: the prompts of the task type (text, spans
        # and media each have their own), not labeler.model_version (the text prompts')
        version = labeler.version_for(schema)
        done = set(tx.get_llm_labels(pid, model_version=version))
        todo = [LabelRequest(t.id, text) for t in tx.get_tasks(pid)
                if t.id not in done and (text := task_text(schema, t.data))]
        # images, audio, video: fetched chunk by chunk while labeling (loop/prelabel_media.py)
        media = media_todo(ctx, tx, pid, schema, done) if schema.modality != "text" else None
        examples = example_pool(tx, pid, schema, model_version=version)
    tally = _Tally(ctx, len(todo) if media is None else len(media.tasks))
    for r in todo:
        try:  # stored before text was cleaned at the edge: it cannot be sent
            r.text.encode("utf-8")
        except UnicodeEncodeError as exc:
            tally.skipped[r.task_id] = reason_of(exc)
    todo = [r for r in todo if r.task_id not in tally.skipped]
    if not todo and not (media and media.tasks):
        tally.record(pid, ctx)
        return
    parts = (media_chunks(ctx, pid, schema, media, on_skips=tally.media_skips) if media
             else (todo[i:i + CHUNK] for i in range(0, len(todo), CHUNK)))
    for part in parts:
        _label_isolating(labeler, schema, part, examples, pid, tally)
        tally.report()
        tally.record(pid, ctx)
        status = labeler.status()
        if status.state != "ok":
            if tally.labeled:
                ctx.enqueue(retrain_spec(pid, ctx.settings))
            raise JobError(f"LLM {status.state}: {status.reason}")
    labeled, failed, unanswered = tally.labeled, tally.failed, tally.unanswered
    log.info("project %s: %d tasks pre-labeled by %s (%d failed, reasons stored; %d unanswered)",
             pid, labeled, version, failed, len(unanswered))
    if labeled:
        ctx.enqueue(retrain_spec(pid, ctx.settings))
    if unanswered:
        # e.g. the endpoint's capability check or its calls timed out: the job is retried
        # (with backoff) for these tasks only, instead of succeeding without their labels
        raise JobError(f"{len(unanswered)} of {tally.tasks} tasks got no answer from the LLM "
                       f"(first: {unanswered[0]}); they are asked again on the next attempt")


def _label_isolating(labeler: Any, schema: LabelSchema, items: list[LabelRequest],
                     examples: Any, pid: int, tally: _Tally) -> None:
    """Label ``items`` in one run; when the run raises because of an item (not the endpoint:
    those errors become outcomes), label the items it did not answer again in halves, down to
    single items, and skip the items that raise alone."""
    try:
        labeler.label_many_sync(schema, items, examples=examples, project_id=pid,
                                on_outcome=tally.add)
        return
    except Exception as exc:
        if not is_item_error(exc):
            raise
        if len(items) == 1:
            tally.skipped[items[0].task_id] = reason_of(exc)
            tally.raised += 1
            if tally.raised >= SYSTEMIC and not tally.seen:
                raise  # every item alone raises, none ever answered: the labeler, not an item
            return
        log.warning("project %s: a pre-label run of %d items failed (%s); the items it did "
                    "not answer are labeled again in halves", pid, len(items), reason_of(exc))
    rest = [item for item in items if item.task_id not in tally.seen]
    half = (len(rest) + 1) // 2
    for part in (rest[:half], rest[half:]):
        if part:
            _label_isolating(labeler, schema, part, examples, pid, tally)


class _Tally:
    """Counts outcomes as they come and reports progress at most every PROGRESS_EVERY_S (the
    write is small; the labeling run waits for it); collects the tasks to record as skipped."""

    def __init__(self, ctx: JobContext, tasks: int) -> None:
        self.ctx, self.tasks = ctx, tasks
        self.labeled = self.failed = 0
        self.unanswered: list[str] = []  # calls that failed after their retries: asked later
        self.seen: set[int] = set()
        self.raised = 0  # items whose run raised with them alone
        self.skipped: dict[int, str] = {}  # lasting failures and items that raised: recorded
        self.answered: set[int] = set()
        self._reported = time.monotonic()

    def add(self, o: LabelOutcome) -> None:
        self.seen.add(o.task_id)
        if o.labels:
            self.labeled += 1
            self.answered.add(o.task_id)
        elif o.failure_kind == "request_failed":
            self.unanswered.append(o.failure or "")
        else:
            self.failed += 1
            if o.failure_kind in ("invalid_answer", "rejected", "no_input"):
                self.skipped[o.task_id] = o.failure or str(o.failure_kind)
        if time.monotonic() - self._reported >= PROGRESS_EVERY_S:
            self.report()

    def media_skips(self, skipped: dict[int, str], transient: frozenset[int]) -> None:
        """Media that did not fetch or decode: recorded, or asked again on the next attempt
        when the fetch may work then."""
        for task_id, why in skipped.items():
            if task_id in transient:
                self.unanswered.append(why)
            else:
                self.skipped[task_id] = why

    def record(self, pid: int, ctx: JobContext) -> None:
        """Store the skips so far and forget those of the tasks labeled since."""
        record_skips(ctx.storage, pid, "prelabel", self.skipped, processed=self.answered)
        self.skipped, self.answered = {}, set()

    def report(self) -> None:
        self._reported = time.monotonic()
        self.ctx.progress(step="prelabel", labeled=self.labeled, failed=self.failed,
                          unanswered=len(self.unanswered), tasks=self.tasks)
