"""The deployment files are consistent (no Docker engine runs here: these are static checks)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

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
    assert re.search(r"^USER labelloop$", text, re.M)
    assert "HEALTHCHECK" in text and "/health" in text
    for copied in re.findall(r"^COPY (\S+)", text, re.M):
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
