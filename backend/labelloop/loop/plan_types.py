"""The records of a retrain's plan (:mod:`labelloop.loop.plan`): what it reads, what it decides,
and the per-task-type *learner* seam.

Everything is indexed by position in :class:`~labelloop.loop.dataset.ProjectData`'s arrays;
task ids appear only in the plan's output records, which the handler stores and publishes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from labelloop.labelconfig.kinds import Region
from labelloop.labelconfig.prelabel import MachineLabel, Prelabel
from labelloop.labelconfig.schema import LabelSchema
from labelloop.loop.dataset import ProjectData
from labelloop.loop.queue import QueuePlan
from labelloop.models.distill import DistillMode
from labelloop.selection import Ranking
from labelloop.selection.dataset import QueueObjective
from labelloop.settings import Settings

JsonDict = dict[str, object]
AcceptQueue = Literal["drop", "end"]


@dataclass(frozen=True)
class PlanOptions:
    """The settings a plan needs (taken from :class:`~labelloop.settings.Settings`)."""

    batch_size: int = 20
    cold_start_min_per_class: int = 2
    audit_fraction: float = 0.05
    publish_head_size: int = 0  # pre-labels built for this many queued tasks (0: all)
    embedder: str = ""
    queue_objective: QueueObjective = "model"  # what the queue aims at (loop/plan_dataset.py)
    accept_precision: float | None = None  # audited auto-accept's target (None: off)
    accept_queue: AcceptQueue = "end"  # accepted tasks: to the queue's end, or out of it
    distill_llm: DistillMode = "auto"  # learn from the LLM's labels too (models/distill.py)

    @classmethod
    def from_settings(cls, s: Settings, *, embedder: str) -> PlanOptions:
        return cls(batch_size=s.batch_size, cold_start_min_per_class=s.cold_start_min_per_class,
                   audit_fraction=s.audit_fraction, publish_head_size=s.publish_head_size,
                   embedder=embedder, queue_objective=s.queue_objective,
                   accept_precision=s.accept_precision, accept_queue=s.accept_queue,
                   distill_llm=s.distill_llm)


@dataclass(frozen=True)
class RetrainInputs:
    """What a retrain read, as positions over ``data``'s arrays.

    ``x``: the tasks' embeddings ``(n, dim)`` (zero rows for tasks without text). ``llm``: the
    LLM's stored label of each task as a canonical machine label (empty sequence: no LLM labels
    at all). ``llm_probas``: classification only, the LLM's label distributions ``(n, k)`` with
    NaN rows where it gave none (the committee member). ``previous_probas``: classification only,
    the local model's probabilities as its previous retrain stored them ``(n, k)``, NaN rows where
    none (the evidence of how often the LLM beats the model). ``audit``: positions drawn for the
    audit sample by earlier retrains. ``slope``: the learning curve's recent slope (score per
    100 human labels, :func:`labelloop.quality.stopping.recent_slope` over the stored retrains;
    None: not measured yet), what the ``auto`` queue objective weighs. ``seed``: the plan's only
    randomness.
    """

    project_id: int
    schema: LabelSchema
    data: ProjectData
    x: np.ndarray
    options: PlanOptions
    seed: tuple[int, ...]
    now: float
    llm: Sequence[MachineLabel | None] = ()
    llm_probas: np.ndarray | None = None
    previous_probas: np.ndarray | None = None
    audit: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    slope: float | None = None

    def llm_at(self, i: int) -> MachineLabel | None:
        return self.llm[i] if self.llm else None


@dataclass(frozen=True)
class Learned:
    """What a task type's learner gives the plan.

    ``ranking``: the pool ranked (positions). ``disagree[i]``: the LLM and the local model
    disagree on position ``i`` (the queue's ``disagreement`` reason). ``model_labels``: the local
    model's label of each position (empty: no model). ``prediction_extra``: by position (those
    of ``data.unlabeled``), what is stored with the model's prediction (its probabilities, its
    uncertainty). ``lineage``: the
    learner's part of the version's lineage (keys of the classification lineage: ``cv_accuracy``,
    ``llm_weight``, ``model`` …).
    """

    ranking: Ranking
    disagree: np.ndarray
    model_labels: Sequence[MachineLabel | None] = ()
    prediction_extra: Mapping[int, JsonDict] = field(default_factory=dict)
    model: object | None = None
    metrics: object | None = None
    probas: np.ndarray | None = None
    lineage: JsonDict = field(default_factory=dict)

    def model_at(self, i: int) -> MachineLabel | None:
        return self.model_labels[i] if self.model_labels else None


class Learner(Protocol):
    """Per task type: train the local model on the labeled positions, predict every task, rank
    the pool (with ``rng``, the plan's generator, used before the audit draw)."""

    def learn(self, inputs: RetrainInputs, *, labeled: np.ndarray,
              rng: np.random.Generator) -> Learned: ...


@dataclass(frozen=True)
class QueuedTask:
    task_id: int
    reason: str  # loop/queue.py's reasons (cold_start, uncertainty, …) or second_opinion
    audit: bool
    score: float  # the published score (a confidence fitted to the order: labelstudio/scores.py)


@dataclass(frozen=True)
class PlannedPrediction:
    """A local-model prediction to store (the version is stamped when it is saved)."""

    task_id: int
    result: list[Region]
    score: float | None
    extra: JsonDict


@dataclass(frozen=True)
class RetrainPlan:
    """Everything a retrain decided. ``queue``: label-first order with published scores;
    ``prelabels``: the pre-label (one resolver: LLM first, else the model) of the head of the
    queue, by task id; ``confidence``: the pre-label confidence of every task with text, by
    task id (what the published scores are fitted to)."""

    learned: Learned
    queue_plan: QueuePlan
    queue: list[QueuedTask]
    prelabels: dict[int, Prelabel]
    confidence: dict[int, float | None]
    predictions: list[PlannedPrediction]
    lineage: JsonDict

    @property
    def results(self) -> dict[int, list[Region]]:
        """The head's pre-label results by task id (what :func:`publish_queue` sends)."""
        return {tid: p.result for tid, p in self.prelabels.items()}

    @property
    def scores(self) -> dict[int, float]:
        return {q.task_id: q.score for q in self.queue}
