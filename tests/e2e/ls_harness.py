"""Real servers on loopback for the end-to-end tests: Label Studio 1.23.2 and ``labelloop serve``.

- :func:`ensure_ls_venv` installs Label Studio into its own cached virtualenv (outside the
  repository: it pins many packages) unless the ``.complete`` marker says it is there.
- :class:`LabelStudioServer` starts ``label-studio start`` on a free port with a fresh data dir and
  the environment of ``/work/shared/docs/label-studio-protocol.md`` (legacy token, loopback ML
  backends allowed, no version check, no Sentry), and stops it.
- :class:`LabelloopProcess` runs ``labelloop serve`` as a subprocess that a test can SIGKILL and
  restart on the same port and data dir.

Fixtures built on these live in ``tests/e2e/conftest.py``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from label_studio_sdk import LabelStudio

from labelloop.labelstudio.client import SdkGateway, make_gateway

LS_VERSION = "1.23.2"
REPO = Path(__file__).resolve().parents[2]
TEXT_CONFIG = (
    '<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
    '<Choice value="positive"/><Choice value="negative"/><Choice value="neutral"/>'
    "</Choices></View>"
)


def choice_result(choice: str) -> list[dict]:
    """An annotation/prediction ``result`` for :data:`TEXT_CONFIG`."""
    return [
        {
            "from_name": "sentiment",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": [choice]},
        }
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _terminate(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM the process group, then SIGKILL it after ``timeout`` s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float, what: str,
                  auth: tuple[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; log {log}:\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError, ValueError):
            r = httpx.get(f"{url}/health", timeout=2.0, auth=auth)
            if r.status_code == 200 and isinstance(r.json(), dict):
                return
        if time.monotonic() > deadline:
            _terminate(proc, 10)
            raise TimeoutError(
                f"{what} not healthy after {timeout:.0f} s; log {log}:\n{_tail(log)}"
            )
        time.sleep(0.5)


# --- Label Studio ----------------------------------------------------------------------------


def ls_venv_dir() -> Path:
    default = Path.home() / ".cache" / "labelloop" / f"ls-{LS_VERSION}"
    return Path(os.environ.get("LABELLOOP_LS_VENV") or default).expanduser()


def ensure_ls_venv(venv: Path | None = None, *, log: Path | None = None) -> Path:
    """The ``label-studio`` executable, installing it first when ``venv/.complete`` is missing
    (``python3 -m venv`` + ``pip install label-studio==1.23.2``, ~70 s). A lock file keeps two
    test sessions from installing at once; a half-done install is removed and redone."""
    venv = venv or ls_venv_dir()
    exe = venv / "bin" / "label-studio"
    marker = venv / ".complete"
    if marker.exists():
        return exe
    venv.parent.mkdir(parents=True, exist_ok=True)
    log = log or venv.parent / f"{venv.name}.install.log"
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():  # another session installed it while we waited
            return exe
        shutil.rmtree(venv, ignore_errors=True)
        python = os.environ.get("LABELLOOP_LS_PYTHON") or shutil.which("python3") or sys.executable
        with open(log, "w") as out:
            for cmd in (
                [python, "-m", "venv", str(venv)],
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    f"label-studio=={LS_VERSION}",
                ],
            ):
                out.write(f"$ {' '.join(cmd)}\n")
                out.flush()
                done = subprocess.run(
                    cmd, check=False, stdout=out, stderr=subprocess.STDOUT, timeout=1800
                )
                if done.returncode:
                    raise RuntimeError(
                        f"{cmd[:4]} failed ({done.returncode}); log {log}:\n{_tail(log)}"
                    )
        marker.touch()
    return exe


# Label Studio 1.23.2's feature flag (an environment variable of that name turns it on) for its
# prediction import that recounts only the tasks it touched, not the whole project
# (bench/bench_ls_scale.py: 1,000 predictions into a 100,000-task project 0.56 s instead of 3.4 s)
EFFICIENT_IMPORT = "fflag_fix_back_4620_memory_efficient_predictions_import_08012025_short"


@dataclass
class LabelStudioServer:
    """A Label Studio on 127.0.0.1 with a fresh data dir. ``start()`` then ``.url``, ``.token``,
    ``.sdk`` (a ``label_studio_sdk.LabelStudio``), ``.gateway`` (an :class:`SdkGateway`)."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))  # LS wants 6-40 chars
    username: str = "admin@example.com"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    startup_timeout: float = 180.0
    exe: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. Label Studio feature flags
    proc: subprocess.Popen | None = None
    start_seconds: float = 0.0
    sdk: LabelStudio = field(init=False)
    gateway: SdkGateway = field(init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "label-studio.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "DJANGO"))}
        env.update(
            LABEL_STUDIO_BASE_DATA_DIR=str(self.data_dir / "data"),
            LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
            LABEL_STUDIO_USERNAME=self.username,
            LABEL_STUDIO_PASSWORD=self.password,
            LABEL_STUDIO_USER_TOKEN=self.token,
            LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",  # read only when the org is created
            ML_BLOCK_LOCAL_IP="false",
            SSRF_PROTECTION_ENABLED="false",  # else POST /api/ml/ refuses loopback backends
            LATEST_VERSION_CHECK="false",  # else a 10 s call to the package index per start
            SENTRY_DSN="",
            # its pages would otherwise ask sentry.io and Google Tag Manager from any browser
            # pointed at it (the dashboard and screenshot scripts drive one): loopback only
            FRONTEND_SENTRY_DSN="",
            COLLECT_ANALYTICS="false",
            LABEL_STUDIO_HOST=self.url,
        )
        env.update(self.extra_env)
        return env

    def start(self) -> LabelStudioServer:
        exe = self.exe or ensure_ls_venv()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(exe),
                    "start",
                    "--no-browser",
                    "--internal-host",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                ],
                env=self.env(),
                cwd=self.data_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _wait_healthy(self.url, self.proc, self.log_path, self.startup_timeout, "Label Studio")
        self.start_seconds = time.monotonic() - t0
        self.sdk = LabelStudio(base_url=self.url, api_key=self.token, timeout=60)
        self.gateway = make_gateway(self.url, self.token, timeout=60.0)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is not None:
            _terminate(self.proc, timeout)


@dataclass(frozen=True)
class LsProject:
    id: int
    task_ids: list[int]


def create_text_project(
    sdk: LabelStudio, n_tasks: int, *, title: str = "labelloop e2e", texts: list[str] | None = None
) -> LsProject:
    """A project with :data:`TEXT_CONFIG` and ``n_tasks`` tasks ``{"text": …}``, ids in order."""
    texts = texts if texts is not None else [f"text number {i}" for i in range(n_tasks)]
    project = sdk.projects.create(title=title, label_config=TEXT_CONFIG)
    ids: list[int] = []
    for i in range(0, len(texts), 5000):
        answer = sdk.projects.import_tasks(
            id=project.id,
            request=[{"data": {"text": t}} for t in texts[i : i + 5000]],
            return_task_ids=True,
        )
        ids.extend(answer.task_ids or [])
    assert len(ids) == len(texts), f"imported {len(ids)} of {len(texts)} tasks"
    return LsProject(project.id, sorted(ids))


# --- labelloop serve -------------------------------------------------------------------------


class LabelloopProcess:
    """``labelloop serve --host 127.0.0.1 --port P --data-dir D`` as a subprocess.

    The environment is the caller's minus ``LABELLOOP_*``, ``LABEL_STUDIO_*`` and ``OPENAI_*``
    (tests must not depend on it), plus ``env``. ``kill9()`` SIGKILLs it; ``restart()`` starts it
    again on the same port and data dir; the output of every run goes to ``log_path``.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
        exe: Path | None = None,
        startup_timeout: float = 90.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.exe = exe or REPO / ".venv" / "bin" / "labelloop"
        self.startup_timeout = startup_timeout
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-labelloop.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LABELLOOP_", "LABEL_STUDIO_", "OPENAI_"))
        }
        env.update(self.extra_env)
        return env

    def start(self) -> LabelloopProcess:
        if self.running:
            raise RuntimeError(f"labelloop already running (pid {self.proc.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')} port {self.port}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [
                    str(self.exe),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        user = self.extra_env.get("LABELLOOP_BASIC_AUTH_USER")
        auth = (user, self.extra_env.get("LABELLOOP_BASIC_AUTH_PASSWORD", "")) if user else None
        _wait_healthy(self.url, self.proc, self.log_path, self.startup_timeout, "labelloop",
                      auth)
        return self

    def kill9(self) -> None:
        """SIGKILL the whole process group (a crash: no shutdown handlers run)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful), SIGKILL after ``timeout`` s; returns the exit code."""
        if self.proc is None:
            return None
        _terminate(self.proc, timeout)
        return self.proc.returncode

    def restart(self) -> LabelloopProcess:
        self.stop()
        return self.start()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
