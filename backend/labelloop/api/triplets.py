"""Similarity-judgement projects (issue 16 part 4, docs/triplets.md).

``POST /api/projects/{id}/triplets/corpus`` stores texts (and their optional groups) and queues
the first mining round; it never mines, embeds nor calls the LLM. ``GET
/api/projects/{id}/triplets`` reports the corpus, the triplet tasks, the judgements, the
fine-tune rounds and recall@10 / MRR.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from labelloop.api.bodies import body_of, documented
from labelloop.api.deps import ServicesDep
from labelloop.api.errors import COMMON_ERRORS, error_responses
from labelloop.inputs import Id
from labelloop.storage.records_triplets import CorpusItemRow
from labelloop.triplets.service import (
    MAX_GROUP_CHARS,
    MAX_TEXT_CHARS,
    add_corpus,
    triplet_status,
)

router = APIRouter()
MAX_ITEMS = 10_000


class CorpusItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]
    group: Annotated[str, StringConstraints(min_length=1, max_length=MAX_GROUP_CHARS)] | None = \
        Field(None, description="items of one group are similar: recall@10 and MRR are "
                                "measured on held-out grouped items")


class CorpusRequest(BaseModel):
    """Texts for the project's triplets (each stored once per project)."""

    model_config = ConfigDict(extra="forbid")
    items: list[CorpusItemIn] = Field(min_length=1, max_length=MAX_ITEMS)


class CorpusAnswer(BaseModel):
    added: int = Field(description="new texts stored")
    duplicates: int = Field(description="texts the corpus held already (or repeated)")
    corpus: int = Field(description="texts in the corpus now")
    mining: bool = Field(description="the first mining round was queued")


CorpusBody = Annotated[CorpusRequest, Depends(body_of(CorpusRequest))]
ProjectId = Annotated[Id, Path(description="the Label Studio project id")]


@router.post("/api/projects/{project_id}/triplets/corpus",
             openapi_extra=documented(CorpusRequest), response_model=CorpusAnswer,
             responses=error_responses(400, *COMMON_ERRORS, 403, 404, 422, 503))
async def post_corpus(project_id: ProjectId, body: CorpusBody,
                      services: ServicesDep) -> dict[str, Any]:
    """Add texts to a triplet project's corpus; the first post queues the first mining
    round (triplets mined, pre-judged by the LLM, created as Label Studio tasks by a job)."""
    rows = [CorpusItemRow(it.text, it.group) for it in body.items]
    got = await run_in_threadpool(add_corpus, services.storage, project_id, rows,
                                  wake=services.wake)
    return got.to_json()


@router.get("/api/projects/{project_id}/triplets",
            responses=error_responses(*COMMON_ERRORS, 403, 404, 422, 503))
async def get_triplets(project_id: ProjectId, services: ServicesDep) -> dict[str, Any]:
    """Corpus, triplet tasks, judgements, the LLM's agreement with them, fine-tune rounds
    (measures before and after, adopted or not) and the latest recall@10 / MRR."""
    return await run_in_threadpool(triplet_status, services.storage, services.settings,
                                   project_id)
