"""Loopback-only is not enough against a browser on the same machine: a page of another site
can send it requests (cross-site request forgery), and a name that an attacker's DNS points at
127.0.0.1 makes the page same-origin with labelloop (DNS rebinding), so it can read the answers.
Without basic auth, labelloop's own routes refuse both; the Label Studio protocol endpoints,
non-browser clients and the dashboard's own page are unaffected."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.conftest import CONFIG

CROSS_SITE = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site",
              "Sec-Fetch-Mode": "no-cors", "Content-Type": "text/plain"}


@pytest.fixture
def local(client: TestClient) -> TestClient:
    assert client.post("/setup", json={"project": 1, "schema": CONFIG}).status_code == 200
    return client


@pytest.mark.parametrize(("path", "body"), [("/api/projects/1/resync", None),
                                            ("/api/projects/1/queue", b'{"scores": {"1": 0}}')])
def test_another_sites_page_cannot_post_to_the_own_api(local: TestClient, path: str,
                                                       body: bytes | None) -> None:
    # a "simple" cross-site POST: the browser sends it without asking first (no preflight)
    r = local.post(path, content=body, headers=CROSS_SITE)
    assert r.status_code == 403 and r.json()["error"] == "forbidden", r.text
    r = local.post(path, content=body, headers={"Origin": "null", "Content-Type": "text/plain"})
    assert r.status_code == 403, r.text  # a sandboxed frame or a file:// page


@pytest.mark.parametrize("host", ["evil.example", "evil.example:9090", "127.0.0.1.nip.io"])
def test_a_rebound_name_cannot_read_the_own_api(local: TestClient, host: str) -> None:
    for path in ("/api/projects/1/dashboard", "/status", "/"):
        r = local.get(path, headers={"Host": host, "Sec-Fetch-Site": "same-origin",
                                     "Sec-Fetch-Mode": "cors"})
        assert r.status_code == 403, (path, r.text)
        assert "Host" in r.json()["message"]


@pytest.mark.parametrize("host", ["127.0.0.1:9090", "localhost:9090", "[::1]:9090",
                                  "app.localhost", "127.0.0.1"])
def test_the_dashboard_in_a_browser_still_works(local: TestClient, host: str) -> None:
    page = {"Host": host, "Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}
    assert local.get("/", headers=page).status_code == 200
    scheme_host = f"http://{host}"
    same = {"Host": host, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors",
            "Origin": scheme_host}
    assert local.get("/api/projects/1/dashboard", headers=same).status_code == 200
    assert local.post("/api/projects/1/queue", json={"scores": {"1": 0}},
                      headers=same).status_code == 503  # Label Studio not configured: it got in


def test_a_link_from_label_studios_page_opens_the_dashboard(local: TestClient) -> None:
    link = {"Host": "localhost:9090", "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate"}
    assert local.get("/", headers=link).status_code == 200


def test_a_widened_network_may_name_the_server(client_factory) -> None:
    lan = client_factory(client=("192.0.2.7", 50000),
                         api_allowed_networks="127.0.0.0/8,192.0.2.0/24")
    page = {"Host": "labserver:9090", "Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}
    assert lan.get("/", headers=page).status_code == 200
    assert lan.post("/api/projects/1/resync", headers=CROSS_SITE).status_code == 403


def test_with_basic_auth_another_sites_page_cannot_use_cached_credentials(
        client_factory) -> None:
    c = client_factory(client=("192.0.2.7", 50000), basic_auth_user="u", basic_auth_password="p")
    r = c.post("/api/projects/1/queue", content=b'{"scores": {"1": 0}}', auth=("u", "p"),
               headers=CROSS_SITE)
    assert r.status_code == 403, r.text
    assert c.get("/status", auth=("u", "p"), headers={"Host": "labserver",
                                                      "Sec-Fetch-Site": "none"}).status_code == 200
    r = c.post("/webhook", auth=("u", "p"), headers=CROSS_SITE,
               content=b'{"action": "TASKS_CREATED", "project": 1, "tasks": [{"id": 3}]}')
    assert r.status_code == 200, r.text


def test_non_browser_clients_and_the_protocol_are_unaffected(local: TestClient) -> None:
    # curl, Prometheus, scripts: no Sec-Fetch-* headers, whatever Host they name
    assert local.get("/metrics", headers={"Host": "labelloop.internal"}).status_code == 200
    # Label Studio's calls, even from a browser-like client: the protocol stays open
    assert local.get("/health", headers=CROSS_SITE).status_code == 200
    r = local.post("/webhook", headers=CROSS_SITE,
                   content=b'{"action": "TASKS_CREATED", "project": 1, "tasks": [{"id": 3}]}')
    assert r.status_code == 200, r.text
