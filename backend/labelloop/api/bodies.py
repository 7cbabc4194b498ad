"""Request bodies: the models of what clients send, read through one door.

:func:`body_of` reads a body with the input layer's JSON rules (:func:`labelloop.inputs.
read_json`: 400 when it is not JSON, too deep, not finite or too big in its keys and strings),
then validates it against a model (422 with the failing fields, in the same shape as FastAPI's
own parameter errors). The models name the fields labelloop reads and let the rest through
(Label Studio sends many more); they are the OpenAPI spec's request bodies
(:func:`documented`), so the spec and the checks cannot drift apart.

``/webhook`` stores its body before it checks it (:mod:`labelloop.events.ingestor`):
:class:`WebhookEvent` only documents it, and :func:`labelloop.events.parse.parse_event` applies
the same rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from labelloop.api.errors import invalid_input
from labelloop.errors import MalformedBody
from labelloop.events.parse import (
    ACTION_PATTERN,
    MAX_ACTION_CHARS,
    STUB_HEAD_BYTES,
    Body,
    TooLarge,
)
from labelloop.inputs import ID_PATTERN, Id, Number, ProjectKey, ProjectRef, read_json
from labelloop.text import clean_text

M = TypeVar("M", bound=BaseModel)
BODY_MODELS: dict[str, type[BaseModel]] = {}
"""Every documented request body by name: :mod:`labelloop.api.openapi` adds them to the spec."""

MAX_CONFIG_CHARS = 4 * 1024 * 1024
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,99}$"

CleanText = Annotated[str, AfterValidator(clean_text)]
"""Text as it is stored: lone surrogates replaced, NUL removed (:mod:`labelloop.text`)."""
Config = Annotated[CleanText, StringConstraints(min_length=1, max_length=MAX_CONFIG_CHARS,
                                                pattern=r"\S")]
Version = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]


class _Open(BaseModel):
    """Fields labelloop does not read are let through (Label Studio sends many)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class SetupRequest(_Open):
    """What Label Studio sends to ``/setup`` when the backend is connected and on every
    settings page load."""

    project: ProjectKey = Field(description='"<id>.<created_at timestamp>", or the id')
    label_config: Config = Field(alias="schema", description="the labeling config XML")
    hostname: CleanText | None = Field(None, max_length=2048,
                                 description="used only with LABELLOOP_TRUST_SETUP_CREDENTIALS")
    access_token: CleanText | None = Field(None, max_length=4096,
                                     description="used only with "
                                                 "LABELLOOP_TRUST_SETUP_CREDENTIALS")
    extra_params: dict[str, Any] | None = None


class PredictTask(_Open):
    """A task as Label Studio sends it (the full row: annotations, predictions, … too)."""

    id: Id
    data: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    project: ProjectRef | None = None


class PredictRequest(_Open):
    """What Label Studio sends to ``/predict``: tasks to pre-label, in the order to answer."""

    tasks: list[PredictTask] = Field(min_length=1)
    project: ProjectKey | None = Field(None, description="taken from the tasks when absent")
    label_config: Config | None = None


class QueueRequest(BaseModel):
    """An explicit ordering to publish: lower score = labelled first."""

    model_config = ConfigDict(extra="forbid")
    scores: dict[Annotated[str, StringConstraints(pattern=ID_PATTERN)], Number] = Field(
        min_length=1, description="{task id: score}",
        json_schema_extra={"additionalProperties": False})
    version: Version | None = Field(None, description="the model version to publish under; "
                                                      "the next labelloop-N when absent")


class WebhookEvent(_Open):
    """A Label Studio webhook event (see docs/label-studio-protocol.md for each action's
    payload). Documentation only: ``/webhook`` stores what it gets before checking it."""

    action: Annotated[str, StringConstraints(max_length=MAX_ACTION_CHARS,
                                             pattern=ACTION_PATTERN)]
    project: ProjectRef | None = None


def documented(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` of a route whose body is ``model`` (read by :func:`body_of`)."""
    BODY_MODELS[model.__name__] = model
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def body_of(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency: the request body as ``model``, after the input layer's JSON rules."""

    async def read(request: Request) -> M:
        value = read_json(await request.body())
        if not isinstance(value, dict):
            raise MalformedBody(f"the request body must be a JSON object, got "
                                f"{type(value).__name__}")
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            raise invalid_input([{"loc": ["body", *e["loc"]], "msg": e["msg"]}
                                 for e in exc.errors(include_url=False)]) from None

    return read



async def read_event_body(request: Request, limit: int) -> Body:
    """A webhook body, or past ``limit`` bytes its :class:`TooLarge` record: the rest is read
    (up to the app's body limit) only to size and hash it, never kept."""
    kept: list[bytes] | None = []
    digest = hashlib.sha256()
    size = 0
    head = b""
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
        if kept is not None:
            kept.append(chunk)
            if size > limit:
                head, kept = b"".join(kept)[:STUB_HEAD_BYTES], None
    if kept is None:
        return TooLarge(size=size, sha256=digest.hexdigest(), head=head, limit=limit)
    return b"".join(kept)


SetupBody = Annotated[SetupRequest, Depends(body_of(SetupRequest))]
PredictBody = Annotated[PredictRequest, Depends(body_of(PredictRequest))]
QueueBody = Annotated[QueueRequest, Depends(body_of(QueueRequest))]
