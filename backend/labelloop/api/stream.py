"""``POST /api/projects/{id}/stream``: production traffic in (:mod:`labelloop.stream.ingest`).

The handler reads the body (the input layer's JSON rules, as :mod:`labelloop.api.bodies`),
then checks, scores, decides and stores the batch in the thread pool — the event loop never
waits on the screening model or the database — and answers. It never trains nor calls the LLM:
the items selected go to Label Studio in a ``stream_export`` job.

200 ``{"received", "selected", "duplicates"}`` when every item was good (deferred decisions,
the default: ``selected`` empty and ``"deciding": n``, the new items a job decides); 422 with the same
fields plus ``accepted`` (the good items' keys: stored and decided all the same) and ``errors``
(``[{index, key, field, message}]``) when some were not.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from labelloop.api.bodies import documented
from labelloop.api.deps import ServicesDep
from labelloop.api.errors import COMMON_ERRORS, ErrorBody, error_responses
from labelloop.inputs import Id, read_json
from labelloop.stream.ingest import IngestResult
from labelloop.stream.validate import MAX_KEY_CHARS

router = APIRouter()
Label = Annotated[str, StringConstraints(min_length=1)]


class StreamItemIn(BaseModel):
    """One item of production traffic."""

    model_config = ConfigDict(extra="forbid")
    key: Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY_CHARS)] = Field(
        description="identifies the item: an item whose key was received before is a "
                    "duplicate (never stored, decided or selected twice), so a batch can be "
                    "sent again safely")
    data: dict[str, Any] = Field(description="the task data; the project's text under its "
                                             "config's $field (e.g. {\"text\": \"...\"})")
    prediction: Label | list[Label] | None = Field(
        None, description="the production model's label (a list for multiple choice)")
    feedback: Literal["negative", "positive", "correction"] | None = Field(
        None, description="a user's verdict on the prediction: negative feedback and "
                          "corrections are selected first (up to their share of the budget)")
    correction: Label | list[Label] | None = Field(
        None, description='the right label(s): only with, and required by, feedback '
                          '"correction"')


class StreamRequest(BaseModel):
    """A batch of production traffic (at most LABELLOOP_STREAM_MAX_BATCH items)."""

    model_config = ConfigDict(extra="forbid")
    items: list[StreamItemIn]


class ItemErrorOut(BaseModel):
    index: int = Field(description="the item's position in items")
    key: str | None = Field(description="its key, when it has a valid one")
    field: str = Field(description="the failing field (data.<name> for the text)")
    message: str


class StreamAnswer(BaseModel):
    received: int = Field(description="new items stored (and decided, unless deferred)")
    selected: list[str] = Field(description="their keys that become Label Studio tasks "
                                            "(deferred decisions: none in the answer)")
    duplicates: int = Field(description="items received before, or repeated in the batch")
    deciding: int | None = Field(None, description="LABELLOOP_STREAM_DECIDE=deferred (the "
                                 "default): new items stored undecided, decided by a job "
                                 "seconds later; absent when decided in the request")


class StreamRefused(ErrorBody):
    """A 422: the whole batch refused (no stream fields), or some items bad (the rest taken)."""

    received: int | None = None
    selected: list[str] | None = None
    duplicates: int | None = None
    deciding: int | None = None
    accepted: list[str] | None = Field(None, description="the good items' keys: stored (or "
                                                         "duplicates) and decided")
    errors: list[ItemErrorOut] | None = None


@router.post(
    "/api/projects/{project_id}/stream", openapi_extra=documented(StreamRequest),
    response_model=StreamAnswer,
    responses={**error_responses(400, *COMMON_ERRORS, 403, 404, 503),
               422: {"model": StreamRefused,
                     "description": "Some items are bad: each named in errors by index, key "
                                    "and field; the good ones were stored and decided "
                                    "(accepted). Or the body is not {\"items\": [...]}, or the "
                                    "project is not a text classification one."}})
async def post_stream(project_id: Annotated[Id, Path(description="the Label Studio project id")],
                      request: Request, services: ServicesDep) -> JSONResponse:
    """Production traffic: each new item is stored and decided at once (selected to become a
    Label Studio task, within LABELLOOP_STREAM_BUDGET, or not); the answer says which."""
    raw = await request.body()
    result = await run_in_threadpool(lambda: services.stream.ingest(project_id, read_json(raw)))
    return JSONResponse(_answer(result), status_code=422 if result.errors else 200)


def _answer(result: IngestResult) -> dict[str, Any]:
    out = result.to_json()
    if result.errors:
        bad = result.errors
        items = len({e.index for e in bad})
        first = bad[0]
        who = f"items[{first.index}]" + (f" (key {first.key!r:.80})" if first.key else "")
        out = {"error": "invalid_input",
               "message": f"{items} item(s) refused, the other {len(result.accepted)} taken: "
                          f"{who} {first.field}: {first.message}", **out}
    return out
