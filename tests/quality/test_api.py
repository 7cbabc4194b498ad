"""GET /api/projects/{id}/quality over HTTP (TestClient on the real app)."""

from __future__ import annotations

from labelloop.quality import project_quality
from labelloop.storage.base import Storage
from tests.quality.seed import new_project, seed_project


def test_quality_endpoint_answers_the_service_report(storage: Storage, client_factory) -> None:
    seed_project(storage, n_tasks=120, seed=1, with_ops=False)
    client = client_factory()
    r = client.get("/api/projects/1/quality")
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body.pop("computed_at"), float)
    assert body == project_quality(storage, 1)
    assert set(body) >= {"agreement", "llm", "model", "audit", "review", "labels"}
    assert body["review"]["limit"] == 50
    few = client.get("/api/projects/1/quality", params={"review_limit": 2}).json()
    assert len(few["review"]["items"]) == min(2, few["review"]["total"])


def test_quality_endpoint_errors(storage: Storage, client_factory) -> None:
    new_project(storage, 2, n_tasks=1, config="<View><Image name='i' value='$i'/></View>")
    client = client_factory()
    r = client.get("/api/projects/9/quality")
    assert (r.status_code, r.json()["error"]) == (404, "unknown_project")
    r = client.get("/api/projects/2/quality")
    assert (r.status_code, r.json()["error"]) == (422, "unsupported_config")
    r = client.get("/api/projects/1/quality", params={"review_limit": -1})
    assert (r.status_code, r.json()["error"]) == (422, "invalid_input")
