"""Errors, retries, timeouts, bad answers, the circuit breaker, the budget, concurrency."""

from __future__ import annotations

import time

import pytest

from labelloop.llm import LabelRequest, LLMLabeler
from tests.llm.conftest import GOLD, llm_settings

ONE = [LabelRequest(1, "Dull and far too long.")]


def items(texts=GOLD) -> list[LabelRequest]:
    return [LabelRequest(i, t) for i, t in enumerate(texts)]


def warm(labeler: LLMLabeler, schema) -> None:
    """Detect capabilities first, so that injected faults hit labeling calls."""
    labeler.label_many_sync(schema, [LabelRequest(0, "warm-up")])


def test_answer_outside_the_set_is_retried_once(fake_llm, make_labeler, schema) -> None:
    server = fake_llm()
    labeler = make_labeler(server)
    warm(labeler, schema)
    server.inject("outside")
    out = labeler.label_many_sync(schema, ONE)[0]
    assert out.labels == ["negative"] and out.usage.calls == 2
    retry = server.requests[-1]["messages"]
    assert retry[-2]["role"] == "assistant" and "not-a-label" in retry[-2]["content"]
    assert 'Your answer "{"label": "not-a-label"}" is not a valid answer' in retry[-1]["content"]


def test_answer_outside_the_set_twice_is_a_failure_never_a_label(fake_llm, make_labeler,
                                                                 schema, llm_storage) -> None:
    server = fake_llm()
    labeler = make_labeler(server)
    warm(labeler, schema)
    server.inject("outside", times=2)
    out = labeler.label_many_sync(schema, ONE, project_id=3)[0]
    assert out.labels is None and out.distribution is None and out.confidence is None
    assert out.failure_kind == "invalid_answer"
    assert "'not-a-label' is not a label" in out.failure and out.usage.calls == 2
    with llm_storage.read() as tx:
        stored = tx.get_llm_labels(3)[1]
    assert stored.labels is None and "not a label" in stored.failure


def test_malformed_json_is_retried(fake_llm, make_labeler, schema) -> None:
    server = fake_llm()
    labeler = make_labeler(server)
    warm(labeler, schema)
    server.inject("malformed")
    out = labeler.label_many_sync(schema, ONE)[0]
    assert out.labels == ["negative"] and out.usage.calls == 2
    server.inject("malformed", times=2)
    bad = labeler.label_many_sync(schema, [LabelRequest(2, "The worst script this year.")])[0]
    assert bad.failure_kind == "invalid_answer" and "malformed JSON" in bad.failure


def test_429_waits_for_retry_after(fake_llm, make_labeler, schema) -> None:
    server = fake_llm()
    labeler = make_labeler(server, llm_retry_max_wait_s=5.0)
    warm(labeler, schema)
    server.inject("429", times=2, retry_after=0.4)
    before, t0 = server.calls, time.monotonic()
    out = labeler.label_many_sync(schema, ONE)[0]
    assert time.monotonic() - t0 >= 0.8
    assert out.labels == ["negative"] and server.calls - before == 3


def test_500_is_retried_with_backoff_then_fails(fake_llm, make_labeler, schema,
                                                 llm_storage) -> None:
    server = fake_llm()
    labeler = make_labeler(server, llm_max_retries=2)
    warm(labeler, schema)
    server.inject("500")
    assert labeler.label_many_sync(schema, ONE)[0].labels == ["negative"]
    server.inject("500", times=3)
    before = server.calls
    out = labeler.label_many_sync(schema, [LabelRequest(2, "Runs for two hours.")])[0]
    assert server.calls - before == 3  # one try and two retries
    assert out.failure_kind == "request_failed" and "HTTP 500" in out.failure
    with llm_storage.read() as tx:
        assert tx.llm_usage().errors == 4


def test_an_answer_after_the_timeout_is_retried(fake_llm, make_labeler, schema) -> None:
    server = fake_llm()
    labeler = make_labeler(server, llm_timeout_s=0.3)
    warm(labeler, schema)
    server.inject("timeout", delay_s=1.0)
    before = server.calls
    out = labeler.label_many_sync(schema, ONE)[0]
    assert out.labels == ["negative"] and server.calls - before == 2


def test_a_body_that_is_not_json_fails_the_item_without_crashing(fake_llm, make_labeler,
                                                                 schema) -> None:
    server = fake_llm()
    labeler = make_labeler(server)
    warm(labeler, schema)
    server.inject("bad_body")
    out = labeler.label_many_sync(schema, items(["Dull and far too long."]))
    assert out[0].failure_kind == "request_failed"
    assert "malformed answer from the LLM server" in out[0].failure


def test_circuit_breaker_pauses_and_says_why(fake_llm, tmp_path, llm_storage, schema) -> None:
    server = fake_llm()
    settings = llm_settings(tmp_path, server, llm_max_retries=0, llm_breaker_failures=3,
                            llm_breaker_cooldown_s=300, llm_concurrency=1)
    labeler = LLMLabeler(settings, llm_storage)
    warm(labeler, schema)
    server.inject("500", times=None)
    before = server.calls
    outcomes = labeler.label_many_sync(schema, items())
    assert server.calls - before == 3  # then paused: no more calls
    kinds = sorted(str(o.failure_kind) for o in outcomes)
    assert kinds == ["paused"] * 3 + ["request_failed"] * 3
    paused = next(o for o in outcomes if o.failure_kind == "paused")
    assert "LLM work is paused" in str(paused.failure) and paused.usage.calls == 0
    status = LLMLabeler(settings, llm_storage).status()  # seen from another process
    assert status.state == "paused" and (status.paused_until or 0) > time.time() + 200
    assert "3 consecutive failed LLM calls; last: HTTP 500" in str(status.reason)
    server.clear_faults()
    again = LLMLabeler(settings, llm_storage)
    assert again.label_many_sync(schema, ONE)[0].failure_kind == "paused"  # still paused
    again.resume()
    assert again.status().state == "ok"
    assert again.label_many_sync(schema, ONE)[0].labels == ["negative"]


def test_budget_stops_llm_work(fake_llm, make_labeler, schema) -> None:
    server = fake_llm()
    # every call costs about $0.1 at these prices; probes cost too
    labeler = make_labeler(server, llm_prices={"fake-model": (1000.0, 1000.0)},
                           llm_budget_usd=0.4, llm_concurrency=1)
    outcomes = labeler.label_many_sync(schema, items())
    done = [o for o in outcomes if o.labels]
    stopped = [o for o in outcomes if o.failure_kind == "over_budget"]
    assert done and stopped and len(done) + len(stopped) == len(GOLD)
    assert "budget of $0.40 is spent" in stopped[0].failure
    status = labeler.status()
    assert status.state == "over_budget" and status.usage.cost_usd >= 0.4
    calls = server.calls
    labeler.label_many_sync(schema, [LabelRequest(99, "Runs for two hours.")])
    assert server.calls == calls


def test_concurrency_limit(fake_llm, make_labeler, schema) -> None:
    server = fake_llm(latency_s=0.1)
    labeler = make_labeler(server, llm_concurrency=3)
    warm(labeler, schema)
    server.max_in_flight = 0
    t0 = time.monotonic()
    labeler.label_many_sync(schema, items([f"text {i}" for i in range(9)]))
    assert server.max_in_flight == 3
    assert 0.3 <= time.monotonic() - t0 < 0.9


def test_requests_per_minute_setting_paces_calls(fake_llm, make_labeler, schema) -> None:
    labeler = make_labeler(fake_llm(), llm_requests_per_minute=120)
    assert labeler.limiter.rpm == 120
    labeler.limiter.window_s = 0.5  # 120 a minute would make the test take a minute
    labeler.limiter.rpm = 2
    t0 = time.monotonic()
    labeler.label_many_sync(schema, items([f"text {i}" for i in range(4)]))  # + 2 probes
    assert time.monotonic() - t0 >= 1.0


def test_connection_refused_fails_items_with_a_reason(make_labeler, schema) -> None:
    labeler = make_labeler(None, llm_max_retries=0)  # nothing listens on port 9
    out = labeler.label_many_sync(schema, items())
    assert all(o.failure_kind == "request_failed" for o in out)
    assert "cannot reach the LLM server" in out[0].failure


def test_api_key_is_never_in_reprs_or_errors(fake_llm, make_labeler, schema, llm_storage,
                                             caplog: pytest.LogCaptureFixture) -> None:
    server = fake_llm()
    labeler = make_labeler(server, openai_api_key="sk-secret-abcdefgh12345",
                           llm_max_retries=0, llm_breaker_failures=1)
    assert "sk-secret" not in repr(labeler.config)
    warm(labeler, schema)
    server.inject("500", times=None)
    caplog.set_level("DEBUG")
    labeler.label_many_sync(schema, ONE)
    with llm_storage.read() as tx:
        rows = tx.conn.exec_driver_sql("SELECT error FROM llm_calls").fetchall()
    assert "sk-secret" not in caplog.text and not any("sk-secret" in str(r) for r in rows)


def test_concurrency_limit_is_shared_by_batches_on_one_loop(fake_llm, make_labeler,
                                                            schema) -> None:
    import asyncio

    server = fake_llm(latency_s=0.1)
    labeler = make_labeler(server, llm_concurrency=2)
    warm(labeler, schema)
    server.max_in_flight = 0

    async def two_batches() -> None:
        await asyncio.gather(
            labeler.label_many(schema, items([f"a {i}" for i in range(4)])),
            labeler.label_many(schema, items([f"b {i}" for i in range(4)])))

    asyncio.run(two_batches())
    assert server.max_in_flight == 2


def test_resume_in_another_process_closes_the_breaker_here(fake_llm, tmp_path, llm_storage,
                                                           schema) -> None:
    server = fake_llm()
    settings = llm_settings(tmp_path, server, llm_max_retries=0, llm_breaker_failures=1,
                            llm_breaker_cooldown_s=300)
    worker = LLMLabeler(settings, llm_storage)
    warm(worker, schema)
    server.inject("500")
    assert worker.label_many_sync(schema, ONE)[0].failure_kind == "request_failed"
    assert worker.label_many_sync(schema, ONE)[0].failure_kind == "paused"
    LLMLabeler(settings, llm_storage).resume()  # e.g. from the service's status endpoint
    assert worker.label_many_sync(schema, ONE)[0].labels == ["negative"]


def test_backoff_doubles_per_failed_attempt_with_jitter_and_a_cap(llm_storage) -> None:
    from labelloop.llm.calls import CallRunner, RunnerOptions
    from labelloop.llm.errors import LLMTransient
    from labelloop.llm.limits import CircuitBreaker, RateLimiter

    runner = CallRunner(None, llm_storage,  # type: ignore[arg-type]
                        options=RunnerOptions(retry_initial_s=0.5, retry_max_wait_s=3.0),
                        breaker=CircuitBreaker(failures=5, cooldown_s=1),
                        limiter=RateLimiter(requests_per_minute=None, tokens_per_minute=None))
    plain = LLMTransient("HTTP 500")
    for failed, low in ((1, 0.5), (2, 1.0), (3, 2.0)):
        waits = [runner._delay(plain, failed_attempts=failed) for _ in range(50)]
        assert all(low <= w <= low + 0.5 for w in waits) and len(set(waits)) > 1
    assert runner._delay(plain, failed_attempts=10) == 3.0  # capped
    assert runner._delay(LLMTransient("429", retry_after=1.25), failed_attempts=4) == 1.25
    assert runner._delay(LLMTransient("429", retry_after=99), failed_attempts=1) == 3.0
