"""The service side's decisions, pure (issue 16 part 4): which corpus items are held out to
measure retrieval, what a triplet task sent to Label Studio carries, how the tasks of an import
whose answer never came are found again, and whether a fine-tune round is due.

**Held out.** A corpus item with a group is held out when a hash of its project and id falls
below ``fraction``: stable as the corpus grows (an item never moves between the sides, so no
triplet ever holds an item recall is later measured on), independent of posting order. Items
without a group are never held out. recall@10 and MRR are measured among the held-out items of
groups with at least two of them (each a query against the others).

**Task bodies.** A triplet task's data holds the three texts under ``anchor``, ``first``,
``second`` (the config's ``$fields``) and its key under :data:`KEY_FIELD`, also in ``meta``
(never shown: the config reads only its own fields). The key identifies the triplet in Label
Studio (recovery, judgements).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labelloop.storage.records_triplets import CorpusItem, TripletTask

KEY_FIELD = "labelloop_triplet_key"


def is_held_out(project_id: int, item_id: int, *, fraction: float) -> bool:
    """Whether corpus item ``item_id`` (with a group) is held out of mining (module doc)."""
    digest = hashlib.sha256(f"{project_id}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def held_out_mask(project_id: int, corpus: Sequence[CorpusItem], *,
                  fraction: float) -> np.ndarray:
    """(n,) bool over ``corpus``: the held-out items, only those of groups holding at least two
    of them (an item alone in its group measures nothing and stays minable)."""
    mask = np.array([c.group is not None and is_held_out(project_id, c.id, fraction=fraction)
                     for c in corpus], dtype=bool)
    groups = [c.group for c in corpus]
    counts: dict[str | None, int] = {}
    for i in np.flatnonzero(mask).tolist():
        counts[groups[i]] = counts.get(groups[i], 0) + 1
    for i in np.flatnonzero(mask).tolist():
        if counts[groups[i]] < 2:
            mask[i] = False
    return mask


def group_ids(corpus: Sequence[CorpusItem]) -> np.ndarray:
    """(n,) int: each item's group as a number (-1 - position for items without a group, so
    no two of them are ever of one group)."""
    index: dict[str, int] = {}
    out = np.empty(len(corpus), dtype=np.int64)
    for i, c in enumerate(corpus):
        out[i] = index.setdefault(c.group, len(index)) if c.group is not None else -1 - i
    return out


def task_body(task: TripletTask, texts: Mapping[int, str],
              prediction: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The Label Studio task of a triplet: its three texts (``texts``: corpus id → text), its
    key, and the LLM's pre-judgement as a prediction (already validated) when there is one."""
    body: dict[str, Any] = {
        "data": {"anchor": texts[task.anchor_id], "first": texts[task.first_id],
                 "second": texts[task.second_id], KEY_FIELD: task.key},
        "meta": {KEY_FIELD: task.key}}
    if prediction:
        body["predictions"] = [dict(prediction)]
    return body


def triplet_key_of(task: Mapping[str, Any]) -> str | None:
    """The triplet key a Label Studio task carries (``meta`` first, then ``data``)."""
    for part in ("meta", "data"):
        value = task.get(part)
        key = value.get(KEY_FIELD) if isinstance(value, Mapping) else None
        if isinstance(key, str) and key:
            return key
    return None


def recovery_floor(sending: Sequence[TripletTask], created: Sequence[TripletTask]) -> int | None:
    """The Label Studio task id above which the ``sending`` triplets' tasks lie: the highest
    task id of triplets created by imports that began before the oldest of theirs (Label
    Studio's ids only grow; one import of a project at a time). None: scan every task."""
    starts = [t.sent_at for t in sending]
    if not starts or any(s is None for s in starts):
        return None
    first = min(s for s in starts if s is not None)
    before = [t.ls_task_id for t in created
              if t.ls_task_id is not None and t.sent_at is not None and t.sent_at < first]
    return max(before, default=None)




def finetune_due(judged: int, last: int | None, *, every_n: int) -> bool:
    """A round is due at ``every_n`` judged triplets, then every ``every_n`` more."""
    return judged >= (last or 0) + every_n


def adopt_encoder(before: Mapping[str, float] | None,
                  after: Mapping[str, float] | None) -> bool:
    """A tuned encoder is adopted when it is measured (both sides, the same measures) and
    worse on none of them: recall@10 and MRR, or triplet accuracy (equal: adopted, it knows
    the judgements)."""
    if not before or not after or set(before) != set(after):
        return False
    return all(float(after[k]) >= float(before[k]) for k in before)
