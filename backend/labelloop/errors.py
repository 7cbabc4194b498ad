"""Domain exceptions.

Every error labelloop raises on purpose derives from :class:`LabelloopError`. Each carries the
HTTP status it maps to; ``labelloop.api.errors`` is the one place that turns them into answers.
"""

from __future__ import annotations


class LabelloopError(Exception):
    """Base class. ``status`` is the HTTP status used when it reaches an HTTP handler."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, detail: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidInput(LabelloopError):
    """The request is well-formed JSON but its content is wrong (missing field, wrong type)."""

    status = 422
    code = "invalid_input"


class MalformedBody(LabelloopError):
    """The body is not JSON, or not the JSON shape the endpoint takes at all."""

    status = 400
    code = "malformed_body"


class PayloadTooLarge(LabelloopError):
    status = 413
    code = "payload_too_large"


class Unauthorized(LabelloopError):
    status = 401
    code = "unauthorized"


class UnknownProject(LabelloopError):
    status = 404
    code = "unknown_project"


class NotFound(LabelloopError):
    status = 404
    code = "not_found"


class NoThumbnail(NotFound):
    """A task has no picture the dashboard can show: an audio or text project, no media value,
    or media that did not fetch or decode (``detail["reason"]`` says which)."""

    code = "no_thumbnail"


class UnsupportedConfig(LabelloopError):
    """The labeling config parses but labelloop cannot serve it (yet)."""

    status = 422
    code = "unsupported_config"


class NoModelYet(LabelloopError):
    """The project has no model to serve yet (a retrain stores one once tasks are labelled), or
    the stored one does not fit the configured embedder."""

    status = 409
    code = "no_model_yet"


class LabelStudioUnavailable(LabelloopError):
    """Label Studio is not configured, or its API failed."""

    status = 503
    code = "label_studio_unavailable"


class StorageError(LabelloopError):
    status = 503
    code = "storage_error"


class JobError(LabelloopError):
    """A job failed in a way that retrying may fix."""


class PermanentJobError(LabelloopError):
    """A job failed in a way that retrying will not fix: it is marked dead at once."""
