"""The Label Studio gateway on label-studio-sdk 2.1.x (:class:`SdkGateway`).

Each method is one Label Studio API call (or one paginated series of them). Calls go through the
SDK's own HTTP client, so they share its base URL, auth header (``Token …`` for a legacy token,
``Bearer …`` for a personal access token), timeout and retry policy; the JSON comes back as
Label Studio sent it, without a round trip through the SDK's pydantic models. Endpoints the SDK
has no method for (``/next/``, ``/model-versions/``) use the same client.

Every failure — no connection, a timeout, a non-2xx status, a body that is not JSON — raises
:class:`labelloop.errors.LabelStudioUnavailable` naming the call and the reason. The API key is
never part of a message or a log line.

Behaviour of Label Studio 1.23.2 this module relies on is pinned by
``tests/e2e/test_label_studio_facts.py`` and written down in ``docs/label-studio-findings.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError
from label_studio_sdk.core.parse_error import ParsingError
from label_studio_sdk.core.request_options import RequestOptions
from label_studio_sdk.types import ImportApiRequest, PredictionRequest

from labelloop.errors import LabelStudioUnavailable

__all__ = ["SdkGateway", "make_gateway"]

_DETAIL_CHARS = 300
_HINTS = {
    401: " (check LABEL_STUDIO_API_KEY; a legacy token only works when legacy tokens are enabled"
    " for the organization)",
    403: " (the API key's user may not do this)",
}


class SdkGateway:
    """:class:`labelloop.labelstudio.gateway.LabelStudioGateway` on a ``LabelStudio`` client.

    Build it with :func:`make_gateway`, or pass a client built elsewhere (tests do).
    ``slow_timeout`` (seconds) replaces the client's timeout for the calls whose cost grows with
    the number of predictions: Label Studio 1.23.2 took over 30 s to delete a 5,000-prediction
    model version (see docs/label-studio-findings.md).
    """

    def __init__(self, sdk: LabelStudio, *, slow_timeout: float = 600.0) -> None:
        self._sdk = sdk
        self.slow_timeout = slow_timeout
        self._http = sdk._client_wrapper.httpx_client
        self.base_url = sdk._client_wrapper.get_base_url().rstrip("/")

    def __repr__(self) -> str:  # the default repr would not leak the key, but say so explicitly
        return f"SdkGateway(base_url={self.base_url!r})"

    @property
    def sdk(self) -> LabelStudio:
        """The underlying SDK client, for calls this gateway does not wrap."""
        return self._sdk

    # --- the LabelStudioGateway protocol ---------------------------------------------------

    def get_project(self, project_id: int) -> dict[str, Any]:
        return self._call("get_project", "GET", f"api/projects/{project_id}/")

    def iter_tasks(self, project_id: int, *, page_size: int = 500,
                   after_id: int | None = None,
                   upto: int | None = None) -> Iterator[dict[str, Any]]:
        """Every task of the project with an id above ``after_id`` (and at most ``upto``), in id
        order, each with ``annotations`` and ``predictions``.

        Keyset pages: ``GET /api/tasks/?project=P&fields=all&page_size=S&query=…`` where the
        query (Data Manager filters) asks for ``tasks:id > <last id seen>`` ordered by id.
        Unlike page numbers, a task deleted mid-walk shifts nothing, a deep page costs Label
        Studio no OFFSET, and a walk can resume after the last task it stored. Without
        ``fields=all`` Label Studio leaves ``annotations`` out. A short page ends the walk.
        """
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        last = after_id
        while True:
            query: dict[str, Any] = {"ordering": ["tasks:id"]}
            items = [] if last is None else [{"filter": "filter:tasks:id", "operator": "greater",
                                              "type": "Number", "value": last}]
            if upto is not None:  # resync: finding the one task Label Studio cannot serve
                items.append({"filter": "filter:tasks:id", "operator": "less_or_equal",
                              "type": "Number", "value": upto})
            if items:
                query["filters"] = {"conjunction": "and", "items": items}
            params = {"project": project_id, "fields": "all", "page": 1,
                      "page_size": page_size, "query": json.dumps(query)}
            body = self._call("iter_tasks", "GET", "api/tasks/", params=params)
            tasks = body.get("tasks") if isinstance(body, dict) else None
            if not isinstance(tasks, list):
                raise LabelStudioUnavailable(
                    f"Label Studio iter_tasks: the page after task {last} of project "
                    f"{project_id} has no 'tasks' list",
                    detail={"call": "iter_tasks", "after_id": last},
                )
            for task in tasks:
                if last is not None and task["id"] <= last:
                    raise LabelStudioUnavailable(
                        f"Label Studio iter_tasks: task {task['id']} came after task {last}: "
                        "the id filter or ordering was not applied",
                        detail={"call": "iter_tasks", "after_id": last})
                last = task["id"]
                yield task
            if len(tasks) < page_size:
                return

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        """``POST /api/projects/{id}/import?return_task_ids=true``; the new tasks' ids, in
        request order (Label Studio 1.23.2 creates them synchronously and answers ``task_ids``).

        Not retried by the client (a POST retried after Label Studio stored the tasks would
        store them twice): the caller's job retries, and finds tasks of an attempt whose answer
        was lost by what they carry (:mod:`labelloop.stream.outbox`).
        """
        if not tasks:
            return []
        where = f"POST /api/projects/{project_id}/import"
        try:
            answer = self._sdk.projects.import_tasks(
                id=project_id,
                request=cast(list[ImportApiRequest], tasks),
                return_task_ids=True,
                request_options=_options(self.slow_timeout, max_retries=0),
            )
        except (ApiError, ParsingError) as exc:
            raise _api_error("import_tasks", where, exc) from exc
        except httpx.HTTPError as exc:
            raise _transport_error("import_tasks", where, self.base_url, exc) from exc
        ids = getattr(answer, "task_ids", None)
        if not isinstance(ids, list) or len(ids) != len(tasks) or \
                not all(isinstance(i, int) for i in ids):
            raise LabelStudioUnavailable(
                f"Label Studio import_tasks: the answer has no 'task_ids' list of {len(tasks)} "
                f"ids (got {_short(repr(ids))})",
                detail={"call": "import_tasks"},
            )
        return [int(i) for i in ids]

    def import_predictions(self, project_id: int, predictions: list[dict[str, Any]]) -> int:
        """Bulk ``POST /api/projects/{id}/import/predictions``; returns ``created``.

        Not retried by the client (a retried POST could store the batch twice): the caller's
        job retries. Label Studio 1.23.2 stores ``cluster`` as null on this path (see the
        findings); ``POST /api/predictions/`` keeps it.
        """
        if not predictions:
            return 0
        try:
            answer = self._sdk.projects.import_predictions(
                id=project_id,
                # plain dicts: the SDK serialises them as it would its own models
                request=cast(list[PredictionRequest], predictions),
                request_options=_options(self.slow_timeout, max_retries=0),
            )
        except (ApiError, ParsingError) as exc:
            where = f"POST /api/projects/{project_id}/import/predictions"
            raise _api_error("import_predictions", where, exc) from exc
        except httpx.HTTPError as exc:
            where = f"POST /api/projects/{project_id}/import/predictions"
            raise _transport_error("import_predictions", where, self.base_url, exc) from exc
        created = getattr(answer, "created", None)
        if not isinstance(created, int):
            raise LabelStudioUnavailable(
                "Label Studio import_predictions: the answer has no 'created' count",
                detail={"call": "import_predictions"},
            )
        return created

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        return self._call("update_project", "PATCH", f"api/projects/{project_id}/", payload=fields)

    def list_model_versions(self, project_id: int) -> dict[str, int]:
        """``{version: prediction count}``, newest first.

        Label Studio's code also lists ``project.model_version`` with 0 when no prediction
        carries it; in practice it refuses to PATCH ``model_version`` to a version without
        predictions, and deleting the current version resets ``project.model_version``."""
        body = self._call(
            "list_model_versions", "GET", f"api/projects/{project_id}/model-versions/"
        )
        if not isinstance(body, dict):
            raise LabelStudioUnavailable(
                "Label Studio list_model_versions: expected a JSON object",
                detail={"call": "list_model_versions"},
            )
        return {str(k): int(v) for k, v in body.items()}

    def delete_model_version(self, project_id: int, version: str) -> None:
        """Delete every prediction of ``version``. Label Studio 1.23.2 also resets
        ``project.model_version`` to null when it equals ``version`` or equals the title of an
        ML backend of the project (as it does right after registration)."""
        self.delete_model_version_count(project_id, version)

    def next_task(self, project_id: int) -> dict[str, Any] | None:
        """``GET /api/projects/{id}/next/``. None when Label Studio has no task left for the API
        user (404 "There are no tasks for …"). An unknown project also answers 404 there, with
        "No Project matches the given query."; that one raises."""
        try:
            return self._call("next_task", "GET", f"api/projects/{project_id}/next/")
        except LabelStudioUnavailable as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {}
            if detail.get("status") == 404 and "No Project" not in str(detail.get("body")):
                return None
            raise

    # --- additions to the protocol ---------------------------------------------------------

    def delete_model_version_count(self, project_id: int, version: str) -> int:
        """Like :meth:`delete_model_version`, returning how many predictions were deleted."""
        if not version:
            raise ValueError("version must be a non-empty string")
        body = self._call(
            "delete_model_version",
            "DELETE",
            f"api/projects/{project_id}/model-versions/",
            payload={"model_version": version},
            timeout=self.slow_timeout,
        )
        return int(body.get("deleted_predictions", 0)) if isinstance(body, dict) else 0

    def list_ml_backends(self, project_id: int) -> list[dict[str, Any]]:
        body = self._call("list_ml_backends", "GET", "api/ml/", params={"project": project_id})
        return body if isinstance(body, list) else []

    def list_webhooks(self, project_id: int) -> list[dict[str, Any]]:
        body = self._call("list_webhooks", "GET", "api/webhooks/", params={"project": project_id})
        return body if isinstance(body, list) else []

    def update_webhook(self, webhook_id: int, **fields: Any) -> dict[str, Any]:
        return self._call("update_webhook", "PATCH", f"api/webhooks/{webhook_id}/",
                          payload=fields)

    def request_annotations(self, task_id: int, *, total: int = 2) -> bool:
        from labelloop.quality.double import request_annotations

        return request_annotations(self._sdk, task_id, total=total)

    # --- plumbing --------------------------------------------------------------------------

    def _call(
        self,
        name: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        payload: Any = None,
        timeout: float | None = None,
    ) -> Any:
        where = f"{method} /{path}"
        options = _options(timeout) if timeout is not None else None
        try:
            response = self._http.request(
                path, method=method, params=params, json=payload, request_options=options
            )
        except httpx.HTTPError as exc:
            raise _transport_error(name, where, self.base_url, exc) from exc
        if not 200 <= response.status_code < 300:
            raise _status_error(name, where, response.status_code, _short(response.text))
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise LabelStudioUnavailable(
                f"Label Studio {name} ({where}) answered {response.status_code} with a body "
                f"that is not JSON: {_short(response.text)}",
                detail={"call": name, "status": response.status_code},
            ) from exc


def make_gateway(
    url: str,
    api_key: str,
    *,
    timeout: float = 30.0,
    max_retries: int = 2,
    slow_timeout: float = 600.0,
) -> SdkGateway:
    """A gateway to the Label Studio at ``url``.

    ``api_key`` is a legacy token or a personal access token (JWT); ``timeout`` is per HTTP
    call in seconds; ``max_retries`` is the SDK's retry count for connection failures and for
    429/408/409/5xx answers (with exponential back-off from 1 s; 0 turns it off);
    ``slow_timeout`` is the timeout of the bulk prediction calls (see :class:`SdkGateway`).
    """
    if not url:
        raise LabelStudioUnavailable("Label Studio URL is not set")
    if not api_key:
        raise LabelStudioUnavailable("Label Studio API key is not set")
    try:
        sdk = LabelStudio(
            base_url=url.rstrip("/"), api_key=api_key, timeout=timeout, max_retries=max_retries
        )
    except ApiError as exc:  # an expired personal access token is refused at construction
        raise _api_error("connect", "token check", exc) from exc
    return SdkGateway(sdk, slow_timeout=max(slow_timeout, timeout))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "…"


def _status_error(name: str, where: str, status: int | None, body: str) -> LabelStudioUnavailable:
    hint = _HINTS.get(status or 0, "")
    return LabelStudioUnavailable(
        f"Label Studio {name} ({where}) answered {status}: {body}{hint}",
        detail={"call": name, "status": status, "body": body},
    )


def _api_error(name: str, where: str, exc: ApiError | ParsingError) -> LabelStudioUnavailable:
    # ApiError's str() includes every response header (cookies too): use status and body only.
    body = exc.body if isinstance(exc.body, str) else json.dumps(exc.body, default=str)
    return _status_error(name, where, exc.status_code, _short(body))


def _transport_error(
    name: str, where: str, base_url: str, exc: httpx.HTTPError
) -> LabelStudioUnavailable:
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        what = f"timed out waiting for {base_url} to answer"  # LS may still finish the work
    else:
        what = f"failed: cannot reach {base_url}"
    return LabelStudioUnavailable(
        f"Label Studio {name} ({where}) {what} ({type(exc).__name__}: {exc})",
        detail={"call": name, "error": type(exc).__name__},
    )


def _options(timeout: float, **more: int) -> RequestOptions:
    """Request options with a float timeout (the SDK types ``timeout_in_seconds`` as int but
    hands it to httpx as given)."""
    return cast(RequestOptions, {**more, "timeout_in_seconds": timeout})
