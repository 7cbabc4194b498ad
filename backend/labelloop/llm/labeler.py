"""The LLM labeler: what the service, the CLI and the simulator call.

``LLMLabeler(settings, storage)`` labels batches of texts for one label schema::

    labeler = LLMLabeler(settings, storage)
    outcomes = await labeler.label_many(schema, [LabelRequest(task_id, text), ...],
                                        examples=pool, project_id=project.id)
    result = to_prediction_result(schema, outcomes[0])     # validated LS result
    labeler.model_version                                  # "llm-<model>-p<prompt hash>"

Every item gets an outcome (a label and its distribution, or a failure with its reason); LLM
errors never escape ``label_many``. The endpoint's capabilities are detected on first use and
stored; so is a circuit-breaker pause, which :meth:`LLMLabeler.status` reports.
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from labelloop.labelconfig.schema import LabelSchema
from labelloop.llm.batch import run_batch
from labelloop.llm.calls import CallRunner, RunnerOptions, cache_key
from labelloop.llm.capabilities import MODES, Capabilities, MediaSupport, detect, probe
from labelloop.llm.chat import ChatBackend, EndpointConfig, OpenAIChat, tls_context
from labelloop.llm.costs import price_for
from labelloop.llm.errors import LLMError, LLMRejected
from labelloop.llm.fewshot import ExamplePool
from labelloop.llm.item import ItemLabeler, ItemOptions
from labelloop.llm.limits import CircuitBreaker, Clock, RateLimiter
from labelloop.llm.media_caps import check_media
from labelloop.llm.media_item import TASK_TYPE as MEDIA_PROMPTS
from labelloop.llm.media_item import MediaItemLabeler, MediaOptions, is_media_schema
from labelloop.llm.media_parts import Capability
from labelloop.llm.outcomes import NOT_STORED, check_schema, failed_all, label_row, run_async
from labelloop.llm.prompts import PromptTemplates, load_prompts
from labelloop.llm.span_item import SpanItemLabeler
from labelloop.llm.span_prompts import TASK_TYPE as SPAN_PROMPTS
from labelloop.llm.status import LLMStatus, read_status
from labelloop.llm.types import LabelOutcome, LabelRequest
from labelloop.settings import Settings
from labelloop.storage.base import Storage

BackendFactory = Callable[[EndpointConfig], ChatBackend]
__all__ = ["NOT_STORED", "LLMLabeler", "LLMStatus", "label_row", "run_async"]


class LLMLabeler:
    def __init__(self, settings: Settings, storage: Storage, *,
                 endpoint: EndpointConfig | None = None,
                 backend_factory: BackendFactory | None = None, clock: Clock = time.time) -> None:
        self.settings = settings
        self.storage = storage
        self.config = endpoint or EndpointConfig.from_settings(settings)
        self.templates = load_prompts(override_dir=settings.llm_prompts_dir)
        self.span_templates = load_prompts(SPAN_PROMPTS, override_dir=settings.llm_prompts_dir)
        self.media_templates = load_prompts(MEDIA_PROMPTS, override_dir=settings.llm_prompts_dir,
                                            required=None)
        self.price = price_for(self.config.model, settings.llm_prices)
        self.breaker = CircuitBreaker(failures=settings.llm_breaker_failures,
                                      cooldown_s=settings.llm_breaker_cooldown_s, clock=clock)
        self.limiter = RateLimiter(requests_per_minute=settings.llm_requests_per_minute,
                                   tokens_per_minute=settings.llm_tokens_per_minute)
        self._factory = backend_factory or self._openai_backend
        self._tls: Any = None  # the SSL context every batch's client shares (built once)
        self._caps: Capabilities | None = None
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                    asyncio.Semaphore] = weakref.WeakKeyDictionary()

    @property
    def model_version(self) -> str:
        """Names the model and the prompt: a new prompt or model is a new version (the
        classification prompt; :meth:`version_for` names any schema's)."""
        return self._version(self.templates)

    def version_for(self, schema: LabelSchema) -> str:
        """The model version of the LLM's labels for ``schema``: ``llm-<model>-p<hash>`` of
        the prompts of its task type (text spans have their own prompts)."""
        return self._version(self.templates_for(schema))

    def templates_for(self, schema: LabelSchema) -> PromptTemplates:
        if is_media_schema(schema):
            return self.media_templates
        return self.span_templates if schema.task_type == "text_spans" else self.templates

    def _version(self, templates: PromptTemplates) -> str:
        model = re.sub(r"[^A-Za-z0-9._:/@+-]+", "_", self.config.model)[:150]
        return f"llm-{model}-p{templates.hash}"

    def status(self) -> LLMStatus:
        """Whether LLM work runs, and why not: the stored pause, the budget, usage so far and
        the endpoint's capabilities (None until detected; media checks under ``media``)."""
        return read_status(self.storage, self.config, model_version=self.model_version,
                           budget_usd=self.settings.llm_budget_usd, now=self.breaker.clock())

    def resume(self) -> None:
        """Close the circuit breaker now (after fixing what paused it)."""
        self.breaker.reset()
        with self.storage.write() as tx:
            tx.set_llm_pause(self.config.endpoint, self.config.model, until=None, reason=None)

    def label_many_sync(self, schema: LabelSchema, items: list[LabelRequest],
                        **kw: Any) -> list[LabelOutcome]:
        """:meth:`label_many` for callers without an event loop (jobs, CLI)."""
        return run_async(self.label_many(schema, items, **kw))

    async def label_many(self, schema: LabelSchema, items: list[LabelRequest], *,
                         examples: ExamplePool | None = None, project_id: int | None = None,
                         on_outcome: Callable[[LabelOutcome], None] | None = None,
                         ) -> list[LabelOutcome]:
        """One outcome per item, in order; ``on_outcome`` sees each as it comes. With
        ``project_id`` the outcomes are stored as LLM labels of :attr:`model_version` as they
        come (so a cancelled batch keeps what was answered), answers and lasting failures alike
        (an answer outside the label set, a request the server rejects); items whose call
        failed after its retries, or that a pause or the budget stopped, are not: the next
        pre-label run asks again. Labels are stored under :meth:`version_for` ``(schema)``
        (:attr:`model_version` for classification)."""
        check_schema(schema)
        if not items:
            return []
        kinds = _media_kinds(schema, items)
        stored_caps, pause, spent = await asyncio.to_thread(self._load_state)
        self.breaker.restore(*pause)
        s = self.settings
        options = RunnerOptions(concurrency=s.llm_concurrency, max_retries=s.llm_max_retries,
                                retry_max_wait_s=s.llm_retry_max_wait_s, use_cache=s.llm_cache,
                                price=self.price, budget_usd=s.llm_budget_usd,
                                project_id=project_id)
        backend = self._factory(self.config)
        runner = CallRunner(backend, self.storage, options=options, breaker=self.breaker,
                            limiter=self.limiter, spent_usd=spent, semaphore=self._semaphore())
        try:
            try:
                caps = stored_caps if stored_caps is not None and self._usable(stored_caps) \
                    else await self._detect(
                    runner, self._modes(), previous=stored_caps)
                self._caps = caps
                for kind in kinds:
                    if caps.media_support(kind) is None:  # checked once per endpoint
                        await self._check_media(runner, kind)
            except LLMError as exc:
                failed = [failed_all(item, exc) for item in items]
                if on_outcome is not None:
                    for outcome in failed:
                        on_outcome(outcome)
                return failed
            worker = self._item_labeler(runner, schema, None, examples, kinds)
            keep = self._keeper(runner, project_id, self.version_for(schema)) \
                if project_id is not None else None
            return await run_batch(worker, runner, items, concurrency=s.llm_concurrency,
                                   keep=keep, on_outcome=on_outcome)
        finally:
            await runner.flush()  # answers, call records and labels so far (also if cancelled)
            await backend.aclose()

    def cached_items(self, schema: LabelSchema, items: list[LabelRequest], *,
                     examples: ExamplePool | None = None) -> set[int]:
        """Task ids whose answer is already cached (labeling them costs no call). Empty while
        the endpoint's capabilities are unknown (the request form depends on them)."""
        caps, _, _ = self._load_state()
        if not self._usable(caps) or not items:
            return set()
        worker = self._item_labeler(None, schema, caps, examples,  # type: ignore[arg-type]
                                    _media_kinds(schema, items))
        keys = {it.task_id: [cache_key(self.config.endpoint, self.config.model, r)
                             for r in worker.first_requests(it)] for it in items}
        with self.storage.read() as tx:
            found = tx.get_llm_cache([k for ks in keys.values() for k in ks])
        return {tid for tid, ks in keys.items() if all(k in found for k in ks)}

    def _item_labeler(self, runner: CallRunner, schema: LabelSchema, caps: Capabilities | None,
                      examples: ExamplePool | None,
                      kinds: tuple[Capability, ...] = ()) -> ItemLabeler:
        s = self.settings
        k, seed = s.llm_few_shot_k, s.llm_seed

        def capabilities() -> Capabilities:
            found = caps if caps is not None else self._caps
            if found is None:  # label_many detects them before any item is labeled
                raise LLMError("the endpoint's capabilities are not known yet")
            return found

        options = ItemOptions(temperature=s.llm_temperature, samples=s.llm_samples,
                              sample_temperature=s.llm_sample_temperature,
                              top_logprobs=s.llm_top_logprobs, seed=seed)
        if kinds or is_media_schema(schema):
            return MediaItemLabeler(
                runner, schema, self.media_templates, capabilities=capabilities,
                options=options, on_rejected=self._rejection_handler(runner, kinds),
                media=MediaOptions(max_side=s.llm_image_max_side, max_frames=s.llm_video_frames))
        if schema.task_type == "text_spans":
            return SpanItemLabeler(
                runner, schema, self.span_templates, capabilities=capabilities, options=options,
                examples=lambda it: examples.spans_for_text(
                    it.text, k=k, seed=seed, embedding=it.embedding) if examples else [],
                on_rejected=self._rejection_handler(runner))
        return ItemLabeler(
            runner, schema, self.templates, capabilities=capabilities, options=options,
            examples=lambda it: examples.for_text(it.text, k=k, seed=seed,
                                                  embedding=it.embedding) if examples else [],
            on_rejected=self._rejection_handler(runner))

    def _openai_backend(self, config: EndpointConfig) -> ChatBackend:
        if self._tls is None:
            self._tls = tls_context()
        return OpenAIChat(config, tls=self._tls)

    def _semaphore(self) -> asyncio.Semaphore:
        """One concurrency limit per event loop, shared by concurrent ``label_many`` calls
        (e.g. several requests of one web server)."""
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.settings.llm_concurrency)
        return sem

    # --- capabilities ----------------------------------------------------------------------
    def _modes(self, after: str | None = None) -> tuple:
        forced = self.settings.llm_output_mode
        if forced != "auto":
            return (forced,)
        return MODES[MODES.index(after) + 1:] if after else MODES

    def _usable(self, caps: Capabilities | None) -> bool:
        forced = self.settings.llm_output_mode
        return caps is not None and (forced == "auto" or caps.output_mode == forced)

    async def _detect(self, runner: CallRunner, modes: tuple,
                      previous: Capabilities | None = None) -> Capabilities:
        """Probe the output modes (the media checks of ``previous``, else of the current
        capabilities, are kept: they do not depend on the mode)."""
        previous = previous or self._caps
        caps = await detect(runner, top_logprobs=self.settings.llm_top_logprobs,
                            sample_temperature=self.settings.llm_sample_temperature,
                            modes=modes, keep_media=previous.media if previous else ())
        await asyncio.to_thread(self._save_caps, caps)
        return caps

    async def _check_media(self, runner: CallRunner, kind: Capability) -> MediaSupport:
        """Whether the endpoint takes ``kind`` media: probed, stored with the capabilities."""
        if self._caps is None:
            raise LLMError("the endpoint's capabilities are not known yet")
        support = await check_media(runner, kind, mode=self._caps.output_mode,
                                    clock=self.breaker.clock)
        self._caps = self._caps.with_media(support)
        await asyncio.to_thread(self._save_caps, self._caps)
        return support

    def media_support(self, kind: Capability) -> MediaSupport | None:
        """What the endpoint's check of ``kind`` media found (stored; None: not checked yet,
        which happens on the first media item :meth:`label_many` gets)."""
        caps, _, _ = self._load_state()
        return caps.media_support(kind) if caps is not None else None

    def _rejection_handler(self, runner: CallRunner, kinds: tuple[Capability, ...] = (),
                           ) -> Callable[[str], Awaitable[Capabilities | None]]:
        lock = asyncio.Lock()
        rechecked: set[Capability] = set()

        async def on_rejected(mode: str) -> Capabilities | None:
            async with lock:
                # media items: does the endpoint still take this media? (once per batch)
                for kind in kinds:
                    support = self._caps.media_support(kind) if self._caps else None
                    if support is not None and not support.ok:
                        return None  # already off: the item fails as media_unsupported
                    if kind not in rechecked:
                        rechecked.add(kind)
                        if not (await self._check_media(runner, kind)).ok:
                            return None
                current = self._caps
                if current is None or current.output_mode != mode:
                    return current  # someone else already moved on
                try:
                    await probe(runner, current.output_mode, logprobs=current.logprobs,
                                top_logprobs=self.settings.llm_top_logprobs)
                    return None  # the mode works: the request itself was refused
                except LLMRejected:
                    remaining = self._modes(after=mode)
                    if not remaining or remaining == (mode,):
                        return None
                    self._caps = await self._detect(runner, remaining)
                    return self._caps
        return on_rejected

    # --- storage ---------------------------------------------------------------------------
    def _load_state(self) -> tuple[Capabilities | None, tuple[float | None, str | None], float]:
        with self.storage.read() as tx:
            record = tx.get_llm_endpoint(self.config.endpoint, self.config.model)
            spent = tx.llm_usage().cost_usd if self.settings.llm_budget_usd is not None else 0.0
        caps = Capabilities.from_json(record.capabilities) if record and record.capabilities \
            else None
        pause = (record.paused_until, record.pause_reason) if record else (None, None)
        return caps, pause, spent

    def _save_caps(self, caps: Capabilities) -> None:
        with self.storage.write() as tx:
            tx.save_llm_capabilities(self.config.endpoint, self.config.model, caps.to_json())

    def _keeper(self, runner: CallRunner, project_id: int,
                version: str) -> Callable[[LabelOutcome], None]:
        """Buffers each outcome worth storing as an LLM label, written with the next flush."""
        def keep(outcome: LabelOutcome) -> None:
            if outcome.failure_kind not in NOT_STORED:
                runner.keep_label(label_row(project_id, outcome, version))
        return keep



def _media_kinds(schema: LabelSchema, items: Sequence[LabelRequest]) -> tuple[Capability, ...]:
    """The media capabilities the items need (none for text)."""
    found = {it.media.capability for it in items if it.media is not None}
    return tuple(sorted(found))
