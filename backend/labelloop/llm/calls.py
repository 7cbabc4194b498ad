"""Making one logical call: cache, budget, circuit breaker, concurrency, rate limits, retries,
and the call log.

A :class:`CallRunner` lives for one batch (one event loop). Responses are cached by a hash of
(endpoint, model, request payload); cached responses cost nothing and are not logged as calls.
Transient errors (429, 5xx, timeouts, connection failures) are retried with exponential backoff
and jitter, or after the server's ``Retry-After`` when it sends one. A logical call that still
fails counts against the circuit breaker; when it opens, the pause is written to storage and
every later call raises :class:`~labelloop.llm.errors.LLMUnavailable` until it closes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, field

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from labelloop.llm.chat import ChatBackend, ChatRequest, ChatResponse
from labelloop.llm.costs import Price
from labelloop.llm.errors import LLMError, LLMRejected, LLMTransient, LLMUnavailable
from labelloop.llm.limits import CircuitBreaker, RateLimiter
from labelloop.llm.prompts import estimate_tokens
from labelloop.llm.types import Usage
from labelloop.logs import redact
from labelloop.storage.base import Storage
from labelloop.storage.records_llm import LlmCacheEntry, LlmCall, LlmLabel

log = logging.getLogger(__name__)
FLUSH_EVERY = 256  # buffered cache entries, call records and labels per write transaction


def cache_key(endpoint: str, model: str, request: ChatRequest) -> str:
    raw = json.dumps({"endpoint": endpoint, "model": model, "request": request.key_payload()},
                     sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class RunnerOptions:
    concurrency: int = 8
    max_retries: int = 4
    retry_initial_s: float = 0.5
    retry_max_wait_s: float = 60.0
    use_cache: bool = True
    price: Price | None = None
    budget_usd: float | None = None
    project_id: int | None = None


@dataclass
class _Buffers:
    cache: list[LlmCacheEntry] = field(default_factory=list)
    calls: list[LlmCall] = field(default_factory=list)
    labels: list[LlmLabel] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.cache) + len(self.calls) + len(self.labels)


class CallRunner:
    def __init__(self, backend: ChatBackend, storage: Storage, *, options: RunnerOptions,
                 breaker: CircuitBreaker, limiter: RateLimiter, spent_usd: float = 0.0,
                 semaphore: asyncio.Semaphore | None = None) -> None:
        self.backend = backend
        self.storage = storage
        self.options = options
        self.breaker = breaker
        self.limiter = limiter
        self.spent_usd = spent_usd
        self._semaphore = semaphore or asyncio.Semaphore(options.concurrency)
        self._prefetched: dict[str, dict] = {}
        self._missing: set[str] = set()  # prefetched keys known not to be cached
        self._buffers = _Buffers()
        self._flush_lock = asyncio.Lock()

    # --- cache -----------------------------------------------------------------------------
    def key(self, request: ChatRequest) -> str:
        key = request.__dict__.get("_cache_key")  # computed once per request object
        if key is None:
            key = cache_key(self.backend.endpoint, self.backend.model, request)
            object.__setattr__(request, "_cache_key", key)
        return key

    async def prefetch(self, requests: list[ChatRequest]) -> None:
        """Read the cached responses of many requests in one transaction."""
        if not self.options.use_cache or not requests:
            return
        keys = [self.key(r) for r in requests]
        found = await asyncio.to_thread(self._read_cache, keys)
        self._prefetched.update(found)
        self._missing.update(k for k in keys if k not in found)

    def _read_cache(self, keys: list[str]) -> dict[str, dict]:
        with self.storage.read() as tx:
            return tx.get_llm_cache(keys)

    async def has_cached(self, request: ChatRequest) -> bool:
        """Whether :meth:`call` would answer ``request`` from the cache (media parts need not
        be rendered then)."""
        return self.options.use_cache and await self._cached(self.key(request)) is not None

    async def _cached(self, key: str) -> ChatResponse | None:
        if key in self._prefetched:
            return ChatResponse.from_json(self._prefetched[key])
        if key in self._missing:
            return None
        found = await asyncio.to_thread(self._read_cache, [key])
        return ChatResponse.from_json(found[key]) if key in found else None

    # --- the call --------------------------------------------------------------------------
    async def call(self, request: ChatRequest, *, purpose: str, task_id: int | None = None,
                   use_cache: bool = True) -> tuple[ChatResponse, Usage]:
        """The response to ``request`` and what it cost (zero when it came from the cache)."""
        use_cache = use_cache and self.options.use_cache
        key = self.key(request)
        if use_cache:
            cached = await self._cached(key)
            if cached is not None:
                return cached, Usage(cached_responses=1)
        async with self._semaphore:
            self._check_open()
            if self.limiter.active:
                await self.limiter.acquire(estimate_tokens(request.messages) + request.max_tokens)
            response, latency = await self._with_retries(request, purpose=purpose,
                                                         task_id=task_id, key=key)
            usage = self._usage(request, response)
            self.spent_usd += usage.cost_usd  # before the next call checks the budget
        # Let the task woken by the freed slot send its request before this answer is
        # processed: at high concurrency the processing would otherwise delay every next call.
        await asyncio.sleep(0)
        self._buffers.calls.append(LlmCall(
            endpoint=self.backend.endpoint, model=self.backend.model, purpose=purpose,
            status="ok", prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens, cost_usd=usage.cost_usd,
            latency_s=latency, cache_key=key, project_id=self.options.project_id,
            task_id=task_id, at=time.time()))
        if use_cache:
            self._prefetched[key] = response.to_json()
            self._buffers.cache.append(LlmCacheEntry(key, self.backend.endpoint,
                                                     self.backend.model, response.to_json()))
        await self.maybe_flush()
        return response, usage

    def _check_open(self) -> None:
        until = self.breaker.open_until()
        if until is not None:
            raise LLMUnavailable(f"LLM work is paused until {time.ctime(until)}: "
                                 f"{self.breaker.reason}", kind="paused")
        budget = self.options.budget_usd
        if budget is not None and self.spent_usd >= budget:
            raise LLMUnavailable(f"the LLM budget of ${budget:.2f} is spent "
                                 f"(${self.spent_usd:.4f})", kind="over_budget")

    async def _with_retries(self, request: ChatRequest, *, purpose: str,
                            task_id: int | None, key: str) -> tuple[ChatResponse, float]:
        try:
            try:
                # the first attempt outside tenacity: most calls succeed, and its machinery
                # costs CPU per call, which bounds throughput at high concurrency
                response, latency = await self._attempt(request, purpose, task_id, key)
            except LLMTransient as first:
                if self.options.max_retries < 1:
                    raise
                await asyncio.sleep(self._delay(first, failed_attempts=1))
                retrying = AsyncRetrying(
                    stop=stop_after_attempt(self.options.max_retries),
                    retry=retry_if_exception_type(LLMTransient), wait=self._wait, reraise=True)
                async for attempt in retrying:
                    with attempt:
                        response, latency = await self._attempt(request, purpose, task_id, key)
        except LLMRejected:
            raise  # the request's fault, not the server's
        except LLMError as exc:
            opened = self.breaker.failure(exc.message)
            if opened is not None:
                log.warning("LLM circuit breaker open: %s", opened[1])
                await asyncio.to_thread(self._persist_pause, *opened)
            raise
        self.breaker.success()
        return response, latency

    async def _attempt(self, request: ChatRequest, purpose: str, task_id: int | None,
                       key: str) -> tuple[ChatResponse, float]:
        started = time.monotonic()
        try:
            response = await self.backend.complete(request)
        except LLMError as exc:
            self._log_error(exc, purpose, task_id, key, time.monotonic() - started)
            raise
        return response, time.monotonic() - started

    def _wait(self, state: RetryCallState) -> float:
        """tenacity's wait: its attempt n is the call's attempt n + 1 (the first ran before)."""
        exc = state.outcome.exception() if state.outcome else None
        return self._delay(exc, failed_attempts=state.attempt_number + 1)

    def _delay(self, exc: BaseException | None, *, failed_attempts: int) -> float:
        """The server's ``Retry-After`` when it sent one, else exponential backoff with jitter:
        ``initial * 2**(failed_attempts - 1) + uniform(0, initial)``, capped."""
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return min(float(after), self.options.retry_max_wait_s)
        initial = self.options.retry_initial_s
        backoff = initial * 2 ** (failed_attempts - 1) + random.uniform(0, initial)
        return max(0.0, min(backoff, self.options.retry_max_wait_s))

    def _log_error(self, exc: LLMError, purpose: str, task_id: int | None, key: str,
                   latency: float) -> None:
        self._buffers.calls.append(LlmCall(
            endpoint=self.backend.endpoint, model=self.backend.model, purpose=purpose,
            status="error", error=redact(exc.message)[:500], latency_s=latency,
            cache_key=key, project_id=self.options.project_id, task_id=task_id, at=time.time()))

    def _usage(self, request: ChatRequest, response: ChatResponse) -> Usage:
        pt = response.prompt_tokens or estimate_tokens(request.messages)
        ct = response.completion_tokens or sum(
            estimate_tokens(c.get("content") or c.get("tool_arguments") or "")
            for c in response.choices)
        price = self.options.price
        # image and audio tokens are part of prompt_tokens (OpenAI's usage); the details only
        # say how many, so they are priced as input tokens with the rest
        return Usage(calls=1, prompt_tokens=pt, completion_tokens=ct,
                     cost_usd=price.cost(pt, ct) if price else 0.0,
                     image_tokens=response.image_tokens, audio_tokens=response.audio_tokens)

    # --- storage ---------------------------------------------------------------------------
    def _persist_pause(self, until: float, reason: str) -> None:
        with self.storage.write() as tx:
            tx.set_llm_pause(self.backend.endpoint, self.backend.model, until=until,
                             reason=reason)

    def keep_label(self, label: LlmLabel) -> None:
        """Buffer an LLM label to store with the next flush (with the answers it came from)."""
        self._buffers.labels.append(label)

    async def maybe_flush(self) -> None:
        if len(self._buffers) >= FLUSH_EVERY:
            await self.flush()

    async def flush(self) -> None:
        """Write buffered cache entries, call records and labels (one transaction)."""
        async with self._flush_lock:
            buffers, self._buffers = self._buffers, _Buffers()
            if len(buffers):
                await asyncio.to_thread(self._write, buffers)

    def _write(self, buffers: _Buffers) -> None:
        with self.storage.write() as tx:
            if buffers.cache:
                tx.put_llm_cache(buffers.cache)
            if buffers.calls:
                tx.add_llm_calls(buffers.calls)
            if buffers.labels:
                tx.save_llm_labels(buffers.labels)
