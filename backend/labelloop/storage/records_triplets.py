"""Records of similarity-judgement projects (issue 16 part 4): the corpus a project's triplets
are drawn from, and the triplet tasks made of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# pending: mined, waiting to become a Label Studio task; sending: an import was attempted and
# its outcome is not known yet; created: ``ls_task_id`` set; failed: Label Studio refused it alone
TripletStatus = Literal["pending", "sending", "created", "failed"]


@dataclass(frozen=True)
class CorpusItemRow:
    """A text posted to a project's corpus, with its optional group (items of one group are
    similar: what recall@10 is measured on)."""

    text: str
    group: str | None = None


@dataclass(frozen=True)
class CorpusItem:
    id: int  # labelloop's id: the triplets name corpus items by it
    project_id: int
    text: str
    group: str | None
    added_at: float


@dataclass(frozen=True)
class TripletTaskRow:
    """A mined triplet of corpus ids, with how hard the encoder found it and the LLM's
    pre-judgement (None: none asked or none answered)."""

    anchor_id: int
    first_id: int
    second_id: int
    round: int  # the mining round that drew it (1, 2, ...)
    hardness: float | None = None
    llm_judgement: str | None = None
    llm_confidence: float | None = None
    llm_version: str | None = None

    @property
    def key(self) -> str:
        """The triplet's key: one per anchor and unordered candidate pair, so a triplet is
        never created twice in either candidate order (also the Label Studio task's key)."""
        lo, hi = sorted((self.first_id, self.second_id))
        return f"triplet-{self.anchor_id}-{lo}-{hi}"


@dataclass(frozen=True)
class TripletTask:
    id: int
    project_id: int
    key: str
    anchor_id: int
    first_id: int
    second_id: int
    round: int
    hardness: float | None
    llm_judgement: str | None
    llm_confidence: float | None
    llm_version: str | None
    status: TripletStatus
    created_at: float
    ls_task_id: int | None = None
    sent_at: float | None = None
    attempts: int = 0


@dataclass(frozen=True)
class TripletCounts:
    corpus: int = 0
    grouped: int = 0  # corpus items with a group
    pending: int = 0
    sending: int = 0
    created: int = 0
    failed: int = 0
    rounds: int = 0  # mining rounds so far

    @property
    def tasks(self) -> int:
        return self.pending + self.sending + self.created + self.failed
