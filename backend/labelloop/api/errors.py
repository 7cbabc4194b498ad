"""The one place where exceptions become HTTP answers.

Every answer is JSON ``{"error": code, "message": text, "detail": …}`` (:class:`ErrorBody`, the
one error schema of the OpenAPI spec). Domain errors carry their status; validation errors are
422 with ``detail`` listing each failing field (``{"loc": [...], "msg": ...}``); anything
unexpected is a 500 with a generic message (the traceback goes to the log, never to the client).
:func:`error_responses` documents, per operation, the error statuses it can answer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from labelloop.errors import InvalidInput, LabelloopError

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """Every error answer of labelloop."""

    error: str = Field(description="a stable code: invalid_input, malformed_body, "
                                   "unknown_project, payload_too_large, …")
    message: str = Field(description="what is wrong, for a person")
    detail: Any = Field(None, description="more, when there is more: for invalid_input the "
                                          "list of failing fields [{loc, msg}]")


_WHY = {
    400: "The body is not JSON, or breaks the input rules (nesting deeper than 64 levels, "
         "a non-finite number, an oversized key or string), or is not a JSON object, or the "
         "client went away before sending all of it.",
    401: "Basic auth is configured and the request does not carry it.",
    403: "Refused to this client.",
    404: "Unknown project (or resource).",
    409: "The project has no trained model to serve yet (no_model_yet).",
    413: "The body is larger than LABELLOOP_MAX_BODY_BYTES (or, for /webhook, "
         "LABELLOOP_WEBHOOK_MAX_EVENT_BYTES).",
    422: "A field is missing or wrong (invalid_input), or the project's labeling config is "
         "not supported (unsupported_config).",
    503: "Label Studio is not configured or failed, or storage failed.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: these statuses answer :class:`ErrorBody`."""
    return {s: {"model": ErrorBody, "description": _WHY[s]} for s in statuses}


COMMON_ERRORS = (401, 413)
"""What any route can answer: basic auth and the body limit run before every route."""


def error_response(status: int, code: str, message: str, detail: object = None,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    body: dict[str, object] = {"error": code, "message": message}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, headers=headers)


def where(loc: Sequence[Any]) -> str:
    """``["body", "tasks", 0, "id"]`` → ``tasks[0].id``; ``["path", "project_id"]`` →
    ``project_id``."""
    out = ""
    for part in loc:
        if part in ("body", "path", "query") and not out:
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def invalid_input(errors: list[dict[str, Any]]) -> InvalidInput:
    """The 422 of a list of ``{"loc", "msg"}``: the first one in the message, all in detail."""
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    return InvalidInput(f"{where(first['loc'])}: {first['msg']}", detail=errors)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LabelloopError)
    async def _domain(_: Request, exc: LabelloopError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="labelloop"'} if exc.status == 401 else None
        return error_response(exc.status, exc.code, exc.message, exc.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = invalid_input([{"loc": list(e.get("loc", ())), "msg": e.get("msg")}
                             for e in exc.errors()])
        return error_response(err.status, err.code, err.message, err.detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _: ClientDisconnect) -> JSONResponse:
        # the client closed the connection mid-body: nothing of labelloop's failed, and nobody
        # reads the answer (a 400, as for any incomplete body), so no traceback and no 500
        log.info("%s %s: the client went away before sending the whole body", request.method,
                 request.url.path)
        return error_response(400, "client_disconnected",
                              "the client went away before sending the whole body")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; see labelloop's log")
