"""``POST /api/projects/{id}/classify``: the served model's labels for new items
(:class:`labelloop.predict.classify.Classifier`).

The body is read through the input layer (:func:`labelloop.api.bodies.body_of`); at most
``LABELLOOP_STREAM_MAX_BATCH`` items (413 past it). The embedding and the model run in the
thread pool, never on the event loop. Errors: 404 unknown project, 422 not a text
classification project or an item without its text, 409 no trained model yet.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from labelloop.api.bodies import body_of, documented
from labelloop.api.deps import ServicesDep
from labelloop.api.errors import COMMON_ERRORS, error_responses
from labelloop.errors import PayloadTooLarge
from labelloop.inputs import Id

router = APIRouter()


class ClassifyItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any] = Field(description="the item's data: the project's text under its "
                                             "config's $field (e.g. {\"text\": \"...\"})")


class ClassifyRequest(BaseModel):
    """Items to classify (at most LABELLOOP_STREAM_MAX_BATCH)."""

    model_config = ConfigDict(extra="forbid")
    items: list[ClassifyItem] = Field(min_length=1)


class ClassifiedItem(BaseModel):
    label: str | list[str] = Field(description="the likeliest label (multiple choice: the "
                                               "labels at probability >= 0.5, else the "
                                               "likeliest)")
    probability: float = Field(description="its probability (multiple choice: the mean over "
                                           "the labels given)")
    probabilities: dict[str, float] = Field(description="every label's probability")


class ClassifyAnswer(BaseModel):
    version: str = Field(description="the model version that answered")
    source: str = Field(description="model: the local model trained on the human labels")
    results: list[ClassifiedItem] = Field(description="one per item, in order")


ClassifyBody = Annotated[ClassifyRequest, Depends(body_of(ClassifyRequest))]


@router.post("/api/projects/{project_id}/classify", openapi_extra=documented(ClassifyRequest),
             response_model=ClassifyAnswer,
             responses=error_responses(400, *COMMON_ERRORS, 403, 404, 409, 422, 503))
async def classify(project_id: Annotated[Id, Path(description="the Label Studio project id")],
                   body: ClassifyBody, services: ServicesDep) -> dict[str, Any]:
    """The current model's label and probabilities for each item (the project's published
    version's local model, else its newest one)."""
    limit = services.settings.stream_max_batch
    if len(body.items) > limit:
        raise PayloadTooLarge(f"{len(body.items)} items in one request; at most {limit} "
                              "(LABELLOOP_STREAM_MAX_BATCH): send them in smaller batches")
    datas = [item.data for item in body.items]
    result = await run_in_threadpool(services.classifier.classify, project_id, datas)
    return result.to_json()
