"""The deployment files are consistent (no Docker engine runs here: these are static checks)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic import SecretStr

from labelloop.api.app import Overrides, create_app
from labelloop.cli.healthcheck import check, health_url
from labelloop.cli.serve import uvicorn_options
from labelloop.settings import Settings
from tests.conftest import make_settings
from tests.dashboard.browser import free_port
from tests.e2e.ls_harness import EFFICIENT_IMPORT

ROOT = Path(__file__).resolve().parents[1]


def test_compose_runs_label_studio_1_23_2_next_to_labelloop() -> None:
    compose = yaml.safe_load((ROOT / "docker/compose.yml").read_text())
    services = compose["services"]
    assert services["label-studio"]["image"] == "heartexlabs/label-studio:1.23.2"
    ls_env, ll_env = services["label-studio"]["environment"], services["labelloop"]["environment"]
    # the loopback/private-address traps from the protocol doc
    assert ls_env["ML_BLOCK_LOCAL_IP"] == "false" and ls_env["SSRF_PROTECTION_ENABLED"] == "false"
    assert ls_env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert ll_env["LABEL_STUDIO_API_KEY"] == ls_env["LABEL_STUDIO_USER_TOKEN"]
    # the flag name the benchmarks and e2e harness measured (a typo would be silently ignored)
    assert ls_env[EFFICIENT_IMPORT] == "true"
    assert ll_env["LABEL_STUDIO_URL"] == "http://label-studio:8080"
    assert (ROOT / "docker" / services["labelloop"]["build"]["context"] /
            services["labelloop"]["build"]["dockerfile"]).resolve() == ROOT / "Dockerfile"


def test_dockerfile_pins_cpu_torch_runs_unprivileged_and_checks_health() -> None:
    text = (ROOT / "Dockerfile").read_text()
    torch = text.index("torch==2.13.0")
    assert torch < text.index("pip install ."), "torch must be installed before the project"
    assert re.search(r"^USER labelloop$", text, re.MULTILINE)
    assert "HEALTHCHECK" in text and "/health" in text
    # the check reads the settings (port, basic auth) as `serve` does: see the live test below
    assert re.search(r'^\s+CMD \["python", "-m", "labelloop.cli.healthcheck"\]$', text, re.MULTILINE)
    assert "chmod 700 /data" in text  # the volume's folder: private, as labelloop creates it
    for copied in re.findall(r"^COPY (\S+)", text, re.MULTILINE):
        assert (ROOT / copied).exists(), copied


def test_compose_wires_postgres_an_api_and_workers_by_environment() -> None:
    compose = yaml.safe_load((ROOT / "docker/compose.yml").read_text())
    services = compose["services"]
    pg = services["postgres"]["environment"]
    api, worker = services["labelloop"], services["worker"]
    url = (f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/"
           f"{pg['POSTGRES_DB']}")
    # the API and every worker share one database; the API runs no jobs itself
    assert api["environment"]["LABELLOOP_DATABASE_URL"] == url
    assert worker["environment"]["LABELLOOP_DATABASE_URL"] == url
    assert api["environment"]["LABELLOOP_WORKER_MODE"] == "external"
    assert worker["command"] == ["labelloop", "worker"] and worker["image"] == api["image"]
    assert worker["deploy"]["replicas"] >= 2
    assert worker["environment"]["LABEL_STUDIO_API_KEY"] == api["environment"][
        "LABEL_STUDIO_API_KEY"]
    # Label Studio on the same server, in the database the init script creates
    ls = services["label-studio"]["environment"]
    assert (ls["POSTGRE_HOST"], ls["POSTGRE_USER"], ls["POSTGRE_PASSWORD"]) == (
        "postgres", pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"])
    mounts = [v.split(":")[0] for v in services["postgres"]["volumes"] if v.startswith("./")]
    init = (ROOT / "docker" / mounts[0]).read_text()
    assert f"CREATE DATABASE {ls['POSTGRE_NAME']};" in init
    # the settings the environment names exist (a typo would be silently ignored)
    from labelloop.settings import Settings

    names = {f"LABELLOOP_{n.upper()}" for n in Settings.model_fields}
    for key in {**api["environment"], **worker["environment"]}:
        if key.startswith("LABELLOOP_"):
            assert key in names, key


def test_compose_publishes_labelloop_on_the_host_loopback_and_names_valid_networks() -> None:
    api = yaml.safe_load((ROOT / "docker/compose.yml").read_text())["services"]["labelloop"]
    assert api["ports"] == ["127.0.0.1:9090:9090"]
    nets = Settings(_env_file=None, api_allowed_networks=api["environment"][
        "LABELLOOP_API_ALLOWED_NETWORKS"]).api_allowed_networks
    assert nets[:2] == ("127.0.0.0/8", "::1/128") and "0.0.0.0/0" not in nets
    assert "LABELLOOP_OPEN_API" not in api["environment"]


# --- `labelloop serve` and `labelloop healthcheck` against a real server on loopback ----------

@contextmanager
def serving(tmp_path: Path, **kw: object) -> Iterator[Settings]:
    """The app on 127.0.0.1 with the uvicorn options `labelloop serve` uses."""
    import uvicorn

    settings = make_settings(tmp_path, host="127.0.0.1", port=free_port(), **kw)
    app = create_app(settings, Overrides(start_worker=False))
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield settings
    finally:
        server.should_exit = True
        thread.join(10)


def test_healthcheck_passes_with_basic_auth_on_and_fails_when_down(tmp_path: Path) -> None:
    with serving(tmp_path, basic_auth_user="ops", basic_auth_password="s3cret") as s:
        assert check(s) == (True, f"http://127.0.0.1:{s.port}/health: UP")
        ok, seen = check(s.model_copy(update={"basic_auth_password": SecretStr("wrong")}))
        assert not ok and seen.endswith("HTTP 401")
    ok, seen = check(s)  # stopped
    assert not ok and "127.0.0.1" in seen


def test_healthcheck_ignores_proxy_environment_variables(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """An HTTP_PROXY in the container's environment (common behind a corporate proxy) must not
    get the basic-auth password, nor answer the check in the local server's stead."""
    import socket

    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(4)
    proxy.settimeout(5)
    seen: list[bytes] = []

    def answer() -> None:
        try:
            conn, _ = proxy.accept()
        except OSError:
            return
        seen.append(conn.recv(4096))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 15\r\n\r\n{\"status\":\"UP\"}")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.getsockname()[1]}")
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    try:
        with serving(tmp_path, basic_auth_user="ops", basic_auth_password="s3cret") as s:
            assert check(s) == (True, f"http://127.0.0.1:{s.port}/health: UP")
        ok, _ = check(s)  # stopped: the proxy's "UP" must not stand in for it
        assert not ok
        assert seen == []
    finally:
        proxy.close()


def test_the_dockerfile_healthcheck_command_runs_fast(tmp_path: Path) -> None:
    """Docker's --timeout=5s covers the interpreter's start: only the settings are imported."""
    env = {**os.environ, "LABELLOOP_PORT": str(free_port()), "LABELLOOP_HOST": "127.0.0.1"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "labelloop.cli.healthcheck",
                           "--timeout", "1"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1 and "Connection refused" in done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "labelloop.settings" in imported
    assert not imported & {"labelloop.llm", "labelloop.agreement", "fastapi", "sqlalchemy"}
    assert time.monotonic() - started < 30


def test_healthcheck_url_follows_the_interface_serve_listens_on(tmp_path: Path) -> None:
    for host, url in [("0.0.0.0", "http://127.0.0.1:9/health"), ("::", "http://[::1]:9/health"),
                      ("10.1.2.3", "http://10.1.2.3:9/health")]:
        assert health_url(make_settings(tmp_path, host=host, port=9)) == url


def test_serve_does_not_believe_x_forwarded_for_unless_the_proxy_is_trusted(
        tmp_path: Path) -> None:
    forwarded = {"X-Forwarded-For": "192.0.2.7"}
    with serving(tmp_path / "a") as s:  # the TCP peer (loopback) is the client
        r = httpx.get(f"http://127.0.0.1:{s.port}/api/jobs", headers=forwarded)
        assert r.status_code == 200
    with serving(tmp_path / "b", trusted_proxies="127.0.0.1") as s:  # the proxy's word counts
        r = httpx.get(f"http://127.0.0.1:{s.port}/api/jobs", headers=forwarded)
        assert r.status_code == 403 and "192.0.2.7" in r.json()["message"]
        assert httpx.get(f"http://127.0.0.1:{s.port}/api/jobs").status_code == 200
