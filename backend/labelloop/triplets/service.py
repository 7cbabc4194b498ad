"""What the API and the CLI do with a triplet project: take corpus texts (persist, queue the
first mining round: never mine in a request) and report where the project stands."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from labelloop.errors import InvalidInput, UnknownProject, UnsupportedConfig
from labelloop.events.projects import schema_of
from labelloop.labelconfig.schema import LabelSchema
from labelloop.loop.encoders import current_encoder
from labelloop.settings import Settings
from labelloop.storage.base import Storage, Tx
from labelloop.storage.records_triplets import CorpusItemRow
from labelloop.triplets.finetune_job import triplet_rounds
from labelloop.triplets.judgements import read_judgements
from labelloop.triplets.mine_job import is_triplet_schema, mine_spec
from labelloop.triplets.plan import held_out_mask

MAX_TEXT_CHARS = 100_000
MAX_GROUP_CHARS = 256


@dataclass(frozen=True)
class CorpusAdded:
    added: int
    duplicates: int
    corpus: int  # items in the corpus now
    mining: bool  # the first mining round was queued

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "duplicates": self.duplicates, "corpus": self.corpus,
                "mining": self.mining}


def triplet_schema(tx: Tx, project_id: int) -> LabelSchema:
    """The project's schema; :class:`UnknownProject` / :class:`UnsupportedConfig` unless it is
    a project labelloop knows with a triplet config (docs/triplets.md)."""
    project = tx.get_project(project_id)
    if project is None:
        raise UnknownProject(f"project {project_id} is not known to labelloop (connect it in "
                             "Label Studio first)")
    schema = schema_of(project)
    if schema is None or not is_triplet_schema(schema):
        what = schema.task_type if schema is not None and schema.supported else "not supported"
        raise UnsupportedConfig(f"project {project_id} is not a triplet project (its config: "
                                f"{what}); see docs/triplets.md for the config to use")
    return schema


def check_items(items: Sequence[CorpusItemRow]) -> None:
    if not items:
        raise InvalidInput("items: at least one text is needed")
    for i, it in enumerate(items):
        if not it.text.strip():
            raise InvalidInput(f"items[{i}].text: empty")
        if len(it.text) > MAX_TEXT_CHARS:
            raise InvalidInput(f"items[{i}].text: longer than {MAX_TEXT_CHARS} characters")
        if it.group is not None and not 0 < len(it.group) <= MAX_GROUP_CHARS:
            raise InvalidInput(f"items[{i}].group: 1 to {MAX_GROUP_CHARS} characters")
        try:
            it.text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"items[{i}].text: not valid Unicode (a lone surrogate)") \
                from None


def add_corpus(storage: Storage, project_id: int, items: Sequence[CorpusItemRow], *,
               wake: Callable[[], None] = lambda: None) -> CorpusAdded:
    """Store the texts; the first post of a project queues its first mining round (later rounds
    follow each fine-tune round, or ``labelloop triplets mine``)."""
    check_items(items)
    with storage.write() as tx:
        triplet_schema(tx, project_id)
        added, duplicates = tx.add_corpus_items(project_id, list(items), at=time.time())
        counts = tx.triplet_counts(project_id)
        mining = counts.rounds == 0 and counts.corpus >= 3
        if mining:
            tx.enqueue(mine_spec(project_id, 1))
    if mining:
        wake()
    return CorpusAdded(added, duplicates, counts.corpus, mining)


def queue_mining(storage: Storage, project_id: int) -> int:
    """Queue the project's next mining round; the round number."""
    with storage.write() as tx:
        triplet_schema(tx, project_id)
        round_ = tx.triplet_counts(project_id).rounds + 1
        tx.enqueue(mine_spec(project_id, round_))
    return round_


def triplet_status(storage: Storage, settings: Settings, project_id: int) -> dict[str, Any]:
    """Corpus, tasks, judgements, the LLM's agreement with them, the fine-tune rounds and the
    latest retrieval measures of a triplet project."""
    with storage.read() as tx:
        schema = triplet_schema(tx, project_id)
        corpus = tx.get_corpus(project_id)
        counts = tx.triplet_counts(project_id)
        tasks = tx.get_triplet_tasks(project_id)
        judged = read_judgements(tx, project_id, schema, tasks)
        rounds = triplet_rounds(tx, project_id)
        encoder = current_encoder(tx, project_id)
    by = Counter(j.judgement for j in judged)
    compared = [j for j in judged if j.task.llm_judgement is not None]
    agree = sum(j.task.llm_judgement == j.judgement for j in compared)
    latest = rounds[-1] if rounds else None
    measures = (latest.get("after") if latest and latest.get("adopted") else
                latest.get("before") if latest else None) or {}
    return {
        "project": project_id, "task_type": schema.task_type,
        "corpus": {"items": counts.corpus, "grouped": counts.grouped,
                   "held_out": int(held_out_mask(project_id, corpus,
                                                 fraction=settings.triplet_heldout).sum())},
        "tasks": {"pending": counts.pending, "sending": counts.sending,
                  "created": counts.created, "failed": counts.failed},
        "mining_rounds": counts.rounds,
        "judgements": {"total": len(judged), "first": by["first"], "second": by["second"],
                       "tie": by["tie"]},
        "llm": {"pre_judged": sum(t.llm_judgement is not None for t in tasks),
                "compared": len(compared),
                "agreement": round(agree / len(compared), 4) if compared else None},
        "encoder": encoder.name if encoder else None,
        "rounds": [_round(r) for r in rounds],
        "recall_at_10": measures.get("recall_at_10"), "mrr": measures.get("mrr"),
        "triplet_accuracy": measures.get("triplet_accuracy"),
    }


def _round(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("round", "version", "judgements", "train_triplets", "ties", "measured_on",
            "held_out", "primary", "before", "after", "adopted", "loss", "at")
    out = {k: r.get(k) for k in keys}
    training = r.get("training") or {}
    out["steps"] = training.get("steps")
    out["cpu_seconds"] = training.get("cpu_seconds")
    return out
