"""One chat-completion call, on the ``openai`` SDK, normalised.

:class:`ChatRequest` is what labelloop asks; its :meth:`~ChatRequest.payload` is both the SDK's
keyword arguments and (with endpoint and model) the cache key. :class:`ChatResponse` is the part
of the answer labelloop uses, as plain JSON (it is what the cache stores). SDK errors become
:mod:`labelloop.llm.errors` exceptions; the SDK's own retries are off (labelloop retries, see
:mod:`labelloop.llm.calls`). Works with OpenAI, Azure OpenAI (the SDK's Azure client), vLLM,
Ollama and llama.cpp's server: what they support differs, see :mod:`labelloop.llm.capabilities`.
"""

from __future__ import annotations

import email.utils
import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import openai

from labelloop.errors import InvalidInput
from labelloop.llm.errors import LLMAuthFailed, LLMError, LLMRejected, LLMTransient
from labelloop.llm.media_parts import with_media
from labelloop.settings import Settings

OPENAI_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, Any]]
    temperature: float = 0.0
    max_tokens: int = 64
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | str | None = None
    logprobs: bool = False
    top_logprobs: int | None = None
    n: int = 1
    seed: int | None = None
    # placeholder → real content part of the media the messages name (media_parts.py); not
    # part of the cache key, which sees the placeholders (content hashes) instead
    media: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)

    def payload(self) -> dict[str, Any]:
        """The SDK keyword arguments (without ``model``); unset options are left out. Media
        placeholders are replaced by their parts (:class:`LLMError` if one has none: a
        placeholder is never sent)."""
        out = self.key_payload()
        if any(isinstance(m.get("content"), list) for m in self.messages):
            out["messages"] = with_media(self.messages, self.media)
        return out

    def key_payload(self) -> dict[str, Any]:
        """What the cache key hashes: the payload with media placeholders left in place."""
        out: dict[str, Any] = {"messages": self.messages, "temperature": self.temperature,
                               "max_tokens": self.max_tokens}
        if self.response_format is not None:
            out["response_format"] = self.response_format
        if self.tools is not None:
            out["tools"] = self.tools
            out["tool_choice"] = self.tool_choice
        if self.logprobs:
            out["logprobs"] = True
            out["top_logprobs"] = self.top_logprobs
        if self.n != 1:
            out["n"] = self.n
        if self.seed is not None:
            out["seed"] = self.seed
        return out


@dataclass(frozen=True)
class ChatResponse:
    """``choices``: dicts with ``content``, ``tool_arguments``, ``finish_reason`` and
    ``logprobs`` (a list of ``{"token", "logprob", "top": [[token, logprob], …]}`` or None)."""

    choices: list[dict[str, Any]]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    image_tokens: int = 0  # of prompt_tokens, when the server says (prompt_tokens_details)
    audio_tokens: int = 0

    def to_json(self) -> dict[str, Any]:
        out = {"choices": self.choices, "prompt_tokens": self.prompt_tokens,
               "completion_tokens": self.completion_tokens}
        if self.image_tokens or self.audio_tokens:
            out.update(image_tokens=self.image_tokens, audio_tokens=self.audio_tokens)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ChatResponse:
        return cls(list(d.get("choices") or []), int(d.get("prompt_tokens") or 0),
                   int(d.get("completion_tokens") or 0),
                   image_tokens=int(d.get("image_tokens") or 0),
                   audio_tokens=int(d.get("audio_tokens") or 0))


class ChatBackend(Protocol):
    """Something that answers chat requests for one endpoint and model."""

    endpoint: str
    model: str

    async def complete(self, request: ChatRequest) -> ChatResponse: ...
    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class EndpointConfig:
    """Where and how to call. ``api_key`` never appears in ``endpoint`` (the identity used for
    the cache and the capability record)."""

    model: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    azure_endpoint: str | None = None
    azure_api_version: str = "2024-10-21"
    timeout_s: float = 60.0

    @property
    def endpoint(self) -> str:
        if self.azure_endpoint:
            return f"azure:{self.azure_endpoint.rstrip('/')}"
        return (self.base_url or OPENAI_URL).rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> EndpointConfig:
        if not settings.llm_model:
            raise InvalidInput("no LLM model configured (LABELLOOP_LLM_MODEL)")
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return cls(model=settings.llm_model, base_url=settings.openai_base_url, api_key=key,
                   azure_endpoint=settings.llm_azure_endpoint,
                   azure_api_version=settings.llm_azure_api_version,
                   timeout_s=settings.llm_timeout_s)

    def make_client(self, *, tls: Any = None) -> openai.AsyncOpenAI:
        """An SDK client for this endpoint. ``tls``: an SSL context from :func:`tls_context`
        to share between clients (building one costs ~20 ms; None: the SDK builds its own)."""
        if self.azure_endpoint:
            if not self.api_key:
                raise InvalidInput("Azure OpenAI needs an API key (OPENAI_API_KEY)")
            return openai.AsyncAzureOpenAI(
                azure_endpoint=self.azure_endpoint, api_version=self.azure_api_version,
                api_key=self.api_key, max_retries=0, timeout=self.timeout_s,
                http_client=http_client(tls))
        # Local servers need no key, but the SDK insists on one (and would read the environment).
        return openai.AsyncOpenAI(base_url=self.base_url or OPENAI_URL,
                                  api_key=self.api_key or "not-needed", max_retries=0,
                                  timeout=self.timeout_s, http_client=http_client(tls))


def http_client(tls: Any = None) -> Any:
    """The SDK's aiohttp transport (``openai[aiohttp]``): ~0.4 ms less CPU per call than its
    default httpx one, which is what bounds throughput at high concurrency on a small machine
    (bench/bench_llm.py). Without aiohttp: the SDK's default transport (None when no ``tls``
    is given, so the SDK builds it as usual)."""
    kwargs = {"verify": tls} if tls is not None else {}
    try:
        return openai.DefaultAioHttpClient(**kwargs)
    except (AttributeError, RuntimeError, ImportError):
        pass
    default = getattr(openai, "DefaultAsyncHttpxClient", None)
    return default(**kwargs) if kwargs and default is not None else None


def tls_context() -> Any:
    """The SSL context the SDK's transport would build (its CA bundle, ``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR`` honoured), built once so that the client of every batch can share it
    instead of spending ~20 ms loading the CA bundle again. None if the SDK's HTTP library
    cannot build one (then each client builds its own)."""
    for name in ("httpx2", "httpx"):
        try:
            return importlib.import_module(name).create_ssl_context()
        except (ImportError, AttributeError):
            continue
    return None


class OpenAIChat:
    """:class:`ChatBackend` on the ``openai`` SDK. Create one per event loop; close it after."""

    def __init__(self, config: EndpointConfig,
                 client_factory: Callable[[], openai.AsyncOpenAI] | None = None, *,
                 tls: Any = None) -> None:
        self.endpoint = config.endpoint
        self.model = config.model
        self._client = client_factory() if client_factory else config.make_client(tls=tls)

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        # The SDK's low-level post: same client, auth, Azure routing and errors as
        # ``chat.completions.create``, without its per-call parameter transformation and
        # response models (which cost ~2 ms of CPU a call, the limit at high concurrency).
        try:
            data = await self._client.post("/chat/completions", cast_to=object,
                                           body={"model": self.model, **request.payload()})
        except openai.APIError as exc:
            raise translate_error(exc) from exc
        except ValueError as exc:  # a JSON content type with a body that is not JSON
            raise LLMError(f"malformed answer from the LLM server: {exc}") from exc
        return normalise(data)


def normalise(data: Any) -> ChatResponse:
    """The parts of a chat completion (JSON) labelloop uses."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise LLMError(f"the server's answer is not a chat completion: {str(data)[:200]!r}")
    choices = []
    try:
        for c in data["choices"]:
            msg = c.get("message") or {}
            calls = msg.get("tool_calls") or []
            args = (calls[0].get("function") or {}).get("arguments") if calls else None
            content_lp = (c.get("logprobs") or {}).get("content")
            tokens = None
            if content_lp:
                tokens = [{"token": t["token"], "logprob": float(t["logprob"]),
                           "top": [[a["token"], float(a["logprob"])]
                                   for a in (t.get("top_logprobs") or [])]}
                          for t in content_lp]
            choices.append({"content": msg.get("content"), "tool_arguments": args,
                            "finish_reason": c.get("finish_reason"), "logprobs": tokens})
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise LLMError(f"malformed chat completion from the LLM server: {exc!r}") from exc
    usage = data.get("usage") or {}
    details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else None
    details = details if isinstance(details, dict) else {}
    try:
        return ChatResponse(choices, int(usage.get("prompt_tokens") or 0),
                            int(usage.get("completion_tokens") or 0),
                            image_tokens=int(details.get("image_tokens") or 0),
                            audio_tokens=int(details.get("audio_tokens") or 0))
    except (AttributeError, TypeError, ValueError) as exc:
        raise LLMError(f"malformed usage in the LLM server's answer: {exc!r}") from exc


def retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, when.timestamp() - time.time()) if when else None


def _message(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        text = err.get("message") if isinstance(err, dict) else err
        return str(text or exc.message)[:300]
    return (exc.message or json.dumps(body, default=str))[:300]


def _refused(exc: BaseException) -> BaseException | None:
    """The connection failure under an SDK timeout error, if that is what it really is: the
    SDK's aiohttp transport reports a refused connection as a connect *timeout*."""
    seen = 0
    cause = exc.__cause__ or exc.__context__
    while cause is not None and seen < 8:
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return cause
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return None


def translate_error(exc: openai.APIError) -> LLMError:
    if isinstance(exc, openai.APITimeoutError):
        refused = _refused(exc)
        if refused is not None:
            return LLMTransient(f"cannot reach the LLM server: {refused}")
        return LLMTransient("the LLM call timed out")
    if isinstance(exc, openai.APIConnectionError):
        return LLMTransient(f"cannot reach the LLM server: {exc.message}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        text = f"HTTP {status}: {_message(exc)}"
        if status in (408, 409, 429) or status >= 500:
            try:
                wait = retry_after(exc.response.headers)
            except (TypeError, ValueError, OverflowError):
                wait = None
            return LLMTransient(text, retry_after=wait)
        if status in (400, 413, 422):
            return LLMRejected(text)
        if status in (401, 403, 404):
            return LLMAuthFailed(text)
        return LLMError(text)
    return LLMError(f"malformed answer from the LLM server: {exc.message[:200]}")
