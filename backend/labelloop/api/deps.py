"""Injected dependencies: everything a handler needs comes from the app's :class:`Services`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from labelloop.errors import MalformedBody
from labelloop.events.ingestor import WebhookIngestor
from labelloop.inputs import read_json
from labelloop.labelstudio.access import GatewayProvider
from labelloop.loop.resources import Resources
from labelloop.predict.base import Predictor
from labelloop.predict.classify import Classifier
from labelloop.settings import Settings
from labelloop.storage.base import Storage
from labelloop.stream.ingest import StreamIngest


@dataclass
class Services:
    """Built once by ``create_app(settings)``; lives in ``app.state.services``."""

    settings: Settings
    storage: Storage
    gateways: GatewayProvider
    predictor: Predictor
    ingestor: WebhookIngestor
    wake: Callable[[], None]
    resources: Resources
    stream: StreamIngest  # production traffic in (POST /api/projects/{id}/stream)
    classifier: Classifier  # the served model (POST /api/projects/{id}/classify)


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_settings(request: Request) -> Settings:
    return request.app.state.services.settings


def get_storage(request: Request) -> Storage:
    return request.app.state.services.storage


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[Storage, Depends(get_storage)]


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, under the input layer's rules
    (:func:`labelloop.inputs.read_json`), or :class:`MalformedBody` saying what is wrong. Routes
    with a documented body use :func:`labelloop.api.bodies.body_of` instead."""
    value = read_json(await request.body())
    if not isinstance(value, dict):
        raise MalformedBody(f"the request body must be a JSON object, got {type(value).__name__}")
    return value


JsonObject = Annotated[dict[str, Any], Depends(json_object)]
