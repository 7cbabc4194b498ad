"""``GET /metrics``: Prometheus text, parsed back and checked against what was stored."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from labelloop.jobs.types import JobKind, JobSpec
from labelloop.storage.records_llm import LlmCall

Labels = tuple[tuple[str, str], ...]


def scrape(client: TestClient, **kw: object) -> dict[tuple[str, Labels], float]:
    """``{(sample name, sorted labels): value}`` of one scrape."""
    r = client.get("/metrics", **kw)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def queued(metrics: dict[tuple[str, Labels], float], kind: str) -> float:
    return metrics["labelloop_jobs", (("kind", kind), ("status", "queued"))]


def webhook_count(metrics: dict[tuple[str, Labels], float]) -> float:
    return metrics["labelloop_webhook_duration_seconds_count", ()]


TASKS_CREATED = {"action": "TASKS_CREATED", "project": {"id": 1},
                 "tasks": [{"id": 4, "data": {"text": "x"}}]}


def test_answers_prometheus_text_with_the_storage_up(client: TestClient) -> None:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"] == CONTENT_TYPE_LATEST
    assert scrape(client)["labelloop_storage_up", ()] == 1


def test_queue_depth_per_kind_is_read_from_the_jobs_table(client: TestClient) -> None:
    storage = client.app.state.services.storage
    assert queued(scrape(client), "retrain") == 0
    with storage.write() as tx:
        for pid in (1, 2, 3):
            tx.enqueue(JobSpec(JobKind.RETRAIN, pid))
        tx.enqueue(JobSpec(JobKind.RESYNC, 1))
    m = scrape(client)
    assert (queued(m, "retrain"), queued(m, "resync"), queued(m, "embed")) == (3, 1, 0)
    with storage.write() as tx:  # a worker elsewhere takes one, fails it, then runs it
        job = tx.claim("other-host:1:x:0", lease_s=60, kinds=[JobKind.RESYNC])
        tx.fail_job(job.id, "boom", retry_at=0.0)  # type: ignore[union-attr]
        tx.claim("other-host:1:x:0", lease_s=60, kinds=[JobKind.RESYNC])
        tx.finish_job(job.id)  # type: ignore[union-attr]
    m = scrape(client)
    ok = (("kind", "resync"), ("status", "succeeded"))
    assert queued(m, "resync") == 0 and m["labelloop_jobs", ok] == 1
    assert m["labelloop_job_failed_attempts_total", (("kind", "resync"),)] == 1
    assert m["labelloop_job_duration_seconds_count", ok] == 1
    assert m["labelloop_job_duration_seconds_bucket", (*ok[:1], ("le", "+Inf"), ok[1])] == 1


def test_webhook_latency_and_request_counts(client: TestClient) -> None:
    before = scrape(client)
    assert webhook_count(before) == 0
    assert client.post("/webhook", json=TASKS_CREATED).status_code == 200
    assert client.post("/webhook", json={"action": "ANNOTATION_CREATED"}).status_code == 422
    m = scrape(client)
    assert webhook_count(m) == 2
    assert 0 < m["labelloop_webhook_duration_seconds_sum", ()] < 10
    requests = {(dict(ls)["handler"], dict(ls)["status"]): v for (name, ls), v in m.items()
                if name == "labelloop_http_requests_total" and dict(ls)["method"] == "POST"}
    assert requests == {("/webhook", "200"): 1, ("/webhook", "422"): 1}
    assert queued(m, "embed") == 1  # the webhook's new task was queued for embedding


def test_request_counts_use_route_templates_not_paths(client: TestClient) -> None:
    client.get("/api/projects/41/status")
    client.get("/api/projects/42/status")
    client.get("/no/such/path")
    m = scrape(client)
    key = ("labelloop_http_requests_total", (("handler", "/api/projects/{project_id}/status"),
                                              ("method", "GET"), ("status", "404")))
    assert m[key] == 2
    assert m["labelloop_http_requests_total", (("handler", "unmatched"), ("method", "GET"),
                                               ("status", "404"))] == 1


def test_llm_calls_tokens_and_cost(client: TestClient) -> None:
    with client.app.state.services.storage.write() as tx:
        tx.add_llm_calls([
            LlmCall("http://llm:8000/v1", "qwen", "label", "ok", 100, 10, 0.02, latency_s=1.5),
            LlmCall("http://llm:8000/v1", "qwen", "label", "ok", 50, 5, 0.01, latency_s=0.5),
            LlmCall("http://llm:8000/v1", "qwen", "label", "error", error="HTTP 429"),
        ])
    m = scrape(client)
    key = (("endpoint", "http://llm:8000/v1"), ("model", "qwen"), ("purpose", "label"))
    assert m["labelloop_llm_calls_total", (*key, ("status", "ok"))] == 2
    assert m["labelloop_llm_calls_total", (*key, ("status", "error"))] == 1
    assert m["labelloop_llm_tokens_total", (*key, ("type", "prompt"))] == 150
    assert m["labelloop_llm_tokens_total", (*key, ("type", "completion"))] == 15
    assert abs(m["labelloop_llm_cost_usd_total", key] - 0.03) < 1e-9
    assert m["labelloop_llm_call_seconds_total", (*key, ("status", "ok"))] == 2.0


def test_published_model_version_and_version_counts(client: TestClient) -> None:
    with client.app.state.services.storage.write() as tx:
        tx.save_project(7, title="p")
        tx.add_model_version(7, "labelloop-1", kind="retrain")
        tx.add_model_version(7, "labelloop-2", kind="queue")
        tx.mark_version(7, "labelloop-2", published=True)
        tx.save_project(7, published_version="labelloop-2")
        published_at = tx.get_model_version(7, "labelloop-2").published_at  # type: ignore[union-attr]
    m = scrape(client)
    assert m["labelloop_published_model_version_info", (("project", "7"),
                                                        ("version", "labelloop-2"))] == 1
    assert m["labelloop_published_model_timestamp_seconds", (("project", "7"),)] == published_at
    assert m["labelloop_model_versions", (("kind", "retrain"), ("project", "7"))] == 1
    assert m["labelloop_model_versions", (("kind", "queue"), ("project", "7"))] == 1


def test_each_app_has_its_own_registry(client_factory: Callable[..., TestClient]) -> None:
    a, b = client_factory(), client_factory()
    a.post("/webhook", json=TASKS_CREATED)
    assert webhook_count(scrape(a)) == 1 and webhook_count(scrape(b)) == 0


def test_metrics_need_basic_auth_like_every_endpoint(
        client_factory: Callable[..., TestClient]) -> None:
    c = client_factory(basic_auth_user="prom", basic_auth_password="s3cret")
    r = c.get("/metrics")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    m = scrape(c, auth=("prom", "s3cret"))
    assert m["labelloop_http_requests_total", (("handler", "unmatched"), ("method", "GET"),
                                               ("status", "401"))] == 1
