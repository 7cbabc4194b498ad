"""The OpenAPI spec (``/openapi.json``): FastAPI's, plus the request bodies read by
:func:`labelloop.api.bodies.body_of` (their models become component schemas).

Every operation documents its body and its error answers (:func:`labelloop.api.errors.
error_responses`, one :class:`~labelloop.api.errors.ErrorBody` schema); the fuzz test
(tests/api/test_fuzz.py) holds the app to it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from labelloop.api.bodies import BODY_MODELS

_REF = "#/components/schemas/{model}"


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` include the documented request-body models."""

    def spec() -> dict[str, Any]:
        if app.openapi_schema is None:
            out = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                              description=app.description, routes=app.routes)
            schemas = out.setdefault("components", {}).setdefault("schemas", {})
            for name, model in BODY_MODELS.items():
                schema = model.model_json_schema(ref_template=_REF, by_alias=True)
                schemas.update(schema.pop("$defs", {}))
                schemas[name] = schema
            app.openapi_schema = out
        return app.openapi_schema

    app.openapi = spec  # type: ignore[method-assign]
