"""The storage boundary of the quality service: one read of everything a report needs.

:func:`read_project_labels` reads, in one consistent transaction, the project's schema, its live
(not deleted) tasks, their human annotations, the newest LLM label and the newest local-model
prediction of each task, the ids of the tasks ever drawn for the audit, and (span projects) the
text of each human-labelled task. Everything after this
is pure (:mod:`labelloop.quality.align` and the modules that use it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labelloop.errors import UnknownProject, UnsupportedConfig
from labelloop.events.projects import schema_of
from labelloop.labelconfig.kinds import task_text
from labelloop.labelconfig.schema import LabelSchema
from labelloop.storage.base import Tx
from labelloop.storage.records import Annotation, Prediction, Project
from labelloop.storage.records_llm import LlmLabel

MODEL_SOURCE = "model"  # predictions.source of the local model


@dataclass(frozen=True)
class ProjectLabels:
    """Everything the quality report of one project is computed from (records, not arrays)."""

    project_id: int
    schema: LabelSchema
    task_ids: tuple[int, ...]  # live tasks, ascending
    annotations: tuple[Annotation, ...]  # not deleted, on live tasks, ascending id
    llm: dict[int, LlmLabel]  # newest LLM label per live task
    model: dict[int, Prediction]  # newest local-model prediction per human-labelled task
    audit_ids: frozenset[int]  # tasks ever drawn for the audit (any queue version)
    # the text of each human-labelled task (span projects only: spans are read against it)
    texts: dict[int, str | None] = field(default_factory=dict)


def served_schema(tx: Tx, project_id: int, *, what: str) -> LabelSchema:
    """The schema of a project labelloop serves; :class:`UnknownProject` for a project it never
    saw, :class:`UnsupportedConfig` (naming ``what`` cannot be made) for one it does not serve."""
    return project_schema(tx.get_project(project_id), project_id, what=what)


def project_schema(project: Project | None, project_id: int, *, what: str) -> LabelSchema:
    """:func:`served_schema` of a project already read (None: not found)."""
    if project is None:
        raise UnknownProject(f"project {project_id} is not known to labelloop")
    schema = schema_of(project)
    if schema is None or not schema.supported:
        why = schema.reason if schema is not None else "no labeling config received yet"
        raise UnsupportedConfig(f"project {project_id}: no {what}: {why}")
    return schema


def read_project_labels(tx: Tx, project_id: int) -> ProjectLabels:
    """Read a project's labels. Raises :class:`UnknownProject` and :class:`UnsupportedConfig`."""
    schema = served_schema(tx, project_id, what="label-quality report")
    live = sorted(t.id for t in tx.get_tasks(project_id))
    alive = set(live)
    annotations = tuple(sorted(
        (a for a in tx.get_annotations(project_id) if a.task_id in alive), key=lambda a: a.id))
    labelled = sorted({a.task_id for a in annotations if not a.was_cancelled})
    llm = {k: v for k, v in tx.get_llm_labels(project_id).items() if k in alive}
    model = tx.latest_predictions(project_id, labelled, source=MODEL_SOURCE) if labelled else {}
    texts: dict[int, str | None] = {}
    if schema.task_type == "text_spans" and labelled:
        texts = {t.id: task_text(schema, t.data) for t in tx.get_tasks(project_id, labelled)}
    return ProjectLabels(
        project_id=project_id, schema=schema, task_ids=tuple(live), annotations=annotations,
        llm=llm, model=model, audit_ids=frozenset(tx.audit_task_ids(project_id) & alive),
        texts=texts)
