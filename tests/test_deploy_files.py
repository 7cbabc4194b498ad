"""The deployment files are consistent (no Docker engine runs here: these are static checks)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

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
