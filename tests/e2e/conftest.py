"""Fixtures for the end-to-end tests (mark them ``@pytest.mark.e2e``).

- ``label_studio`` (session): a real Label Studio 1.23.2 on loopback with a fresh data dir;
  ``.url``, ``.token``, ``.sdk`` (label_studio_sdk.LabelStudio), ``.gateway`` (SdkGateway),
  ``.log_path``, ``.start_seconds``. Its virtualenv is installed on first use (see
  :func:`tests.e2e.ls_harness.ensure_ls_venv`).
- ``new_project`` (function): ``new_project(n_tasks, *, title=…, texts=…) -> LsProject(id,
  task_ids)``, a fresh text-classification project (``ls_harness.TEXT_CONFIG``) in that server.
- ``labelloop_process`` (function): ``labelloop_process(env=…, data_dir=…) -> LabelloopProcess``,
  started and healthy; every one is stopped at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.e2e.ls_harness import (
    LabelloopProcess,
    LabelStudioServer,
    LsProject,
    create_text_project,
)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    server = LabelStudioServer(tmp_path_factory.mktemp("label-studio"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def new_project(
    label_studio: LabelStudioServer, request: pytest.FixtureRequest
) -> Callable[..., LsProject]:
    def make(
        n_tasks: int = 10, *, title: str | None = None, texts: list[str] | None = None
    ) -> LsProject:
        return create_text_project(
            label_studio.sdk, n_tasks, texts=texts, title=title or f"e2e {request.node.name}"[:50]
        )

    return make


@pytest.fixture
def labelloop_process(tmp_path: Path) -> Iterator[Callable[..., LabelloopProcess]]:
    started: list[LabelloopProcess] = []

    def start(
        env: dict[str, str] | None = None, *, data_dir: Path | None = None, port: int | None = None
    ) -> LabelloopProcess:
        proc = LabelloopProcess(
            data_dir or tmp_path / f"labelloop-{len(started)}", env=env, port=port
        )
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.stop()
