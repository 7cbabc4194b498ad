"""LLM errors. Calls raise these; :class:`~labelloop.llm.labeler.LLMLabeler` turns them into
failed outcomes, so one bad answer or one failed call never stops a batch."""

from __future__ import annotations

from labelloop.errors import InvalidInput, LabelloopError


class LLMError(LabelloopError):
    """A call to the LLM failed."""

    status = 502
    code = "llm_error"


class LLMTransient(LLMError):
    """Worth retrying: rate limited, server error, timeout, connection failure."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMRejected(LLMError):
    """The server refused the request as invalid (400/422): a parameter it does not support,
    or a prompt too long. Retrying the same request will not help."""


class LLMAuthFailed(LLMError):
    """401/403/404: wrong key, no access to the model, or wrong URL."""


class LLMUnavailable(LLMError):
    """LLM work is stopped: the circuit breaker is open or the budget is spent."""

    status = 503
    code = "llm_unavailable"

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind  # paused | over_budget


class PromptError(InvalidInput):
    """A prompt file is missing, unreadable, or uses an unknown placeholder."""
