"""Shared fixtures: settings in a temp dir, storage, the app with a fake Label Studio."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labelloop.api.app import Overrides, create_app
from labelloop.settings import Settings
from labelloop.storage.base import Storage, open_storage
from tests.fakes.label_studio import FakeGateway
from tests.pg_harness import PostgresServer, PostgresUnavailable

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="positive"/><Choice value="negative"/><Choice value="neutral"/>
  </Choices>
</View>"""


#: The client address the shared TestClients present: labelloop's own API answers loopback
#: clients only when basic auth is off, and TestClient's default host ("testclient") is none.
LOOPBACK_CLIENT = ("127.0.0.1", 50000)


def make_settings(tmp_path: Path, **kw: object) -> Settings:
    """Settings that ignore the caller's environment (tests must not depend on it)."""
    base: dict[str, object] = {
        "data_dir": tmp_path, "label_studio_url": None, "label_studio_api_key": None,
        "openai_api_key": None, "openai_base_url": None, "llm_model": None,
        "retrain_debounce_s": 0.0,
    }
    base.update(kw)
    return Settings(_env_file=None, **base)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def storage(settings: Settings) -> Iterator[Storage]:
    s = open_storage(settings.resolved_database_url)
    yield s
    s.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session; skipped (with the reason) when PostgreSQL is
    not installed, unless LABELLOOP_REQUIRE_POSTGRES=1 (``make test``), where it fails."""
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        if os.environ.get("LABELLOOP_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here: {exc}")
        pytest.skip(f"no PostgreSQL server: {exc}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_storage(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Storage]:
    """The storage on each backend: folders whose tests must pass on both use it as their
    ``storage`` (see their conftest.py)."""
    if request.param == "sqlite":
        url = settings.resolved_database_url
    else:
        url = request.getfixturevalue("postgres_server").new_database()
    s = open_storage(url)
    yield s
    s.close()


@pytest.fixture
def fake_ls() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def client_factory(tmp_path: Path, fake_ls: FakeGateway):
    """Build a TestClient for given settings; the fake Label Studio answers API calls."""
    clients: list[TestClient] = []

    def make(start_worker: bool = False, client: tuple[str, int] = LOOPBACK_CLIENT,
             **kw: object) -> TestClient:
        s = make_settings(tmp_path, **kw)
        app = create_app(s, Overrides(gateway_factory=lambda *_: fake_ls,
                                      start_worker=start_worker))
        c = TestClient(app, client=client)
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(client_factory) -> TestClient:
    return client_factory()
