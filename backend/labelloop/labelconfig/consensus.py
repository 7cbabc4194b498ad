"""The one consensus rule: a task's human label, for training, quality, double annotation and
export alike.

From a task's annotations (any task type; labels are the layer's canonical, hashable labels):

1. cancelled (skipped) annotations and those without a usable label do not vote; a task with
   annotations, even only skipped ones, counts as *reviewed*;
2. one vote per annotator: their most recent annotation (by Label Studio's ``updated_at``, then
   id); annotations without an annotator vote each on their own;
3. when any voting annotation is marked ground truth, only ground-truth annotations vote;
4. the label with the most votes wins (whole labels are compared: a combination of choices, a
   whole set of spans); a tie goes to the tied label voted most recently.

So one annotation is its own consensus; two annotators who disagree give the later one's label
(``tie`` is set, so reports can show how many consensus labels rest on a tie-break).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from labelloop.labelconfig.kinds import Label, Unusable, read_label
from labelloop.labelconfig.schema import LabelSchema
from labelloop.storage.records import Annotation

L = TypeVar("L", bound=Hashable)
# when a vote was cast, later = larger: (updated_at, id) for stored annotations; an export's reader
# may add its position in the file (annotations without timestamps or ids)
Order = tuple[str | int, ...]


@dataclass(frozen=True)
class Vote(Generic[L]):
    label: L
    annotator: int | None
    ground_truth: bool = False
    order: Order = ("", 0)  # (updated_at, id): later = larger


@dataclass(frozen=True)
class Consensus(Generic[L]):
    label: L
    votes: int  # for the winner
    voters: int  # every vote counted
    tie: bool


def consensus(votes: Sequence[Vote[L]]) -> Consensus[L] | None:
    """The consensus of one task's votes (rules 2-4 above); None without votes."""
    latest: dict[object, Vote[L]] = {}
    for i, v in enumerate(votes):
        key: object = v.annotator if v.annotator is not None else ("anonymous", i)
        if key not in latest or v.order > latest[key].order:
            latest[key] = v
    counted = list(latest.values())
    if any(v.ground_truth for v in counted):
        counted = [v for v in counted if v.ground_truth]
    if not counted:
        return None
    counts = Counter(v.label for v in counted)
    best = max(counts.values())
    tied = {label for label, n in counts.items() if n == best}
    winner = max((v for v in counted if v.label in tied), key=lambda v: v.order).label
    return Consensus(winner, best, len(counted), len(tied) > 1)


@dataclass(frozen=True)
class TaskVotes:
    votes: tuple[Vote[Label], ...]
    reviewed: bool
    skipped: Counter[str]  # why annotations gave no vote


def annotation_vote(a: Annotation, label: Label) -> Vote[Label]:
    """The vote of annotation ``a`` whose label is ``label`` (read by the caller)."""
    return Vote(label, a.completed_by, a.ground_truth, (a.ls_updated_at or "", a.id))


def annotation_votes(schema: LabelSchema, annotations: Iterable[Annotation], *,
                     text: str | None) -> TaskVotes:
    """One task's annotations as votes (rule 1), reading each through the label layer."""
    votes: list[Vote[Label]] = []
    skipped: Counter[str] = Counter()
    reviewed = False
    for a in annotations:
        if a.deleted:
            continue
        reviewed = True
        if a.was_cancelled:
            skipped["cancelled_annotation"] += 1
            continue
        label = read_label(schema, a.result, text=text)
        if isinstance(label, Unusable):
            skipped[f"annotation_{label.reason}"] += 1
            continue
        votes.append(annotation_vote(a, label))
    return TaskVotes(tuple(votes), reviewed, skipped)


def human_label(schema: LabelSchema, annotations: Iterable[Annotation], *,
                text: str | None) -> tuple[Consensus[Label] | None, bool]:
    """(the consensus label or None, reviewed) of one task."""
    tv = annotation_votes(schema, annotations, text=text)
    return consensus(tv.votes), tv.reviewed
